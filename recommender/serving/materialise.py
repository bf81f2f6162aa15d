"""Materialised candidate lists: every user's ranked merchants, computed ahead of the request.

A list holds, for one user and one model version, the model's best `LIST_SIZE` recommendable merchants the
user has not seen overall, plus the best `LIST_CITY_SIZE` in each city the user cares about (home, current
city, planned trip destinations), plus the ones they have seen, each with its score and the "because you
liked" anchor, and what the request needs of the
user's history: the merchants they have seen (for `exclude_seen`) and their strongest signals (a content
profile for merchants the model does not know). The request filters it in-process
(`services.recommendations_for_user`); nothing is scored or queried per page.

**Exactness.** Besides the entries, a list stores *floors*: the score of the last entry kept overall and per
city (minus infinity when the list holds every such merchant). A merchant missing from the list scores at
most the floor of its scope, so a filtered list is exact down to that floor; a page that needs more than
the floor allows is a miss (`fallback_reason: list_exhausted`) and the live path answers.

**Where and how long.** In the default cache (Redis in production, local memory on the embedded default),
key `recommender:cands:<model version>:<user>`: a new version never reads an old version's lists, and
lists of a retired version simply expire (`LIST_TTL_S`). Compact binary (`pack`/`unpack`), about 12 bytes
per entry: see docs/recommendations.md for bytes per user and memory for 1M users.

**When.** `candidate_lists_build_version` (Celery, after a version is activated: every user the model
knows, in chunks, with progress, using the model's batch `recommend`) and `candidate_list_build` (one user,
after their vector is refreshed by a new interaction, after a miss, after a trip changes).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from recommender.loader import LoadedModel, active_model
from recommender.serving import conf
from recommender.serving.catalogue import catalogue
from recommender.serving.content import content_index
from recommender.serving.selectors import UserSignals, users_signals

logger = logging.getLogger(__name__)

_FORMAT = 1
# format, version id, built at (unix s), entries, seen, liked, city floors, global floor
_HEADER = struct.Struct("<BIdIIIIf")
NO_FLOOR = -np.inf  # the list holds every merchant of that scope


def list_key(version_id: int, user_id: int) -> str:
    return f"recommender:cands:{version_id}:{user_id}"


def _building_key(version_id: int, user_id: int) -> str:
    return f"recommender:cands-building:{version_id}:{user_id}"


@dataclass
class CandidateList:
    version_id: int
    built_at: float
    merchant_ids: np.ndarray  # int64, best first
    scores: np.ndarray  # float32, descending
    anchors: np.ndarray  # int64, the liked merchant that explains each entry, 0 for none
    seen_ids: np.ndarray  # int64 sorted
    liked_ids: np.ndarray  # int64, the user's strongest signals
    liked_weights: np.ndarray  # float32
    global_floor: float
    city_floors: dict[int, float]

    def floor_for(self, city_ids) -> float:
        """The score down to which the list is exact for candidates in these cities."""
        floor = -np.inf
        for city_id in city_ids:
            city_floor = self.city_floors.get(int(city_id))
            floor = max(floor, self.global_floor if city_floor is None else min(city_floor, self.global_floor))
        return floor

    def signals(self) -> UserSignals:
        order = np.argsort(self.liked_ids, kind="stable")
        return UserSignals(self.liked_ids[order], self.liked_weights[order], self.seen_ids)


def pack(lst: CandidateList) -> bytes:
    cities = np.array(sorted(lst.city_floors), dtype=np.int32)
    floors = np.array([lst.city_floors[c] for c in cities.tolist()], dtype=np.float32)
    return b"".join([
        _HEADER.pack(_FORMAT, lst.version_id, lst.built_at, len(lst.merchant_ids), len(lst.seen_ids),
                     len(lst.liked_ids), len(cities), lst.global_floor),
        lst.merchant_ids.astype("<i4").tobytes(), lst.scores.astype("<f4").tobytes(),
        lst.anchors.astype("<i4").tobytes(), lst.seen_ids.astype("<i4").tobytes(),
        lst.liked_ids.astype("<i4").tobytes(), lst.liked_weights.astype("<f4").tobytes(),
        cities.astype("<i4").tobytes(), floors.astype("<f4").tobytes(),
    ])


def unpack(raw: bytes) -> CandidateList | None:
    if not raw or raw[0] != _FORMAT:
        return None
    fmt, version_id, built_at, n, n_seen, n_liked, n_cities, global_floor = _HEADER.unpack_from(raw)
    offset = _HEADER.size

    def take(count: int, dtype: str) -> np.ndarray:
        nonlocal offset
        out = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
        offset += 4 * count
        return out

    ids, scores, anchors = take(n, "<i4"), take(n, "<f4"), take(n, "<i4")
    seen, liked, weights = take(n_seen, "<i4"), take(n_liked, "<i4"), take(n_liked, "<f4")
    cities, floors = take(n_cities, "<i4"), take(n_cities, "<f4")
    return CandidateList(version_id, built_at, ids.astype(np.int64), scores.astype(np.float32),
                         anchors.astype(np.int64), seen.astype(np.int64), liked.astype(np.int64),
                         weights.astype(np.float32), float(global_floor),
                         dict(zip(cities.tolist(), floors.astype(float).tolist(), strict=True)))


# --- Building -------------------------------------------------------------------------------------
@dataclass
class _Scope:
    """The recommendable merchants the model knows: catalogue merchant ids, their model rows, their city."""

    merchant_ids: np.ndarray
    model_rows: np.ndarray
    city_ids: np.ndarray


def _scope(loaded: LoadedModel) -> _Scope:
    from recommender.serving.services import item_rows

    cat = catalogue()
    rows, _ = cat.mask(verticals=conf.RECOMMENDABLE_VERTICALS)
    ids = cat.ids[rows]
    model_rows = item_rows(loaded, ids)
    warm = model_rows >= 0
    return _Scope(ids[warm], model_rows[warm], cat.city[rows][warm])


def _top_positions(scores: np.ndarray, k: int, ids: np.ndarray) -> np.ndarray:
    """Positions of the best k scores, best first, ties by merchant id (as the live path orders them)."""
    if k >= len(scores):
        return np.lexsort((ids, -scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((ids[part], -scores[part]))]


def _assemble(*, loaded: LoadedModel, scope: _Scope, scores: np.ndarray, signals: UserSignals,
              cities: set[int]) -> CandidateList:
    """A user's list from their scores over `scope` (one score per scope merchant)."""
    from recommender.serving.services import VIA_MODEL, _because_you_liked, _Pick

    # Slots go to merchants the user has not seen (what most pages show); the seen ones are all kept besides
    # (a user's history is bounded), so `exclude_seen=false` pages are exact too.
    seen = np.isin(scope.merchant_ids, signals.seen_ids)
    unseen = np.flatnonzero(~seen)
    picked = unseen[_top_positions(scores[unseen], conf.LIST_SIZE, scope.merchant_ids[unseen])]
    global_floor = float(scores[picked[-1]]) if len(unseen) > conf.LIST_SIZE else NO_FLOOR
    floors: dict[int, float] = {}
    chosen = [picked, np.flatnonzero(seen)]
    for city_id in sorted(cities):
        in_city = np.flatnonzero((scope.city_ids == city_id) & ~seen)
        if not len(in_city):
            continue
        best = in_city[_top_positions(scores[in_city], conf.LIST_CITY_SIZE, scope.merchant_ids[in_city])]
        chosen.append(best)
        floors[city_id] = float(scores[best[-1]]) if len(in_city) > conf.LIST_CITY_SIZE else NO_FLOOR
    positions = np.unique(np.concatenate(chosen))
    positions = positions[np.lexsort((scope.merchant_ids[positions], -scores[positions]))]
    ids, kept = scope.merchant_ids[positions], scores[positions].astype(np.float32)
    anchors = _because_you_liked(loaded=loaded, index=content_index(), signals=signals,
                                 picks=[_Pick(int(m), float(s), VIA_MODEL) for m, s in zip(ids, kept, strict=True)])
    strongest = np.argsort(-signals.confidences, kind="stable")[:conf.EXPLAIN_LIKED]
    return CandidateList(
        version_id=loaded.version_id, built_at=time.time(), merchant_ids=ids, scores=kept,
        anchors=np.array([anchors.get(int(m), 0) for m in ids], dtype=np.int64), seen_ids=signals.seen_ids,
        liked_ids=signals.merchant_ids[strongest], liked_weights=signals.confidences[strongest],
        global_floor=global_floor, city_floors=floors)


