"""The one per-process cache helper: build once, follow a version, expire, stay bounded, reset for tests."""

from __future__ import annotations

import threading
import time

import pytest

from superapp import process_cache
from superapp.process_cache import ProcessCache, ProcessCacheMap


def test_a_value_is_built_once_however_many_threads_ask():
    builds = []
    release = threading.Event()

    def build(_version):
        builds.append(1)
        release.wait(2)
        return object()

    cache = ProcessCache("test.once", build)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get())) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    release.set()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len({id(v) for v in got}) == 1


def test_the_version_is_looked_at_every_check_interval_and_a_new_one_rebuilds():
    state = {"version": 1, "asked": 0}

    def version():
        state["asked"] += 1
        return state["version"]

    interval = {"s": 3600.0}
    cache = ProcessCache("test.version", lambda v: ("built for", v), version=version,
                         check_every_s=lambda: interval["s"])
    assert cache.get() == ("built for", 1)
    state["version"] = 2
    assert cache.get() == ("built for", 1) and state["asked"] == 1  # within the interval: not even asked
    interval["s"] = 0.0  # a duration read on every check (an app setting)
    assert cache.get() == ("built for", 2) and cache.peek_version() == 2
    # a version the caller read itself
    assert cache.get(version=7) == ("built for", 7)


def test_a_value_expires_after_its_maximum_age_unless_keep_says_it_is_still_right():
    builds, still_right = [], {"yes": True}
    cache = ProcessCache("test.age", lambda _v: builds.append(1) or len(builds), max_age_s=0.0,
                         keep=lambda _value: still_right["yes"])
    assert cache.get() == 1
    assert cache.get() == 1 and len(builds) == 1  # expired, but kept
    still_right["yes"] = False
    assert cache.get() == 2


def test_a_failed_build_keeps_the_previous_value():
    versions = iter([1, 2])

    def build(version):
        if version == 2:
            raise OSError("artifact gone")
        return "v1"

    cache = ProcessCache("test.failure", build, version=lambda: next(versions))
    assert cache.get() == "v1"
    with pytest.raises(OSError):
        cache.get()
    assert cache.peek() == "v1"


def test_a_map_expires_entries_and_starts_over_when_full():
    ages = {"s": None}
    cache = ProcessCacheMap("test.map", max_entries=3, max_age_s=lambda: ages["s"])
    for key in range(3):
        assert cache.get(key, lambda key=key: key * 10) == key * 10
    assert cache.lookup(1) == 10 and len(cache) == 3
    cache.put(99, None)  # full: starts over
    assert len(cache) == 1 and cache.lookup(99, "missing") is None and cache.lookup(1) is None
    ages["s"] = 0.0
    assert cache.lookup(99, "expired") == "expired"
    assert cache.get(99, lambda: "rebuilt") == "rebuilt"
    ages["s"] = None
    cache.put(7, None)  # None is a value ("no road network"), remembered like any other
    assert cache.get(7, lambda: "built") is None
    cache.discard(7)
    assert cache.get(7, lambda: "built") == "built" and cache.lookup(99) == "rebuilt"  # only 7 forgotten


def test_reset_all_empties_every_cache():
    one = ProcessCache("test.reset", lambda _v: "value")
    many = ProcessCacheMap("test.reset-map", max_entries=10)
    one.get()
    many.put("k", "v")
    process_cache.reset_all()
    assert one.peek() is None and many.lookup("k") is None
