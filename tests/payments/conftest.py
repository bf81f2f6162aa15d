import contextlib
import importlib

import pytest
from django.apps import apps


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction"))


def _load_cities() -> None:
    importlib.import_module("services.migrations.0002_seed_cities").load(apps, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After a transactional test's flush, restore the reference cities for whatever test runs next
    (other apps' transactional tests rely on the migration-loaded rows too)."""
    yield
    # nextitem is None at the end of the session, when the test database is already gone.
    if nextitem is not None and _is_transactional(item):
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
            _load_cities()


@pytest.fixture(autouse=True)
def _reference_cities(request):
    """Transactional tests flush the database, including the cities a data migration loaded; put
    them back so tests that run after another transactional test still find them."""
    if _is_transactional(request.node):
        request.getfixturevalue("transactional_db")
        _load_cities()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Argon2 costs ~50 ms a user; the concurrency tests create hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# The PostgreSQL server is shared (max_connections=100): threads hold a connection only while they
# work, at most this many at a time. All threads are still released together and race for the rows.
DB_GATE_SIZE = 24


@pytest.fixture
def db_gate():
    import threading

    from django.db import connection

    gate = threading.BoundedSemaphore(DB_GATE_SIZE)

    class Gate:
        @staticmethod
        def wrap(fn):
            def run(i):
                with gate:
                    try:
                        return fn(i)
                    finally:
                        connection.close()
            return run

        @staticmethod
        @contextlib.contextmanager
        def slot():
            with gate:
                try:
                    yield
                finally:
                    connection.close()

    return Gate()