def _contexts_and_cities(user_ids: list[int]) -> tuple[dict[int, tuple], dict[int, set[int]]]:
    """The users' rows and cached contexts (`user_contexts_load`) and the cities each one's list covers."""
    from recommender.serving.context import list_cities, user_contexts_load

    contexts = user_contexts_load(user_ids)
    today = timezone.now().date()
    cities = {pk: set() for pk in user_ids}
    cities.update((pk, list_cities(user, ctx.trips, today)) for pk, (user, ctx) in contexts.items())
    return contexts, cities


def _store(lists: dict[int, CandidateList], contexts: dict[int, tuple]) -> None:
    """Store the lists, and complete the per-user caches their pages read (explanations: coupons, friends,
    trips; the user row), so a page from a fresh list costs one cache round trip and no query."""
    from recommender.serving.context import user_contexts_warm

    cache.set_many({list_key(lst.version_id, user_id): pack(lst) for user_id, lst in lists.items()},
                   timeout=conf.LIST_TTL_S)
    user_contexts_warm({user_id: lst.merchant_ids.tolist() for user_id, lst in lists.items()}, at=timezone.now(),
                       contexts=contexts)


def candidate_list_build(user_id: int) -> bool:
    """`candidate_lists_build` for one user: whether their list was built."""
    return user_id in candidate_lists_build([user_id])


