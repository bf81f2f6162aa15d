"""Django's PostgreSQL backend with a health check that costs no round trip.

Django's `CONN_HEALTH_CHECKS` sends `SELECT 1` before the first query of every request that reuses a
connection: one of the eleven network round trips of a wallet payment (docs/payments.md). A connection idle
between requests has nothing to read, so instead the socket is polled without waiting: when PostgreSQL has
restarted or ended the session, the server's goodbye (an error message, then EOF) is waiting on it, and only
then does Django's own `SELECT 1` check decide. Everything else is Django's backend unchanged
(`settings.DATABASES["default"]["ENGINE"] = "superapp.postgresql"`).
"""

from __future__ import annotations

from django.db.backends.postgresql import base

from superapp.postgresql.health import idle_socket_is_quiet, pooled_connection_check


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        """Django's pool (settings `DB_POOL_SIZE`), checking each connection it hands out with the same poll
        (`pooled_connection_check`). Django passes the pool's `check` itself (a `SELECT`-like round trip, or
        none), so it is set on the pool Django built, before the pool is opened (it opens on first use)."""
        building = self.alias not in self._connection_pools
        pool = super().pool
        if building and pool is not None:
            pool._check = pooled_connection_check  # noqa: SLF001 - psycopg_pool keeps its `check` here
        return pool

    def close_if_health_check_failed(self) -> None:
        if (self.connection is not None and self.health_check_enabled and not self.health_check_done
                and not self.pool and idle_socket_is_quiet(self.connection)):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()  # Django's SELECT 1: decides whenever the poll is not conclusive
