"""`superapp.publish`'s batched publishes: one message per task and window, each task in its own window."""

import threading
import time
from types import SimpleNamespace
from unittest import mock

from superapp import publish


def _task(name: str):
    return SimpleNamespace(name=name, app=SimpleNamespace(conf=SimpleNamespace(task_always_eager=False)))


def test_each_task_is_sent_one_window_after_its_first_item():
    sent: list[tuple[str, list, float]] = []
    done = threading.Event()

    def record(task, items):
        sent.append((task.name, items, time.monotonic()))
        if len(sent) == 2:
            done.set()
        return True

    quick, slow = _task("quick"), _task("slow")
    with mock.patch.object(publish, "publish", side_effect=record), \
            mock.patch.object(publish, "_batches", publish._Batches()):
        started = time.monotonic()
        publish.publish_batched(slow, 1, window_s=0.6)
        publish.publish_batched(quick, "a", window_s=0.05)
        publish.publish_batched(slow, 2, window_s=0.6)  # joins the open batch; its window does not restart
        publish.publish_batched(quick, "b", window_s=0.05)
        publish.publish_batched(slow, 1, window_s=0.6)  # each item once, in arrival order
        assert done.wait(5)
    (first, first_items, first_at), (second, second_items, second_at) = sent
    # The quick batch did not wait for the slow one the thread was already waiting on.
    assert (first, first_items) == ("quick", ["a", "b"]) and first_at - started < 0.5
    assert (second, second_items) == ("slow", [1, 2]) and second_at - started >= 0.6


def test_without_a_window_of_its_own_a_task_uses_the_default():
    sent = []
    done = threading.Event()
    with mock.patch.object(publish, "publish", side_effect=lambda task, items: sent.append(items) or done.set()), \
            mock.patch.object(publish, "_batches", publish._Batches()), \
            mock.patch.object(publish, "BATCH_WINDOW_S", 0.05):
        publish.publish_batched(_task("t"), 7)
        assert done.wait(5)
    assert sent == [[7]]
