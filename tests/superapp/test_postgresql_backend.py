"""superapp.postgresql: Django's PostgreSQL backend with prepared statements and a health check without a
round trip (docs/payments.md, Benchmark)."""

from __future__ import annotations

import select

import pytest
from django.conf import settings
from django.db import connection

from tests.postgres import backend_terminate

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    """End this connection's backend, as a PostgreSQL restart does, and wait until the server's goodbye has
    reached the socket."""
    backend_terminate(pid)
    select.select([connection.connection.pgconn.socket], [], [], 5)


def test_the_engine_prepares_statements():
    assert settings.DATABASES["default"]["ENGINE"] == "superapp.postgresql"
    connection.ensure_connection()
    assert connection.connection.prepare_threshold == int(settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"])
    for _ in range(connection.connection.prepare_threshold + 1):
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::int + 1", [1])
            assert cursor.fetchone() == (2,)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int + 1%%'")
        assert cursor.fetchone()[0] == 1


def test_a_healthy_idle_connection_is_kept_without_a_query(monkeypatch):
    pid = _backend_pid()
    select_one = []  # Django's check runs SELECT 1 on the raw connection, through is_usable()
    monkeypatch.setattr(connection, "is_usable", lambda: select_one.append(1) or True)
    connection.health_check_enabled, connection.health_check_done = True, False
    connection.close_if_health_check_failed()
    assert select_one == []
    assert connection.connection is not None and connection.health_check_done
    assert _backend_pid() == pid


def test_a_connection_the_server_ended_is_replaced_before_the_first_query():
    """A PostgreSQL restart (here: the backend terminated) is found by the health check, so the request's
    first query runs on a new connection instead of failing."""
    pid = _backend_pid()
    _terminate(pid)
    connection.health_check_enabled, connection.health_check_done = True, False
    connection.close_if_health_check_failed()
    assert connection.connection is None  # closed: the first query opens a new one
    assert _backend_pid() != pid


def test_the_quiet_socket_check_is_false_inside_a_transaction_and_after_termination():
    from django.db import transaction

    from superapp.postgresql.base import idle_socket_is_quiet

    pid = _backend_pid()
    assert idle_socket_is_quiet(connection.connection)
    with transaction.atomic():
        _backend_pid()
        assert not idle_socket_is_quiet(connection.connection)
    _terminate(pid)
    assert not idle_socket_is_quiet(connection.connection)
    connection.close()
