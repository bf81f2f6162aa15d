"""Per-process caches: the one helper for every copy a process keeps of data it reads on every request.

Two shapes cover them all:

- `ProcessCache`: one value (the nearby index, the active model, the recommender's catalogue, content
  index and popularity table). Built on first use under a lock, so however many threads ask at once it
  is built once. A read looks at the value's `version()` at most every `check_every_s` (0: on every
  read) and rebuilds when the version moved or the value is older than `max_age_s`; `keep(value)` may
  say an expired value is still right (a fingerprint matched) and save the rebuild.
- `ProcessCacheMap`: a value per key (ledger accounts, road graphs, traveller counts), optionally
  expiring after `max_age_s`, bounded by `max_entries` (when full it starts over). Builds of different
  keys never wait for each other: two threads missing the same key both build it and either copy is
  kept (use it for values any copy of which is right).

Durations may be numbers or callables (an app's settings accessor), read on every check, so
`override_settings` applies. Every cache registers itself: `reset_all()` empties them all (tests call it
before and after each test, `tests/conftest.py`).

A `cachetools` cache was considered: its TTL/LRU dictionaries cover `ProcessCacheMap`'s expiry but not a
shared version to follow, a build-once lock per value nor a check interval, so it would wrap the same code.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

Seconds = float | Callable[[], float] | None

_registry: weakref.WeakSet = weakref.WeakSet()
_ASK = object()  # `ProcessCache.get`: read the version with `version()`


def _seconds(value: Seconds) -> float | None:
    return value() if callable(value) else value


class _Entry:
    __slots__ = ("built_at", "checked_at", "value", "version")

    def __init__(self, value: Any, version: Any, now: float) -> None:
        self.value, self.version, self.built_at, self.checked_at = value, version, now, now


class ProcessCache(Generic[T]):
    """One value per process. `build(version)` makes it for the version just read (None without `version`).

    `get()` returns the current value; `get(version=v)` uses a version the caller has just read itself
    (with other keys in one round trip) instead of calling `version()`. An exception from `build` leaves
    the previous value in place (`peek()` still returns it) and propagates."""

    def __init__(self, name: str, build: Callable[[Any], T], *, version: Callable[[], Hashable] | None = None,
                 check_every_s: Seconds = 0.0, max_age_s: Seconds = None,
                 keep: Callable[[T], bool] | None = None) -> None:
        self.name = name
        self._build, self._version, self._keep = build, version, keep
        self._check_every_s, self._max_age_s = check_every_s, max_age_s
        self._entry: _Entry | None = None
        self._lock = threading.Lock()
        _registry.add(self)

    def __repr__(self) -> str:
        return f"<ProcessCache {self.name}>"

    def _fresh(self, entry: _Entry, version: Any, now: float) -> bool:
        max_age = _seconds(self._max_age_s)
        return entry.version == version and (max_age is None or now - entry.built_at < max_age)

    def get(self, *, version: Any = _ASK) -> T:
        now = time.monotonic()
        entry = self._entry
        if version is _ASK:
            if entry is not None and now - entry.checked_at < (_seconds(self._check_every_s) or 0.0):
                return entry.value
            version = self._version() if self._version is not None else None
        if entry is not None:
            entry.checked_at = now
            if self._fresh(entry, version, now):
                return entry.value
        with self._lock:
            entry = self._entry
            if entry is not None and self._fresh(entry, version, now):
                return entry.value  # another thread has just built it
            if entry is not None and self._keep is not None and self._keep(entry.value):
                value = entry.value
            else:
                value = self._build(version)
            self._entry = _Entry(value, version, now)
            return value

    def peek(self) -> T | None:
        """The value this process holds now, without any check or build (None before the first build)."""
        entry = self._entry
        return entry.value if entry is not None else None

    def peek_version(self) -> Any:
        """The version the value held now was built for (None before the first build)."""
        entry = self._entry
        return entry.version if entry is not None else None

    def reset(self) -> None:
        self._entry = None


class ProcessCacheMap(Generic[K, T]):
    """A value per key: `get(key, build)` returns the cached value or stores and returns `build()`.

    Entries older than `max_age_s` (None: never) are rebuilt; past `max_entries` the map starts over.
    `build` may return None (remembered like any value, e.g. "this city has no road network")."""

    def __init__(self, name: str, *, max_entries: int, max_age_s: Seconds = None) -> None:
        self.name = name
        self.max_entries = max_entries
        self._max_age_s = max_age_s
        self._entries: dict[K, tuple[float, T]] = {}
        self._lock = threading.Lock()
        _registry.add(self)

    def __repr__(self) -> str:
        return f"<ProcessCacheMap {self.name}>"

    def lookup(self, key: K, default: Any = None) -> T | Any:
        """The cached value of `key` if it has not expired, else `default`."""
        hit = self._entries.get(key)
        if hit is None:
            return default
        max_age = _seconds(self._max_age_s)
        if max_age is not None and time.monotonic() - hit[0] >= max_age:
            return default
        return hit[1]

    def put(self, key: K, value: T) -> T:
        with self._lock:
            if len(self._entries) >= self.max_entries and key not in self._entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic(), value)
        return value

    def get(self, key: K, build: Callable[[], T]) -> T:
        hit = self._entries.get(key)
        if hit is not None:
            max_age = _seconds(self._max_age_s)
            if max_age is None or time.monotonic() - hit[0] < max_age:
                return hit[1]
        return self.put(key, build())

    def discard(self, key: K) -> None:
        """Forget `key`: the next `get` builds it anew."""
        with self._lock:
            self._entries.pop(key, None)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def reset_all() -> None:
    """Empty every per-process cache (tests: a rolled-back or flushed database reuses primary keys)."""
    for cache in list(_registry):
        cache.reset()


def shared_version(key: str) -> int:
    """The version under `key` in the shared cache, which writers bump (`shared_version_bump`) to tell every
    process to rebuild what it derived. A cleared or cold cache cannot tell what changed: a new version is
    started from the clock, never from a small number an earlier version may already have used."""
    from django.core.cache import cache

    version = cache.get(key)
    if version is None:
        cache.add(key, int(time.time() * 1000), timeout=None)
        version = cache.get(key) or 0
    return int(version)


def shared_version_bump(key: str) -> None:
    """Tell every process that what it derived under `key` is stale. After the cache lost the key it starts
    from the clock like `shared_version`: restarting at 1 let a process keep what it built under an earlier 1."""
    from django.core.cache import cache

    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, int(time.time() * 1000), timeout=None)
