"""Django's PostgreSQL backend with a health check that costs no round trip.

Django's `CONN_HEALTH_CHECKS` sends `SELECT 1` before the first query of every request that reuses a
connection: one of the eleven network round trips of a wallet payment (docs/payments.md). A connection idle
between requests has nothing to read, so instead the socket is polled without waiting: when PostgreSQL has
restarted or ended the session, the server's goodbye (an error message, then EOF) is waiting on it, and only
then does Django's own `SELECT 1` check decide. With `DB_POOL_SIZE`, Django's pool checks the
connections it hands out with the same poll. Everything else is Django's backend unchanged
(`settings.DATABASES["default"]["ENGINE"] = "superapp.postgresql"`).
"""

from __future__ import annotations

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq


def idle_socket_is_quiet(connection) -> bool:
    """True when a psycopg connection that is idle (no transaction open) has nothing waiting on its socket:
    it is usable as far as can be known without a round trip. False when it is closed, broken, inside a
    transaction, or the server has sent something (a shutdown notice, EOF) since the last exchange."""
    if connection is None or connection.closed or connection.broken:
        return False
    if connection.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        poller = select.poll()  # not select.select: it refuses descriptors above 1023
        poller.register(connection.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):
        return False


def pooled_connection_check(connection) -> None:
    """psycopg_pool's `check` for a connection it is about to hand out (settings `DB_POOL_SIZE`,
    `DatabaseWrapper.pool`): the same poll as `idle_socket_is_quiet`, so a connection the server ended while it
    sat in the pool (a PostgreSQL restart) is closed, which makes the pool drop it and open another, and the
    request gets a working one: no `SELECT 1` per request. Raising is how the pool's check says no."""
    if not idle_socket_is_quiet(connection):
        connection.close()
        raise psycopg.OperationalError("pooled connection no longer usable (closed by the server)")


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
