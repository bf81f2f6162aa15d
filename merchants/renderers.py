"""orjson for the hot read endpoints: the nearby list renders several times faster than with DRF's encoder."""

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder()


class ORJSONRenderer(JSONRenderer):
    """Same media type and compact UTF-8 output as DRF's `JSONRenderer`; types orjson does not know (Decimal,
    lazy translation strings, ...) go through DRF's encoder."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data, default=_fallback.default)
