"""A retrain's side work runs at the idle CPU priority, and at the normal one once the retrain waits for it."""

import os
import threading

import pytest

from recommender.background import IdleWorker, idle_worker

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies only")


def test_the_side_work_runs_at_the_idle_priority_and_at_the_normal_one_once_the_caller_waits(monkeypatch):
    with idle_worker("test-side") as worker:
        assert worker.submit(os.sched_getscheduler, 0).result() == os.SCHED_IDLE
        released = threading.Event()

        def hurry() -> None:  # the work may go on once the worker has been hurried
            IdleWorker.hurry(worker)
            released.set()

        monkeypatch.setattr(worker, "hurry", hurry)
        policy = worker.submit(lambda: released.wait() and os.sched_getscheduler(0))
        # Raising a priority needs the right to (root); without it the work stays at the idle policy.
        assert worker.result(policy) == (os.SCHED_OTHER if os.geteuid() == 0 else os.SCHED_IDLE)


def test_the_side_works_error_reaches_the_caller_and_the_block_waits_for_it():
    done = []
    with idle_worker("test-side") as worker:
        failing = worker.submit(lambda: 1 / 0)
        worker.submit(done.append, "later")
    assert done == ["later"]
    with pytest.raises(ZeroDivisionError):
        worker.result(failing)
