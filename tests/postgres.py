"""Helpers for tests that talk to PostgreSQL itself."""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.db import connection


def backend_terminate(pid: int) -> None:
    """End a PostgreSQL backend from another connection, as a restart does; returns once it has exited."""
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k in ("host", "port", "user", "password")},
                         dbname=settings.DATABASES["default"]["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])  # waits (up to 5 s) until the backend exits
