"""Counting attempts at something guessable (a password, a bill-account proof), atomically, in the cache.

`attempt_reserve` counts the attempt BEFORE the guess is checked (cache add + incr: atomic on Redis and on the
local-memory cache), so N concurrent guesses cannot all pass the check; past `limit` within the window it
raises 429 `throttled` with Retry-After. The window starts at the first attempt. A success may forget the
count (`attempts_forget`)."""

from __future__ import annotations

import hashlib
import math
import time

from django.core.cache import cache

from superapp.accounts.exceptions import TooManyAttempts


def _key(scope: str, ident: str) -> str:
    return f"attempts:{scope}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"


def attempt_reserve(*, scope: str, ident: str, limit: int, window_s: int) -> str:
    """Count one attempt of `ident` at `scope`; TooManyAttempts past `limit`. Returns the counter key."""
    key, now = _key(scope, ident), time.time()
    if cache.add(key, 0, timeout=window_s):
        cache.set(f"{key}:reset", now + window_s, timeout=window_s)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        cache.set(key, 1, timeout=window_s)
        cache.set(f"{key}:reset", now + window_s, timeout=window_s)
        count = 1
    if count > limit:
        reset_at = cache.get(f"{key}:reset") or now + window_s
        raise TooManyAttempts(max(1, math.ceil(reset_at - now)))
    return key


def attempts_forget(key: str) -> None:
    cache.delete_many([key, f"{key}:reset"])
