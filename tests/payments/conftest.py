import contextlib

import pytest


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
