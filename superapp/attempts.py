"""Counting attempts at something guessable (a password, a bill-account proof) and requests per client address
at the anonymous auth endpoints: one fixed-window counter per (scope, identity), in the database.

`attempt_reserve` counts the attempt BEFORE the guess is checked, under a row lock, so N concurrent guesses
cannot all pass; past `limit` within the window it raises 429 `throttled` with Retry-After. The window starts
at the first attempt. A success may forget the count (`attempts_forget`).

Why the database and not the cache: the limits must hold whatever Redis does (issue #14: with Redis down, log-in
and sign-up still work and are still limited, never a 500 and never unlimited guessing), and exactly across
processes (a per-process fallback would give every gunicorn worker its own five guesses). Every caller already
needs the database (the user row, the bill account), so this adds no new way to fail. The cost is two short
statements in one transaction per attempt, next to a password hash that costs tens of milliseconds.

Call it outside any transaction of the caller's (request handlers are not atomic): the count must commit even
when the guess is then refused. Expired rows are deleted by `attempts_expire` (Celery beat, hourly).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from superapp.exceptions import TooManyAttempts
from superapp.models import AttemptCounter


def throttle_rate(scope: str) -> tuple[int, int]:
    """(attempts, window seconds) of `scope` in `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` ("5/min", "10/hour")."""
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    return SimpleRateThrottle.parse_rate(None, api_settings.DEFAULT_THROTTLE_RATES[scope])


def _key(scope: str, ident: str) -> str:
    return f"{scope[:30]}:{hashlib.sha256(ident.encode()).hexdigest()[:40]}"


def attempt_reserve(*, scope: str, ident: str, limit: int, window_s: int, now: datetime | None = None) -> str:
    """Count one attempt of `ident` at `scope`; TooManyAttempts past `limit`. Returns the counter key."""
    key, now = _key(scope, ident), now or timezone.now()
    with transaction.atomic():
        # The row exists before it is locked: two first attempts cannot both insert (ON CONFLICT DO NOTHING).
        AttemptCounter.objects.bulk_create(
            [AttemptCounter(key=key, count=0, window_ends=now + timedelta(seconds=window_s))], ignore_conflicts=True)
        counter = AttemptCounter.objects.select_for_update().get(key=key)
        if counter.window_ends <= now:  # the last window is over: a new one starts with this attempt
            counter.count, counter.window_ends = 0, now + timedelta(seconds=window_s)
        counter.count += 1
        counter.save(update_fields=["count", "window_ends"])
    if counter.count > limit:
        raise TooManyAttempts(max(1, math.ceil((counter.window_ends - now).total_seconds())))
    return key


def attempts_forget(key: str) -> None:
    AttemptCounter.objects.filter(key=key).delete()


def attempts_expire(*, now: datetime | None = None) -> int:
    """Delete the counters whose window is over (they count for nothing any more); returns how many."""
    deleted, _ = AttemptCounter.objects.filter(window_ends__lte=now or timezone.now()).delete()
    return deleted
