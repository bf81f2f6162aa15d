"""Enqueue Celery tasks after commit without making the request depend on the broker (Redis).

Money never needs Redis to answer: a task published after a payment, refund or claim decision is either
rebuildable (a user's recommendation vector) or picked up again by a periodic sweep (an approved VAT claim
left unpaid, see `payments.tasks.wallet_sweep`). So when the broker is down the publish is dropped with a
warning instead of failing a request whose transaction already committed, and for `BREAKER_OPEN_S` seconds
afterwards publishes are skipped outright, so requests do not each wait for a connection timeout.

Hints sent after many requests (refresh this user's recommendations) go through `publish_batched_on_commit`:
after commit the item joins a per-process batch and a background thread publishes ONE message
`task([items...])` per `BATCH_WINDOW_S` (or the task's own window: hints nobody waits on can wait longer and
come in fewer, larger batches). A Celery publish costs about a millisecond of CPU in the request
(kombu builds a Redis client and the message each time), a tenth of a wallet payment's; batched, the request
only appends to a set. A crash loses at most one window of hints, like a dropped publish (rebuildable).
"""

from __future__ import annotations

import atexit
import logging
import os
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


BATCH_WINDOW_S = 0.2


class _Batches:
    """Items waiting for their task's next message, and the thread that sends them (one per process). Each
    task's batch is due one window after its first item arrived (its own window, else `BATCH_WINDOW_S`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, tuple[Any, dict, float]] = {}  # task name -> (task, items in arrival order, due)
        self.wake = threading.Event()
        self.pid = 0

    def add(self, task: Any, item: Any, window_s: float | None = None) -> None:
        with self.lock:
            if self.pid != os.getpid():  # first use in this process (or a forked child): own thread
                self.pid, self.pending = os.getpid(), {}
                threading.Thread(target=self._run, name="publish-batches", daemon=True).start()
            batch = self.pending.get(task.name)
            if batch is None:
                window = BATCH_WINDOW_S if window_s is None else window_s
                batch = self.pending[task.name] = (task, {}, time.monotonic() + window)
            batch[1][item] = None
        self.wake.set()

    def flush(self, *, due_by: float | None = None) -> None:
        """Send every batch (`due_by` None) or those due by then."""
        with self.lock:
            if due_by is None:
                batches, self.pending = self.pending, {}
            else:
                batches = {name: b for name, b in self.pending.items() if b[2] <= due_by}
                for name in batches:
                    del self.pending[name]
        for task, items, _due in batches.values():
            publish(task, list(items))

    def _next_due(self) -> float | None:
        with self.lock:
            return min((batch[2] for batch in self.pending.values()), default=None)

    def _run(self) -> None:
        while True:
            due = self._next_due()
            if due is None or due > time.monotonic():
                # Let the window fill: one message for everything that comes meanwhile. A new batch wakes the
                # thread to look again (it may be due sooner than the one waited for).
                self.wake.wait(timeout=None if due is None else due - time.monotonic())
                self.wake.clear()
                continue
            try:
                self.flush(due_by=time.monotonic())
            except Exception:  # noqa: BLE001 - the sender thread must survive anything a publish raises
                logger.exception("batched publish failed")


_batches = _Batches()
atexit.register(_batches.flush)  # a worker that stops cleanly sends what it holds


def publish_batched(task: Any, item: Any, *, window_s: float | None = None) -> None:
    """Send `item` with the next batch of `task` (a task taking a list), at most `window_s` (default
    `BATCH_WINDOW_S`) after the batch's first item. In-process (eager) Celery runs `task([item])` at once."""
    if task.app.conf.task_always_eager:
        publish(task, [item])
        return
    _batches.add(task, item, window_s)


def publish_batches_flush() -> None:
    """Send what is waiting now (tests; the sender thread and process exit do it otherwise)."""
    _batches.flush()


def publish_batched_on_commit(task: Any, item: Any, *, window_s: float | None = None) -> None:
    """`publish_batched` after the current transaction commits (never for rolled-back work)."""
    transaction.on_commit(lambda: publish_batched(task, item, window_s=window_s))