def candidate_lists_build(user_ids: Sequence[int], *, signals: dict[int, UserSignals] | None = None,
                          vectors: dict[int, np.ndarray] | None = None) -> set[int]:
    """Build and store these users' lists for the active version from their latest interactions (`signals`,
    read in one query unless the caller has them), each from its vector: `vectors[user]` when the caller has
    just recalculated it, else the cached recalculated one, the trained one, or one recalculated now. Their
    cities are read and their lists stored together. Returns the users whose list was built; a user the model
    cannot place has their list dropped (the live path's fallbacks answer them)."""
    from recommender.serving.services import _model_scores, user_vector

    loaded = active_model()
    user_ids = list(dict.fromkeys(user_ids))
    if loaded is None or not user_ids:
        return set()
    try:
        if signals is None:
            signals = users_signals(user_ids, limit=conf.PROFILE_MAX_INTERACTIONS)
        vectors = vectors or {}
        scope = _scope(loaded)
        built: dict[int, CandidateList] = {}
        if len(scope.merchant_ids):
            contexts, cities = _contexts_and_cities(user_ids)
            for user_id in user_ids:
                vector = vectors.get(user_id)
                if vector is None:
                    vector = user_vector(loaded=loaded, user_id=user_id, signals=signals[user_id])
                scores = _model_scores(loaded, vector, signals[user_id], scope.model_rows,
                                       user_row=loaded.user_index.get(user_id, -1))
                if scores is not None:
                    built[user_id] = _assemble(loaded=loaded, scope=scope, scores=scores, signals=signals[user_id],
                                               cities=cities[user_id])
        cache.delete_many([list_key(loaded.version_id, u) for u in user_ids if u not in built])
        if built:
            _store(built, contexts)
        return set(built)
    finally:
        cache.delete_many([_building_key(loaded.version_id, u) for u in user_ids])


def candidate_list_schedule(*, version_id: int, user_id: int) -> None:
    """Enqueue one user's build unless one is already queued (a burst of misses enqueues it once)."""
    from recommender.serving.tasks import candidate_list_build as task

    if cache.add(_building_key(version_id, user_id), 1, timeout=conf.LIST_BUILD_DEDUP_S):
        task.delay(user_id)


def candidate_list_rebuild_soon(user_id: int) -> None:
    """Schedule one user's build for whatever version is active (their cities changed)."""
    from recommender.loader import active_version_id

    version_id = active_version_id()
    if version_id is not None:
        candidate_list_schedule(version_id=version_id, user_id=user_id)


