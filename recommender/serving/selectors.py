"""Reads for serving: how popular merchants are, and what a user's latest interactions say about them.
Which merchants a request allows is decided in-process from `catalogue.Catalogue`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone

from recommender.confidence import event_confidence
from recommender.extract import KIND_CODE, InteractionArrays
from recommender.models import Interaction, InteractionKind
from recommender.serving import conf
from superapp.process_cache import ProcessCache, ProcessCacheMap

# Kinds that say nothing positive about a merchant do not make it popular.
_NOT_POPULARITY = ("impression", "dismiss", "refund")


# --- The user's own signals -----------------------------------------------------------------------
STREAM_SIGNALS_FROM_USERS = 64  # `users_signals` of more users than this streams its rows


@dataclass
class UserSignals:
    merchant_ids: np.ndarray  # sorted Merchant.pk with a positive confidence
    confidences: np.ndarray  # float32, same order
    seen_ids: np.ndarray  # sorted Merchant.pk the user did anything with (impressions aside)

    @property
    def is_empty(self) -> bool:
        return not len(self.merchant_ids)


def user_signals(user_id: int, *, limit: int, now: datetime | None = None) -> UserSignals:
    """The user's latest `limit` interactions as (merchant, confidence) pairs, weighted exactly as training
    weights them (`recommender.confidence.event_confidence`: kind weights and half-life from
    `recommender.conf`), summed per merchant, negative totals clipped and dropped. A vector recalculated from
    these is what a retrain would learn for the user. One indexed query (user, occurred_at)."""
    rows = list(Interaction.objects.filter(user_id=user_id).order_by("-occurred_at")
                .values_list("merchant_id", "kind", "value", "occurred_at")[:limit])
    return _signals_from_rows(user_id, rows, now=now)


def users_signals(user_ids: list[int], *, limit: int, now: datetime | None = None) -> dict[int, UserSignals]:
    """`user_signals` for many users in one query (batch materialisation): the same rows, the same weights."""
    by_user: dict[int, list] = {pk: [] for pk in user_ids}
    query = (Interaction.objects.filter(user_id__in=user_ids).order_by("user_id", "-occurred_at")
             .values_list("user_id", "merchant_id", "kind", "value", "occurred_at"))
    # A batch build streams (a server-side cursor: three round trips, bounded memory); the few users of a
    # refresh after events are read at once.
    for user_id, *row in (query.iterator(chunk_size=10_000) if len(user_ids) > STREAM_SIGNALS_FROM_USERS else query):
        rows = by_user[user_id]
        if len(rows) < limit:
            rows.append(row)
    return {pk: _signals_from_rows(pk, rows, now=now) for pk, rows in by_user.items()}


def _signals_from_rows(user_id: int, rows: list, *, now: datetime | None) -> UserSignals:
    """(merchant, kind, value, occurred_at) rows, newest first, as a user's signals."""
    if not rows:
        return UserSignals(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64))
    n = len(rows)
    merchants = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    kinds = np.fromiter((KIND_CODE[r[1]] for r in rows), dtype=np.int16, count=n)
    arrays = InteractionArrays(
        user_ids=np.full(n, user_id, dtype=np.int64), merchant_ids=merchants, kind_codes=kinds,
        values=np.fromiter((r[2] for r in rows), dtype=np.float32, count=n),
        timestamps=np.fromiter((r[3].timestamp() for r in rows), dtype=np.float64, count=n))
    # Ages from now: a retrain run now measures them from its newest interaction, which in production is now.
    weights = event_confidence(arrays, now=(now or timezone.now()).timestamp())
    seen = np.unique(merchants[kinds != KIND_CODE[InteractionKind.IMPRESSION]])
    ids, inverse = np.unique(merchants, return_inverse=True)
    totals = np.zeros(len(ids), np.float64)
    np.add.at(totals, inverse, weights)
    positive = totals > 0  # like `ml.dataset.pairs_to_csr`: a refund cancels a payment, never a dislike
    return UserSignals(ids[positive], totals[positive].astype(np.float32), seen)


# --- Popularity ---------------------------------------------------------------------------------
@dataclass
class _Popularity:
    merchant_ids: np.ndarray
    users: np.ndarray  # distinct users per merchant over the window
    built_at: float


def _popularity_build() -> _Popularity:
    since = timezone.now() - timedelta(days=conf.POPULARITY_WINDOW_DAYS)
    rows = list(Interaction.objects.filter(occurred_at__gte=since).exclude(kind__in=_NOT_POPULARITY)
                .values("merchant_id").annotate(n=Count("user_id", distinct=True)).values_list("merchant_id", "n")
                .order_by("merchant_id"))
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    return _Popularity(ids, np.array([r[1] for r in rows], dtype=np.float32), time.monotonic())


_popularity: ProcessCache[_Popularity] = ProcessCache(
    "recommender.popularity", lambda _version: _popularity_build(), max_age_s=lambda: conf.POPULARITY_TTL_S)


def popularity_scores(merchant_ids: np.ndarray) -> np.ndarray:
    """Distinct users who interacted with each merchant over the popularity window (0 if none), from a
    per-process table refreshed every `POPULARITY_TTL_S` seconds."""
    current = _popularity.get()
    return _lookup(current.merchant_ids, current.users, merchant_ids)


def _lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    wanted = np.asarray(wanted, dtype=np.int64)
    if not len(keys) or not len(wanted):
        return np.zeros(len(wanted), np.float32)
    pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[pos] == wanted, values[pos], 0).astype(np.float32)


# Kept in each process for a minute (at most the shared copy's own lifetime).
_travellers_local: ProcessCacheMap[tuple[int, int], dict[int, int]] = ProcessCacheMap(
    "recommender.traveller_popularity", max_entries=10_000, max_age_s=lambda: min(60.0, conf.POPULARITY_TTL_S))


def traveller_popularity(*, city_id: int, home_city_id: int | None = None) -> dict[int, int]:
    """Merchant id -> distinct travellers (users whose home is elsewhere) who interacted with it in this
    city over the window; with `home_city_id`, only travellers from that city. Shared through the cache for
    `POPULARITY_TTL_S` (one computation for all processes), and kept in each process for a minute."""
    memo_key = (city_id, home_city_id or 0)
    local = _travellers_local.lookup(memo_key)
    if local is not None:
        return local
    key = f"recommender:travellers:{city_id}:{home_city_id or 0}"
    cached = cache.get(key)
    if cached is None:
        since = timezone.now() - timedelta(days=conf.POPULARITY_WINDOW_DAYS)
        queryset = (Interaction.objects.filter(merchant__city_id=city_id, occurred_at__gte=since)
                    .exclude(kind__in=_NOT_POPULARITY).exclude(user__home_city_id=city_id)
                    .exclude(user__home_city_id__isnull=True))
        if home_city_id is not None:
            queryset = queryset.filter(user__home_city_id=home_city_id)
        cached = dict(queryset.values("merchant_id").annotate(n=Count("user_id", distinct=True))
                      .values_list("merchant_id", "n").order_by())
        cache.set(key, cached, timeout=int(conf.POPULARITY_TTL_S))
    return _travellers_local.put(memo_key, cached)
