"""Settings of the merchants area, read from django.conf.settings with defaults and env overrides (names keep the
`SERVICES_` prefix of the package the area came from)."""

import os

from django.conf import settings


def _int(name: str, default: int) -> int:
    return int(getattr(settings, name, os.environ.get(name, default)))


# Nearby search: the largest radius a client may ask for, and the largest page.
NEARBY_MAX_RADIUS_M = _int("SERVICES_NEARBY_MAX_RADIUS_M", 50_000)

NEARBY_MAX_LIMIT = _int("SERVICES_NEARBY_MAX_LIMIT", 100)

# Nearby index (services.geo_index): how often a process checks for changes, and its maximum age.
GEO_INDEX_CHECK_S = float(getattr(settings, "SERVICES_GEO_INDEX_CHECK_S",
                                  os.environ.get("SERVICES_GEO_INDEX_CHECK_S", 2)))

GEO_INDEX_MAX_AGE_S = float(getattr(settings, "SERVICES_GEO_INDEX_MAX_AGE_S",
                                    os.environ.get("SERVICES_GEO_INDEX_MAX_AGE_S", 300)))
