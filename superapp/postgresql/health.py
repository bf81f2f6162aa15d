"""Is an idle PostgreSQL connection still usable? Answered without a round trip (no Django imports: the settings
module names `pooled_connection_check` when the connection pool is on)."""

from __future__ import annotations

import select

import psycopg
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
    """psycopg_pool's `check` for a connection it is about to hand out (settings: `DB_POOL_SIZE`): the same poll as
    `idle_socket_is_quiet`, so a connection the server ended while it sat in the pool (a PostgreSQL restart) is
    closed, which makes the pool drop it and open another, and the request gets a working one: no `SELECT 1` per
    request. Raising is how the pool's check says no."""
    if not idle_socket_is_quiet(connection):
        connection.close()
        raise psycopg.OperationalError("pooled connection no longer usable (closed by the server)")
