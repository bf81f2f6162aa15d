"""Fixtures shared by the tests of the areas that read the reference cities (merchants, bookings, city services,
appointments, traffic). Each area's `conftest.py` imports what it uses from here, so there is one copy.

The reference cities come from a data migration (`merchants/migrations/0002_seed_cities.py`); a transactional
test's flush removes them, so they are put back before a transactional test and after one for the next test."""

import importlib

import pytest
from django.apps import apps


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction"))


def load_reference_cities() -> None:
    importlib.import_module("merchants.migrations.0002_seed_cities").load(apps, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A transactional test's flush removes the reference cities a data migration loaded; put them back for
    whatever test runs next."""
    yield
    if _is_transactional(item) and nextitem is not None:  # after the last test the database is gone
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
            load_reference_cities()


@pytest.fixture(autouse=True)
def _reference_cities(request):
    if _is_transactional(request.node):
        request.getfixturevalue("transactional_db")
        load_reference_cities()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """These tests create many users; Argon2 is deliberately slow and not what they test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_geo_index(settings):
    """Check the nearby index's version on every call, so a test sees the rows it just wrote."""
    settings.SERVICES_GEO_INDEX_CHECK_S = 0.0
