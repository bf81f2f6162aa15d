from tests.city_fixtures import _fast_passwords, _fresh_geo_index, _reference_cities, pytest_runtest_teardown

__all__ = ["_fast_passwords", "_fresh_geo_index", "_reference_cities", "pytest_runtest_teardown"]
