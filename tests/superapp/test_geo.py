"""The one haversine: the scalar and the vectorised form agree on generated points, with one Earth radius."""

import math

import numpy as np
import pytest

from superapp import geo


def _points(rng, n):
    lat = rng.uniform(-90, 90, n)
    lon = rng.uniform(-180, 180, n)
    return lat, lon


@pytest.mark.parametrize("seed", range(5))
def test_scalar_and_vectorised_forms_agree_on_generated_points(seed):
    rng = np.random.default_rng(seed)
    lats, lons = _points(rng, 400)
    # far apart, close by (a few metres to a few km: the nearby search's scale), across the antimeridian, antipodes
    for lat, lon in [*zip(*_points(rng, 5), strict=True), (lats[0], 179.9999), (0.0, 0.0)]:
        near_lats = np.clip(lat + rng.normal(0, 0.01, 100), -90, 90)
        near_lons = (lon + rng.normal(0, 0.01, 100) + 180) % 360 - 180
        targets_lat = np.concatenate([lats, near_lats, [-lat]])
        targets_lon = np.concatenate([lons, near_lons, [lon - 180 if lon > 0 else lon + 180]])
        vectorised = geo.haversine_many_m(lat, lon, targets_lat, targets_lon)
        scalar = np.array([geo.haversine_m(lat, lon, a, b) for a, b in zip(targets_lat, targets_lon, strict=True)])
        np.testing.assert_allclose(vectorised, scalar, rtol=1e-12, atol=1e-6)


def test_known_distances_and_the_radius():
    assert geo.EARTH_RADIUS_M == 6_371_008.8
    assert geo.haversine_m(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343_560, rel=0.002)  # Paris-London
    assert geo.haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * geo.EARTH_RADIUS_M)  # half the equator
    assert geo.haversine_m(10, 20, 10, 20) == 0.0