def candidate_lists_build_version(version_id: int, *, chunk: int | None = None,
                                  progress: Callable[[int, int], None] | None = None) -> dict:
    """Build the lists of every user the model knows, in chunks, with the model's batch `recommend`.
    Stops early when another version has been activated meanwhile (its own job builds its lists)."""
    loaded = active_model()
    if loaded is None or loaded.version_id != version_id:
        return {"version": version_id, "users": 0, "status": "not_active"}
    scope = _scope(loaded)
    # One chunk scores every merchant for every user of the chunk: keep that block near 20M floats.
    chunk = max(1, min(chunk or conf.LIST_BUILD_CHUNK, 20_000_000 // max(1, len(scope.merchant_ids))))
    user_ids = np.asarray(loaded.user_ids, dtype=np.int64)
    total, built, started = len(user_ids), 0, time.monotonic()
    if not len(scope.merchant_ids):
        return {"version": version_id, "users": 0, "status": "no_merchants"}
    _travellers_warm()
    for start in range(0, total, chunk):
        from recommender.loader import active_version_id

        if active_version_id() != version_id:
            return {"version": version_id, "users": built, "status": "superseded"}
        rows = np.arange(start, min(start + chunk, total))
        ids = [int(u) for u in user_ids[rows]]
        # A user whose vector was refreshed under this version has a fresher list from that refresh.
        refreshed = cache.get_many([f"recommender:uvec:{version_id}:{u}" for u in ids])
        keep = [i for i, u in enumerate(ids) if f"recommender:uvec:{version_id}:{u}" not in refreshed]
        rows, ids = rows[keep], [ids[i] for i in keep]
        signals = users_signals(ids, limit=conf.PROFILE_MAX_INTERACTIONS)
        contexts, cities = _contexts_and_cities(ids)
        scores = _batch_scores(loaded, rows, ids, signals, scope)
        _store({u: _assemble(loaded=loaded, scope=scope, scores=scores[i], signals=signals[u], cities=cities[u])
                for i, u in enumerate(ids) if scores is not None}, contexts)
        built += len(ids)
        if progress is not None:
            progress(min(start + chunk, total), total)
        logger.info("recommender: candidate lists for v%s: %d/%d users (%.1f s)", version_id,
                    min(start + chunk, total), total, time.monotonic() - started)
    return {"version": version_id, "users": built, "status": "built", "seconds": round(time.monotonic() - started, 1)}


def _travellers_warm() -> None:
    """"Popular with travellers from your city" tables for every pair of cities, computed once for all
    serving processes before the pages need them."""
    from recommender.serving.selectors import traveller_popularity

    cities = list(catalogue().cities)
    for city_id in cities:
        for home_id in cities:
            if home_id != city_id:
                traveller_popularity(city_id=city_id, home_city_id=home_id)


def _batch_scores(loaded: LoadedModel, rows: np.ndarray, ids: list[int], signals: dict[int, UserSignals],
                  scope: _Scope) -> np.ndarray | None:
    """Scores (users x scope merchants) with the model's own batch `recommend` over the scope's rows:
    trained factors for factor models, the users' fresh rows for item-KNN and the like."""
    from recommender.serving.services import _user_items_row

    if not len(rows):
        return np.zeros((0, len(scope.merchant_ids)), np.float32)
    user_items = sp.vstack([_user_items_row(loaded, signals[u]) for u in ids]).tocsr()
    k = len(scope.model_rows)
    found, values = loaded.model.recommend(rows, user_items, k=k, filter_already_liked=False,
                                           items=scope.model_rows)
    # Back from "best k model rows per user" to one score per scope merchant (scope order).
    order = np.argsort(scope.model_rows)
    out = np.full((len(rows), k), -np.inf, np.float32)
    valid = found >= 0
    user_pos, _ = np.nonzero(valid)
    positions = order[np.searchsorted(scope.model_rows[order], found[valid])]
    out[user_pos, positions] = values[valid]
    return out


_local_builds: set[int] = set()
_local_lock = threading.Lock()


def local_lists_ensure(version_id: int) -> None:
    """Embedded default: the local-memory cache belongs to one process, so lists an activation built in
    another process (`seed_demo`, `train_recommender`) are not here. The first request of a serving process
    for a version starts building that process's lists in a background thread (its pages are misses
    meanwhile, answered live). With Redis the lists are shared and Celery builds them: nothing to do."""
    if not conf.LOCAL_LIST_BUILD or not settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        return
    with _local_lock:
        if version_id in _local_builds:
            return
        _local_builds.add(version_id)

    def build() -> None:
        try:
            candidate_lists_build_version(version_id)
        except Exception:  # noqa: BLE001 - a background convenience: misses keep being answered live
            logger.exception("recommender: local candidate lists for v%s failed", version_id)
        finally:
            connections.close_all()

    threading.Thread(target=build, name=f"candidate-lists-v{version_id}", daemon=True).start()


def list_read(raw: bytes | None, *, version_id: int) -> CandidateList | None:
    lst = unpack(raw) if raw else None
    return lst if lst is not None and lst.version_id == version_id else None
