"""A retrain's side work on a thread of its own at the idle CPU priority, so that it uses a core the retrain
leaves free instead of taking one from it.

The fit keeps both cores busy most of the time but not all of it: implicit's ALS computes each half-step's Gram
matrix on one thread (the BLAS is limited to one under its threads), and the fit starts with single-threaded
conversions (10M events at 128 factors: 1.91 cores used on average over the fit, ~4 s of a free core in a 47 s
fit). Work that does not need the fitted model (the serving matrix, the test pairs, the popularity baseline's
evaluation: ~0.35 s of CPU at 10M events) runs in that time at Linux's `SCHED_IDLE` policy: it gets a core only when
no other thread wants one, so it does not slow the fit down and is done when the retrain needs its result.

Keep it to short CPU work. While such a thread waits for a core it may hold the GIL, which the fit's own thread
needs between half-steps; a long job there (the extract snapshot's write, ~0.7 s of CPU through the page cache)
slowed the fit by more than its own cost on the project's VM, so the snapshot is written at the normal priority
(`recommender.extract_snapshot.snapshot_written_in_background`).

When the retrain waits for a result, the worker goes back to the normal policy (`IdleWorker.result`): the retrain
has nothing else to do then, and on a machine whose cores other processes keep busy an idle-priority thread
would hardly run. Going back needs the right to raise a priority (root, `CAP_SYS_NICE` or an `RLIMIT_NICE` that
allows it); without it the worker stays at the idle policy. Where `SCHED_IDLE` does not exist (not Linux) the
worker runs at the normal policy throughout.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


def _set_policy(thread_id: int, policy_name: str) -> bool:
    """Set a thread's scheduling policy by its native id (Linux applies `sched_setscheduler` to one thread)."""
    policy = getattr(os, policy_name, None)
    if policy is None or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(thread_id, policy, os.sched_param(0))
    except OSError:  # not allowed (raising a priority without the right to) or the thread is gone
        return False
    return True


class IdleWorker:
    """One thread that runs submitted calls in order at the idle CPU priority (see the module's docstring)."""

    def __init__(self, name: str) -> None:
        self._thread_id: int | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=self._started)

    def _started(self) -> None:
        self._thread_id = threading.get_native_id()
        _set_policy(self._thread_id, "SCHED_IDLE")

    def submit(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        return self._pool.submit(function, *args, **kwargs)

    def hurry(self) -> None:
        """Back to the normal policy: the caller waits for this worker now."""
        if self._thread_id is not None:
            _set_policy(self._thread_id, "SCHED_OTHER")

    def result(self, future: Future[T]) -> T:
        """`future`'s result (or its error), the worker at the normal policy while the caller waits."""
        if not future.done():
            self.hurry()
        return future.result()

    def shutdown(self) -> None:
        """Wait for every submitted call (at the normal policy) and end the thread."""
        self.hurry()
        self._pool.shutdown(wait=True)


@contextmanager
def idle_worker(name: str) -> Iterator[IdleWorker]:
    """An `IdleWorker` for the block; leaving it waits for the calls submitted (their errors are the futures')."""
    worker = IdleWorker(name)
    try:
        yield worker
    finally:
        worker.shutdown()
