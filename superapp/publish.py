"""Enqueue Celery tasks after commit without making the request depend on the broker (Redis).

Money never needs Redis to answer: a task published after a payment, refund or claim decision is either
rebuildable (a user's recommendation vector) or picked up again by a periodic sweep (an approved VAT claim
left unpaid, see `payments.tasks.wallet_sweep`). So when the broker is down the publish is dropped with a
warning instead of failing a request whose transaction already committed, and for `BREAKER_OPEN_S` seconds
afterwards publishes are skipped outright, so requests do not each wait for a connection timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

BREAKER_OPEN_S = 5.0
_state = {"open_until": 0.0}
_lock = threading.Lock()


def publish(task: Any, *args: Any) -> bool:
    """`task.apply_async(args)` once, no publish retries; False (logged) if the broker is unavailable."""
    if task.app.conf.task_always_eager:  # in-process (tests, embedded default): no broker, errors propagate
        task.apply_async(args=args)
        return True
    if time.monotonic() < _state["open_until"]:
        logger.warning("broker unavailable: %s(%s) dropped", task.name, args)
        return False
    try:
        task.apply_async(args=args, retry=False)
    except Exception:  # noqa: BLE001 - any broker failure degrades to "dropped", never to an error response
        with _lock:
            _state["open_until"] = time.monotonic() + BREAKER_OPEN_S
        logger.warning("broker unavailable: %s(%s) dropped", task.name, args, exc_info=True)
        return False
    return True


def publish_on_commit(task: Any, *args: Any) -> None:
    """Publish after the current transaction commits (never for rolled-back work), degrading as above."""
    transaction.on_commit(lambda: publish(task, *args))


def breaker_reset() -> None:
    _state["open_until"] = 0.0
