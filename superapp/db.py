"""Database faults as the API sees them: transient conflicts are retried, an unreachable database is a 503.

- `run_in_transaction(fn)`: run `fn` inside `transaction.atomic()`, retrying the WHOLE transaction a bounded
  number of times (with jittered backoff) when PostgreSQL aborts it with a deadlock (40P01) or a
  serialization failure (40001). Only the outermost transaction can be retried (inside an enclosing atomic
  block the caller's work is already lost), so nested calls run once and let the error reach the outer retry.
- `database_unavailable(exc)`: is this error "the database cannot answer now" (connection refused or dropped,
  server restarting, conflict retries exhausted)? The API maps it to 503 + `Retry-After`
  (`superapp.api.database_unavailable_response`), never to a 500. Django closes the broken connection at
  the end of the request and the next request opens a new one (`CONN_HEALTH_CHECKS`), so the process
  recovers without a restart.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")

# SQLSTATEs after which re-running the whole transaction is correct: it was rolled back entirely.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
RETRY_ATTEMPTS = 5
RETRY_BASE_S = 0.01
RETRY_AFTER_S = 1
RECONNECT_PAUSE_S = 0.25
IDEMPOTENT_RECONNECT_S = 3.0  # how long an @idempotent request waits for a restarting database


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (psycopg's `sqlstate`, or the wrapped cause's), if any."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        code = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if code:
            return str(code)
        seen = seen.__cause__
    return None


def is_retryable_conflict(exc: BaseException) -> bool:
    return isinstance(exc, DatabaseError) and sqlstate(exc) in RETRYABLE_SQLSTATES


def database_unavailable(exc: BaseException) -> bool:
    """Connection-level failures and exhausted conflict retries: transient, the client may retry.
    Integrity and programming errors are bugs and stay 500s."""
    return isinstance(exc, (OperationalError, InterfaceError))


def run_in_transaction(fn: Callable[[], T], *, attempts: int = RETRY_ATTEMPTS, reconnect_s: float = 0.0) -> T:
    """`fn()` in one atomic block, re-run on deadlock/serialization failure (at most `attempts` times).

    With `reconnect_s`, a lost or refused connection is also retried on a fresh connection for up to that
    many seconds (a PostgreSQL restart takes about one). Only for work that is safe to re-run after an
    unknown outcome: the `@idempotent` views claim their key in the same transaction, so if the lost
    transaction did commit, the re-run finds the key and replays its stored outcome."""
    if connection.in_atomic_block:
        with transaction.atomic():
            return fn()
    deadline = time.monotonic() + reconnect_s
    conflicts = 0
    while True:
        try:
            with transaction.atomic():
                return fn()
        except DatabaseError as exc:
            if is_retryable_conflict(exc):
                conflicts += 1
                if conflicts >= attempts:
                    raise
                delay = RETRY_BASE_S * (2 ** (conflicts - 1)) * (0.5 + random.random())  # noqa: S311 - jitter
                logger.warning("transaction conflict (%s), retry %d/%d in %.0f ms", sqlstate(exc), conflicts,
                               attempts - 1, delay * 1000)
            elif database_unavailable(exc) and time.monotonic() < deadline:
                connection.close()  # the next attempt opens a new connection
                delay = RECONNECT_PAUSE_S * (0.5 + random.random())  # noqa: S311 - jitter
                logger.warning("database connection lost (%s), retrying in %.0f ms", exc, delay * 1000)
            else:
                raise
            time.sleep(delay)


def retry_on_conflict(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of `run_in_transaction` for service functions that own their transaction."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        return run_in_transaction(lambda: fn(*args, **kwargs))

    return wrapper
