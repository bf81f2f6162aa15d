"""Validate a test-client response against the served OpenAPI schema.

The same check the CI gate's schemathesis step runs (`response_schema_conformance`), so a serializer that
promises more than it delivers (a "uri" that can be "", an object that can be null) fails a cheap unit test
instead of a six-minute fuzzing run.
"""

from __future__ import annotations

import functools
import json

import requests
import schemathesis
from schemathesis.core.transport import Response


@functools.cache
def openapi_schema():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    return schemathesis.openapi.from_dict(document)


def assert_conforms(response, method: str, path: str) -> dict:
    """`path` is the schema's template, e.g. "/api/v1/posts/{post_id}". Returns the decoded body."""
    request = response.wsgi_request
    prepared = requests.Request(method.upper(), request.build_absolute_uri()).prepare()
    wrapped = Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=prepared,
        elapsed=0.0,
        verify=False,
    )
    openapi_schema()[path][method.upper()].validate_response(wrapped)
    return response.json() if response.content else {}
