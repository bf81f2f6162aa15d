"""Settings of the merchants area (`SERVICES_*`: the names keep the prefix of the package the area came from),
defined in `superapp/settings.py` and read when used (`superapp.conf`): `conf.NEARBY_MAX_LIMIT`."""

from superapp.conf import settings_reader

__getattr__ = settings_reader(__name__, "SERVICES_", {
    # Nearby search: the largest radius a client may ask for, and the largest page.
    "NEARBY_MAX_RADIUS_M": int,
    "NEARBY_MAX_LIMIT": int,
    # Nearby index (merchants.geo_index): how often a process checks for changes, and its maximum age.
    "GEO_INDEX_CHECK_S": float,
    "GEO_INDEX_MAX_AGE_S": float,
})
