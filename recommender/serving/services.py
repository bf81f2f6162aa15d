"""Recommendation serving: rank the merchants a request allows for one user, explain why, and keep the
user's profile fresh between retrains.

Ranking, in order of preference:

1. **model** -- the active model's factors for this user (a vector recalculated from their latest
   interactions when one is cached, else the trained one) scored against the item factors of exactly the
   candidate merchants. Merchants the model has never seen can still take a few slots through content
   similarity to the user's profile.
2. **fallback:content+popularity** -- no usable vector (no active model, or a user the model does not
   know): TF-IDF similarity to the user's onboarding preferences and past merchants, blended with
   popularity among the candidates (popularity among travellers at a destination).
3. **fallback:popularity** -- nothing is known about the user.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import scipy.sparse as sp
from django.core.cache import cache
from django.utils import timezone

from merchants.models import City, Trip, TripStatus
from merchants.selectors import active_trip, merchant_get
from recommender.loader import LoadedModel, active_model, loaded_version_id
from recommender.services import ACTIVE_VERSION_CACHE_KEY
from recommender.serving import conf, integrations
from recommender.serving.catalogue import catalogue
from recommender.serving.catalogue import city as catalogue_city
from recommender.serving.content import ContentIndex, content_index
from recommender.serving.context import (
    UserContext,
    active_trip_of,
    context_get,
    context_keys,
    context_save,
    coupons_for,
    current_city_id,
    friends_for,
    is_traveller,
    trips_of,
    users_context_invalidate,
)
from recommender.serving.exceptions import NoDestination
from recommender.serving.materialise import (
    CandidateList,
    candidate_list_schedule,
    list_key,
    list_read,
    local_lists_ensure,
)
from recommender.serving.selectors import (
    UserSignals,
    popularity_scores,
    traveller_popularity,
    user_signals,
    users_signals,
)

logger = logging.getLogger(__name__)

VIA_MODEL, VIA_CONTENT, VIA_POPULARITY = "model", "content", "popularity"
SOURCE_CONTENT, SOURCE_POPULARITY = "fallback:content+popularity", "fallback:popularity"
SOURCE_TRAVELLERS = "fallback:travellers_popularity"


@dataclass
class Reason:
    kind: str
    text: str
    merchant_id: int | None = None
    count: int | None = None


@dataclass
class Recommendation:
    merchant: dict  # the merchant's list card (`MerchantListSerializer` shape) with `is_open_now`
    score: float
    via: str
    reasons: list[Reason] = field(default_factory=list)
    distance_m: float | None = None
    coupons: list[dict] = field(default_factory=list)  # {"id", "name", "description"} of each campaign
    eta_minutes: float | None = None

    def as_dict(self) -> dict:
        """The `RecommendedMerchantSerializer` shape, built directly (pages are rendered without DRF
        serializers; `tests/schema_conformance` checks them against the schema)."""
        return {"merchant": self.merchant, "score": self.score, "via": self.via,
                "reasons": [{"kind": r.kind, "text": r.text, "merchant_id": r.merchant_id, "count": r.count}
                            for r in self.reasons],
                "distance_m": self.distance_m, "eta_minutes": self.eta_minutes, "coupons": self.coupons}


@dataclass
class RecommendationPage:
    source: str
    model_version: int | None
    fallback_reason: str | None
    city: City | None
    results: list[Recommendation]


@dataclass
class _Pick:
    merchant_id: int
    score: float
    via: str


@dataclass
class _Ranking:
    picks: list[_Pick]
    source: str
    fallback_reason: str | None


# --- The user's profile -------------------------------------------------------------------------
_item_maps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def item_rows(loaded: LoadedModel, merchant_ids: np.ndarray) -> np.ndarray:
    """The model's item row of each merchant id, -1 for merchants it does not know (vectorised)."""
    key = (loaded.version_id, id(loaded))
    entry = _item_maps.get(key)
    if entry is None:
        ids = np.asarray(loaded.item_ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        entry = (ids[order], order)
        _item_maps.clear()  # one model is served at a time
        _item_maps[key] = entry
    sorted_ids, order = entry
    wanted = np.asarray(merchant_ids, dtype=np.int64)
    if not len(sorted_ids) or not len(wanted):
        return np.full(len(wanted), -1, np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == wanted, order[pos], -1)


def _vector_key(version_id: int, user_id: int) -> str:
    return f"recommender:uvec:{version_id}:{user_id}"


def _user_items_row(loaded: LoadedModel, signals: UserSignals) -> sp.csr_matrix:
    rows = item_rows(loaded, signals.merchant_ids)
    keep = rows >= 0
    return sp.csr_matrix((signals.confidences[keep], (np.zeros(int(keep.sum()), np.int64), rows[keep])),
                         shape=(1, len(loaded.item_ids)), dtype=np.float32)


def _recalculate(loaded: LoadedModel, signals: UserSignals) -> np.ndarray | None:
    return _recalculate_many(loaded, [signals])[0]


def _recalculate_many(loaded: LoadedModel, signals: Sequence[UserSignals]) -> list[np.ndarray | None]:
    """Each user's vector recalculated from their signals (None where the model cannot: no
    `recalculate_user`, or no interaction with a merchant it knows), in one solve over the stacked rows (each
    row's least squares is independent of the others)."""
    recalculate = getattr(loaded.model, "recalculate_user", None)
    vectors: list[np.ndarray | None] = [None] * len(signals)
    if recalculate is None:
        return vectors
    rows = {i: _user_items_row(loaded, s) for i, s in enumerate(signals) if not s.is_empty}
    rows = {i: row for i, row in rows.items() if row.nnz}
    if rows:
        solved = np.asarray(recalculate(sp.vstack(list(rows.values())).tocsr()), dtype=np.float32)
        for position, i in enumerate(rows):
            vectors[i] = solved[position]
    return vectors


def user_vector_refresh(user_id: int) -> bool:
    """`users_vector_refresh` for one user: whether a vector was stored."""
    return bool(users_vector_refresh([user_id]))


def users_vector_refresh(user_ids: Sequence[int], *, eligibility_may_change: bool = True) -> int:
    """Recalculate these users' vectors from their latest interactions against the active item factors and
    cache them, then rebuild their materialised lists from them, so each one's next page reflects a new
    interaction without retraining. Returns how many vectors were stored. Called after commit when
    interactions are recorded (tasks `user_vectors_refresh`, `user_vector_refresh`). A batch costs what one user
    did in queries and cache calls: one read of the histories, one solve, one write of the vectors and one of
    the lists. `eligibility_may_change=False` after the app's own events (impressions, clicks, views), which
    cannot change which coupons the user may use: their cached answer is kept."""
    from recommender.serving.materialise import candidate_lists_build

    loaded = active_model()
    user_ids = list(dict.fromkeys(user_ids))
    if loaded is None or not user_ids:
        return 0
    signals = users_signals(user_ids, limit=conf.PROFILE_MAX_INTERACTIONS)
    vectors = dict(zip(user_ids, _recalculate_many(loaded, [signals[u] for u in user_ids]), strict=True))
    fresh = {u: v for u, v in vectors.items() if v is not None}
    cache.set_many({_vector_key(loaded.version_id, u): v.tobytes() for u, v in fresh.items()},
                   timeout=conf.USER_VECTOR_TTL_S)
    cache.delete_many([_vector_key(loaded.version_id, u) for u in user_ids if u not in fresh])
    if eligibility_may_change:
        users_context_invalidate(user_ids)  # a payment may end "new users only" coupons
    # Also for item-KNN, which scores from the fresh history itself.
    candidate_lists_build(user_ids, signals=signals, vectors=fresh)
    return len(fresh)


_READ = object()  # `user_vector(cached=...)`: not read yet


def user_vector(*, loaded: LoadedModel, user_id: int, signals: UserSignals | Callable[[], UserSignals],
                cached: bytes | None | object = _READ) -> np.ndarray | None:
    """The user's factors for the active model: the freshly recalculated vector when one is cached, else
    the trained one, else (a user the model has not seen, but who has interactions now) one recalculated
    on the spot and cached. None if the model cannot place the user. `cached`: the value of the vector's
    key when the caller has read it already; `signals` may be a callable (read only when needed)."""
    if not hasattr(loaded.model, "item_factors"):
        return None
    key = _vector_key(loaded.version_id, user_id)
    if cached is _READ:
        cached = cache.get(key)
    if cached is not None:
        vector = np.frombuffer(cached, dtype=np.float32)
        if vector.shape[0] == loaded.model.item_factors.shape[1]:
            return vector
    row = loaded.user_index.get(user_id, -1)
    if row >= 0:
        return np.asarray(loaded.model.user_factors[row], dtype=np.float32)
    vector = _recalculate(loaded, signals() if callable(signals) else signals)
    if vector is not None:
        cache.set(key, vector.tobytes(), timeout=conf.USER_VECTOR_TTL_S)
    return vector


def _preferences(user) -> list[str]:
    """Onboarding preferences as words: verticals, category slugs ("dim-sum" -> "dim sum"), free words."""
    raw = getattr(user, "preferences", None) or []
    if isinstance(raw, dict):  # tolerate {"verticals": [...], "categories": [...]}
        raw = [v for values in raw.values() for v in (values if isinstance(values, list) else [values])]
    return [str(p).replace("-", " ").replace("_", " ").strip() for p in raw if str(p).strip()]


# --- Ranking ------------------------------------------------------------------------------------
def _normalised(values: np.ndarray) -> np.ndarray:
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else np.zeros_like(values)


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best k by score, ties broken by merchant id so pages are reproducible."""
    if k <= 0 or not len(ids):
        return []
    order = np.lexsort((ids, -scores))[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]


def _model_scores(loaded: LoadedModel, vector: np.ndarray | None, signals: UserSignals,
                  rows: np.ndarray, *, user_row: int = -1) -> np.ndarray | None:
    """Scores of the given item rows for this user, computed over those rows only. `user_row`: the user's row
    in the model (-1 when it did not train on them)."""
    if vector is not None:
        return np.asarray(loaded.model.item_factors[rows] @ vector, dtype=np.float32)
    user_items = _items_to_score_from(loaded, signals, user_row=user_row)
    if user_items is None:
        return None
    ids, scores = loaded.model.recommend([user_row], user_items, k=len(rows), filter_already_liked=False,
                                         items=rows)
    by_row = dict(zip(ids[0].tolist(), scores[0].tolist(), strict=True))
    return np.array([by_row.get(int(r), 0.0) for r in rows], dtype=np.float32)


def _items_to_score_from(loaded: LoadedModel, signals: UserSignals, *, user_row: int) -> sp.csr_matrix | None:
    """The user's item row when the model can score them without a vector, else None. A factor model (ALS,
    BPR) needs a vector. Item-based models (item-kNN, RP3beta, EASE) score anyone from their items; a blend
    scores a user it trained on with every part, and one it did not from its item-based parts
    (`scores_from_items`), as the batch build does."""
    model = loaded.model
    if hasattr(model, "item_factors"):
        return None
    user_items = _user_items_row(loaded, signals)
    if user_row >= 0 or (getattr(model, "scores_from_items", False) and user_items.nnz):
        return user_items
    return None


def _placeable(loaded: LoadedModel, vector: np.ndarray | None, signals: UserSignals, *, user_row: int = -1) -> bool:
    """Whether the model can score this user at all (a vector, or an item row it can score from)."""
    return vector is not None or _items_to_score_from(loaded, signals, user_row=user_row) is not None


def _with_new_merchants(model_picks: list[tuple[int, float]], cold_ids: np.ndarray, cold_content: np.ndarray,
                        picked_content, limit: int) -> list[_Pick]:
    """Merchants the model cannot know yet (opened since the last retrain) compete through content: one
    gets a slot when it matches the user's profile about as well as the model's own picks do."""
    bar = max(conf.NEW_MERCHANT_MIN_SIMILARITY,
              conf.NEW_MERCHANT_RELATIVE_SIMILARITY * float(np.median(picked_content)) if model_picks else 0)
    eligible = cold_content >= bar
    new_slots = min(int(eligible.sum()), max(1, math.floor(limit * conf.NEW_MERCHANT_SHARE)))
    model_picks = model_picks[:limit - new_slots]
    new_picks = _top(cold_ids[eligible], cold_content[eligible], new_slots + (limit - new_slots - len(model_picks)))
    picks = [_Pick(m, s, VIA_MODEL) for m, s in model_picks]
    for i, (m, s) in enumerate(new_picks):  # every fifth place from the third on
        picks.insert(min(len(picks), 2 + 5 * i), _Pick(m, s, VIA_CONTENT))
    return picks[:limit]


def _model_source(loaded: LoadedModel, *, materialised: bool = False) -> str:
    return f"{'materialised' if materialised else 'model'}:{loaded.algorithm}:v{loaded.version_id}"


def _rank(*, loaded: LoadedModel | None, vector: np.ndarray | None, signals: UserSignals, candidates: np.ndarray,
          limit: int, profile: Callable[[], sp.csr_matrix], index: ContentIndex,
          popularity: Callable[[np.ndarray], np.ndarray], popularity_source: str, user_row: int = -1) -> _Ranking:
    """The live path: score exactly the candidates (no list, or the list cannot answer this page). `profile`:
    the user's content profile, built only when content takes part (merchants the model does not know, or a
    fallback): for a user the model places among known merchants it is about a third of a live page's CPU."""
    def content_of(ids: np.ndarray) -> np.ndarray:
        row = profile()
        return index.scores(row, ids) if row.nnz else np.zeros(len(ids), np.float32)

    if loaded is not None:
        rows = item_rows(loaded, candidates)
        warm = rows >= 0
        scores = _model_scores(loaded, vector, signals, rows[warm], user_row=user_row) if warm.any() else None
        if scores is not None:
            model_picks = _top(candidates[warm], scores, limit)
            cold = candidates[~warm]
            if not len(cold):  # no merchant new to the model: content cannot take a slot
                return _Ranking([_Pick(m, s, VIA_MODEL) for m, s in model_picks], _model_source(loaded), None)
            picked = np.array([m for m, _ in model_picks], dtype=np.int64)
            picks = _with_new_merchants(model_picks, cold, content_of(cold), content_of(picked) if len(picked) else [],
                                        limit)
            return _Ranking(picks, _model_source(loaded), None)
    if loaded is None:
        reason = "no_active_model"
    elif not len(candidates):
        reason = "no_candidates"  # the filters allow no merchant at all
    elif _placeable(loaded, vector, signals, user_row=user_row):
        # the model knows the user but none of the allowed merchants
        reason = "candidates_unknown_to_model"
    else:
        reason = "user_unknown_to_model"
    pop = _normalised(popularity(candidates))
    content = content_of(candidates)
    if content.any():
        w = conf.COLD_START_CONTENT_WEIGHT
        content_part, pop_part = w * _normalised(content), (1 - w) * pop
        blended = content_part + pop_part
        picks = []
        for m, score in _top(candidates, blended, limit):
            i = int(np.searchsorted(candidates, m))
            picks.append(_Pick(m, score, VIA_CONTENT if content_part[i] >= pop_part[i] else VIA_POPULARITY))
        return _Ranking(picks, SOURCE_CONTENT, reason)
    return _Ranking([_Pick(m, s, VIA_POPULARITY) for m, s in _top(candidates, pop, limit)], popularity_source,
                    reason)


# --- Explanations -------------------------------------------------------------------------------
_unit_factors: dict[tuple[int, int], np.ndarray] = {}


def _unit_item_factors(loaded: LoadedModel) -> np.ndarray:
    """The model's item factors scaled to unit length (cosines are dot products), once per served model."""
    key = (loaded.version_id, id(loaded))
    unit = _unit_factors.get(key)
    if unit is None:
        factors = np.asarray(loaded.model.item_factors, dtype=np.float32)
        norms = np.linalg.norm(factors, axis=1, keepdims=True)
        unit = factors / np.where(norms == 0, 1, norms)
        _unit_factors.clear()  # one model is served at a time
        _unit_factors[key] = unit
    return unit


def _anchors(pick_ids: np.ndarray, liked_ids: np.ndarray, sims: np.ndarray, threshold: float) -> dict[int, int]:
    """Pick id -> the liked merchant most similar to it (`sims`: picks x liked), when that similarity reaches
    `threshold` and the liked merchant is not the pick itself."""
    best = sims.argmax(axis=1)
    top = sims[np.arange(len(best)), best]
    anchor = liked_ids[best]
    keep = (top >= threshold) & (anchor != pick_ids)
    return dict(zip(pick_ids[keep].tolist(), anchor[keep].tolist(), strict=True))


def _because_you_liked(*, loaded: LoadedModel | None, index: ContentIndex, signals: UserSignals,
                       picks: list[_Pick]) -> dict[int, int]:
    """Pick merchant id -> the merchant the user liked that it is closest to (item factors for model picks,
    content otherwise), when the two are similar enough to say so. Vectorised: a list build explains a few
    hundred picks at once."""
    if signals.is_empty or not picks:
        return {}
    threshold = conf.EXPLAIN_MIN_SIMILARITY
    # The user's strongest signals are the ones worth naming.
    strongest = signals.merchant_ids[np.argsort(-signals.confidences, kind="stable")[:50]]
    found: dict[int, int] = {}
    model_picks = np.array([p.merchant_id for p in picks if p.via == VIA_MODEL], dtype=np.int64)
    if loaded is not None and len(model_picks) and hasattr(loaded.model, "item_factors"):
        liked_rows = item_rows(loaded, strongest)
        liked_ok = liked_rows >= 0
        pick_rows = item_rows(loaded, model_picks)
        pick_ok = pick_rows >= 0
        if liked_ok.any() and pick_ok.any():
            unit = _unit_item_factors(loaded)
            sims = unit[pick_rows[pick_ok]] @ unit[liked_rows[liked_ok]].T
            found.update(_anchors(model_picks[pick_ok], strongest[liked_ok], sims, threshold))
    rest = np.array([p.merchant_id for p in picks if p.merchant_id not in found], dtype=np.int64)
    liked_rows = index.rows(strongest)
    liked_ok = liked_rows >= 0
    pick_rows = index.rows(rest)
    pick_ok = pick_rows >= 0
    if len(rest) and liked_ok.any() and pick_ok.any():
        sims = index.cosines(pick_rows[pick_ok], liked_rows[liked_ok])
        found.update(_anchors(rest[pick_ok], strongest[liked_ok], sims, threshold))
    return found


def _interest_matches(index: ContentIndex, preferences: list[str], picks: list[_Pick]) -> dict[int, str]:
    """Pick merchant id -> the onboarding preference it matches best (content picks only)."""
    content_picks = np.array([p.merchant_id for p in picks if p.via == VIA_CONTENT], dtype=np.int64)
    if not preferences or not len(content_picks):
        return {}
    rows = index.rows(content_picks)
    ok = rows >= 0
    if not ok.any():
        return {}
    pref_matrix = sp.vstack([index.text_vector([p]) for p in preferences]).tocsr()
    sims = (index.matrix[rows[ok]] @ pref_matrix.T).toarray()
    out = {}
    for m, row in zip(content_picks[ok].tolist(), sims, strict=True):
        b = int(row.argmax())
        if row[b] > 0:
            out[m] = preferences[b]
    return out


def _explain(*, user, ctx: UserContext, results: list[Recommendation], liked: dict[int, int],
             interests: dict[int, str], names: dict[int, str], coupons: dict[int, list],
             friends: dict[int, tuple], model_answered: bool) -> None:
    home = catalogue_city(user.home_city_id)
    travellers: dict[int, dict[int, int]] = {}
    for r in results:
        m, city = r.merchant, r.merchant["city"]
        pk = m["id"]
        liked_id = liked.get(pk)
        if liked_id and liked_id in names:
            r.reasons.append(Reason("because_you_liked", f"Because you liked {names[liked_id]}", merchant_id=liked_id))
        if pk in interests:
            r.reasons.append(Reason("matches_your_interests", f"Matches your interest in {interests[pk]}"))
        if pk in friends:
            n, first = friends[pk]
            r.reasons.append(Reason("friends_were_here", f"{first} was here" if n == 1 else f"{n} friends were here",
                                    count=n))
        if home is not None and city and city["id"] != home.pk:
            counts = travellers.get(city["id"])
            if counts is None:
                counts = travellers[city["id"]] = traveller_popularity(city_id=city["id"], home_city_id=home.pk)
            n = counts.get(pk, 0)
            if n >= conf.EXPLAIN_MIN_TRAVELLERS:
                r.reasons.append(Reason("popular_with_travellers",
                                        f"Popular in {city['name']} with travellers from {home.name}", count=n))
        if r.via == VIA_POPULARITY and r.score > 0 and city:
            r.reasons.append(Reason("popular", f"Popular in {city['name']}"))
        if r.via == VIA_CONTENT and model_answered:
            # In a model-ranked page, content picks are merchants the model has not learned yet.
            r.reasons.append(Reason("new_merchant", "New on the app, and close to what you like"))
        offers = coupons.get(pk) or []
        if offers:
            r.coupons = [{"id": i, "name": name, "description": text} for i, name, text in offers]
            r.reasons.append(Reason("coupon_available", f"Coupon available: {offers[0][1]}", count=len(offers)))


# --- Entry points -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecommendationRequest:
    verticals: tuple[str, ...] = conf.RECOMMENDABLE_VERTICALS
    city: City | None = None
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    open_now: bool = False
    accepts_wallet: bool | None = None
    exclude_seen: bool = True
    limit: int = conf.DEFAULT_LIMIT


def _in_sorted(values: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """`np.isin(values, sorted_ids)` for an ascending `sorted_ids` (the catalogue's candidates, a list's or a
    history's seen merchants): one binary search per value. `np.isin` sorts both arrays on every call (~50 us);
    a page made five such calls, about a fifth of its own CPU."""
    return _sorted_positions(values, sorted_ids)[1]


def _sorted_positions(values: np.ndarray, sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position of each value in the ascending `sorted_ids`, whether it is there): one binary search each."""
    if not len(sorted_ids) or not len(values):
        return np.zeros(len(values), np.int64), np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
    return pos, sorted_ids[pos] == values


def _excluding(ids: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """`ids` without the `seen` ones (ascending, as `UserSignals.seen_ids` and `CandidateList.seen_ids` are)."""
    return ids[~_in_sorted(ids, seen)] if len(seen) else ids


def _add_travel_times(results: list[Recommendation], origin: tuple[float, float]) -> None:
    """"About 20 min by car now", from the traffic app, for results with a location (one tree per city)."""
    by_city: dict[int, list[Recommendation]] = {}
    for r in results:
        if r.merchant["city"] and r.merchant["latitude"] is not None:
            by_city.setdefault(r.merchant["city"]["id"], []).append(r)
    for city_id, group in by_city.items():
        minutes = integrations.eta_minutes_many(city=catalogue_city(city_id), origin=origin,
                                                destinations=[(r.merchant["latitude"], r.merchant["longitude"])
                                                              for r in group])
        for r, eta in zip(group, minutes, strict=True):
            if eta is not None:
                r.eta_minutes = round(float(eta), 1)
                r.reasons.append(Reason("travel_time", f"About {max(1, round(eta))} min by car now"))


@dataclass
class _Answer:
    """What ranked a page (or a destination section) and what explaining it needs."""

    ranking: _Ranking
    liked: dict[int, int]  # pick -> the merchant the user liked that explains it
    interests: dict[int, str]
    candidate_list: CandidateList | None  # when the materialised list answered


def _page_keys(user_id: int, guess: int | None) -> dict:
    """`context_get`'s arguments for a page of this user when this process serves version `guess`."""
    return {"list_key": list_key(guess, user_id) if guess else None,
            "also": (ACTIVE_VERSION_CACHE_KEY, *([_vector_key(guess, user_id)] if guess else []))}


def page_cache_keys(user_id: int) -> frozenset[str]:
    """The cache keys a page (or a destination page) of this user reads in its one round trip, for a caller
    that can fetch them ahead in a round trip of its own (the authentication, with the user row) and pass
    them as `prefetched`."""
    return context_keys(user_id, **_page_keys(user_id, loaded_version_id()))


class _Request:
    """Per-request state shared by the sections of a page: the user's caches, their signals (read at most
    once, only on the live path), the active model."""

    def __init__(self, *, user, at: datetime, prefetched: dict | None = None) -> None:
        self.user, self.at = user, at
        # One round trip: the active version id, the user's caches, and their list for the version this process
        # serves (read again for the new version when an activation changed it) -- or none, when the request's
        # authentication fetched these keys with the user row (`prefetched`, see `page_cache_keys`).
        guess = loaded_version_id()
        vector_key = _vector_key(guess, user.pk) if guess else None
        self.ctx, found = context_get(user.pk, **_page_keys(user.pk, guess), prefetched=prefetched)
        self.loaded = active_model(cached_id=found.get(ACTIVE_VERSION_CACHE_KEY))
        self.vector_raw = found.get(vector_key) if guess else _READ
        if self.loaded is not None and self.loaded.version_id != guess:
            self.ctx.list_raw = cache.get(list_key(self.loaded.version_id, user.pk))
            self.vector_raw = _READ
        self.list = list_read(self.ctx.list_raw, version_id=self.loaded.version_id) if self.loaded else None
        if self.loaded is not None and self.list is None:
            local_lists_ensure(self.loaded.version_id)
        self.catalogue = catalogue()
        self.preferences = _preferences(user)
        self._signals: UserSignals | None = None

    def signals(self) -> UserSignals:
        if self._signals is None:
            self._signals = user_signals(self.user.pk, limit=conf.PROFILE_MAX_INTERACTIONS, now=self.at)
        return self._signals

    def open_only(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return ids
        return ids[self.catalogue.open_mask(ids, self.at)]


def _from_list(req: _Request, *, candidates: np.ndarray, limit: int, exclude_seen: bool,
               open_now: bool) -> _Answer | None:
    """Filter the user's materialised list in-process; None when it cannot answer this page exactly (the
    filters leave fewer than `limit` entries above the list's floor while the model knows other allowed
    merchants)."""
    lst, loaded, cat = req.list, req.loaded, req.catalogue
    allowed = _in_sorted(lst.merchant_ids, candidates)  # candidates: catalogue ids, ascending
    if exclude_seen and len(lst.seen_ids):
        allowed &= ~_in_sorted(lst.merchant_ids, lst.seen_ids)
    cities = np.unique(cat.city[cat.rows(candidates)]) if len(candidates) else []
    certain = allowed & (lst.scores >= lst.floor_for(cities))
    positions = np.flatnonzero(certain)
    if open_now and len(positions):
        wanted = lst.merchant_ids[positions]
        # In rank order, a few more than a page at a time: most pages need one batch.
        kept: list[int] = []
        step = max(limit * 2, 20)
        for start in range(0, len(positions), step):
            chunk = wanted[start:start + step]
            is_open = req.catalogue.open_ids(chunk.tolist(), req.at)
            kept += [p for p, m in zip(positions[start:start + step], chunk.tolist(), strict=True) if m in is_open]
            if len(kept) >= limit:
                break
        positions = np.array(kept[:limit], dtype=np.int64)
    positions = positions[:limit]
    rows = item_rows(loaded, candidates)
    cold = candidates[rows < 0]
    if len(positions) < limit:
        listed = _in_sorted(candidates, np.sort(lst.merchant_ids))
        outside = candidates[(rows >= 0) & ~listed]
        if exclude_seen:
            outside = _excluding(outside, lst.seen_ids)
        if len(outside) or (allowed & ~certain).any():
            return None
    if not len(positions) and not (rows >= 0).any():
        return None  # no allowed merchant is in the model: the live path's fallbacks say so
    model_picks = [(int(lst.merchant_ids[p]), float(lst.scores[p])) for p in positions]
    liked = {m: int(lst.anchors[p]) for (m, _), p in zip(model_picks, positions, strict=True) if lst.anchors[p]}
    if exclude_seen:
        cold = _excluding(cold, lst.seen_ids)
    if open_now:
        cold = req.open_only(cold)
    signals = lst.signals()
    if len(cold):
        index = content_index()
        profile = index.profile(texts=req.preferences, merchant_ids=signals.merchant_ids, weights=signals.confidences)
        picked = np.array([m for m, _ in model_picks], dtype=np.int64)
        picks = _with_new_merchants(model_picks, cold, index.scores(profile, cold),
                                    index.scores(profile, picked) if len(picked) else [], limit)
        content_picks = [p for p in picks if p.via == VIA_CONTENT]
        if content_picks:
            liked.update(_because_you_liked(loaded=loaded, index=index, signals=signals, picks=content_picks))
    else:
        picks = [_Pick(m, s, VIA_MODEL) for m, s in model_picks]
    interests = _interest_matches(content_index(), req.preferences, picks)
    return _Answer(_Ranking(picks, _model_source(loaded, materialised=True), None), liked, interests, lst)


def _answer(req: _Request, *, candidates: np.ndarray, limit: int, exclude_seen: bool, open_now: bool,
            popularity: Callable[[np.ndarray], np.ndarray], popularity_source: str) -> _Answer:
    """The materialised list when it can answer, else the live path (which schedules the list's build)."""
    miss = None
    if req.loaded is not None:
        if req.list is None:
            miss = "list_not_built"
        else:
            answer = _from_list(req, candidates=candidates, limit=limit, exclude_seen=exclude_seen, open_now=open_now)
            if answer is not None:
                return answer
            miss = "list_exhausted"
    loaded = req.loaded
    vector = (user_vector(loaded=loaded, user_id=req.user.pk, signals=req.signals, cached=req.vector_raw)
              if loaded is not None else None)
    # The filters exhausted the list of a user the model places: the list has what the live path reads of the
    # history (seen merchants, strongest signals: the content profile the list's own pages use), so no query.
    signals = req.list.signals() if req.list is not None and vector is not None else req.signals()
    ids = _excluding(candidates, signals.seen_ids) if exclude_seen else candidates
    if open_now:
        ids = req.open_only(ids)
    index = content_index()
    profile = functools.cache(lambda: index.profile(texts=req.preferences, merchant_ids=signals.merchant_ids,
                                                    weights=signals.confidences))
    ranking = _rank(loaded=loaded, vector=vector, signals=signals, candidates=ids, limit=limit, profile=profile,
                    index=index, popularity=popularity, popularity_source=popularity_source,
                    user_row=loaded.user_index.get(req.user.pk, -1) if loaded is not None else -1)
    if miss is not None and ranking.source.startswith("model:"):
        ranking.fallback_reason = miss  # the model answered live: say why the list did not
        if miss == "list_not_built":
            candidate_list_schedule(version_id=loaded.version_id, user_id=req.user.pk)
    return _Answer(ranking, _because_you_liked(loaded=loaded, index=index, signals=signals, picks=ranking.picks),
                   _interest_matches(index, req.preferences, ranking.picks), None)


def _render(req: _Request, answer: _Answer, *, distances: dict[int, float] | None = None,
            origin: tuple[float, float] | None = None) -> list[Recommendation]:
    """Cards from the per-process card cache, open now at read time, explanations from the per-user caches."""
    ranking, cat, user = answer.ranking, req.catalogue, req.user
    ids = [p.merchant_id for p in ranking.picks]
    names = {pk: card["name"] for pk, card in cat.cards_for(sorted(set(answer.liked.values()))).items()}
    cards = cat.cards_for(ids)
    open_ids = cat.open_ids([m for m in ids if m in cards], req.at)
    distances = distances or {}
    results = [Recommendation(merchant={**cards[p.merchant_id], "is_open_now": p.merchant_id in open_ids},
                              score=round(p.score, 6), via=p.via,
                              distance_m=round(distances[p.merchant_id], 1) if p.merchant_id in distances else None)
               for p in ranking.picks if p.merchant_id in cards]
    # The per-user caches are warmed when the list is built; a page that misses them asks social about its
    # merchants and the rest of the list at once (one query either way), the wallet about the user only.
    traveller = is_traveller(user, req.ctx, req.at)
    _explain(user=user, ctx=req.ctx, results=results, liked=answer.liked, interests=answer.interests, names=names,
             coupons=coupons_for(user, req.ctx, ids, traveller=traveller),
             friends=friends_for(user, req.ctx, ids, also=req.list.merchant_ids.tolist() if req.list else ()),
             model_answered=ranking.source.startswith(("model:", "materialised:")))
    if origin is not None:
        _add_travel_times(results, origin)
    return results


def _version_of(req: _Request, source: str) -> int | None:
    return req.loaded.version_id if source.startswith(("model:", "materialised:")) else None


def _distances_of(picks: list[_Pick], candidates: np.ndarray, distances: np.ndarray | None) -> dict[int, float] | None:
    """The picked merchants' distances (`candidates` ascending, as the catalogue's mask returns them): only the
    page's, a radius over a large catalogue holds tens of thousands."""
    if distances is None:
        return None
    ids = np.array([p.merchant_id for p in picks], dtype=np.int64)
    pos, found = _sorted_positions(ids, candidates)
    return dict(zip(ids[found].tolist(), distances[pos[found]].tolist(), strict=True))


def serving_caches_warm() -> None:
    """Build this process's copies that every page reads: the active model, the catalogue (merchants, cards,
    opening hours) and the content index. Called at a worker's start (`superapp.warmup.process_warm`)."""
    active_model()
    catalogue()
    content_index()


def recommendations_for_user(*, user, request: RecommendationRequest, at: datetime | None = None,
                             prefetched: dict | None = None) -> RecommendationPage:
    """A page of recommendations for `user` within the request's filters. Without a city or a point, the
    city the user is in now (an active trip's destination, else their current city) is used. `prefetched`:
    the values of `page_cache_keys(user.pk)` when the caller has read them (None: read here)."""
    req = _Request(user=user, at=at or timezone.now(), prefetched=prefetched)
    city = request.city
    if city is None and request.lat is None:
        city = catalogue_city(current_city_id(user, req.ctx, req.at))
    rows, distances = req.catalogue.mask(verticals=request.verticals, city_id=city.pk if city else None,
                                         accepts_wallet=request.accepts_wallet, lat=request.lat, lon=request.lon,
                                         radius_m=request.radius_m)
    candidates = req.catalogue.ids[rows]
    answer = _answer(req, candidates=candidates, limit=request.limit, exclude_seen=request.exclude_seen,
                     open_now=request.open_now, popularity=popularity_scores, popularity_source=SOURCE_POPULARITY)
    results = _render(req, answer, distances=_distances_of(answer.ranking.picks, candidates, distances),
                      origin=(request.lat, request.lon) if request.lat is not None else None)
    context_save(req.ctx)
    ranking = answer.ranking
    return RecommendationPage(source=ranking.source, model_version=_version_of(req, ranking.source),
                              fallback_reason=ranking.fallback_reason, city=city, results=results)


@dataclass
class DestinationSection:
    vertical: str
    source: str
    fallback_reason: str | None
    results: list[Recommendation]


@dataclass
class DestinationPage:
    city: City
    trip: Trip | None
    is_traveller: bool
    local_signals: int
    model_version: int | None
    sections: list[DestinationSection]


def _trip_under_way(req: _Request) -> Trip | None:
    """`merchants.selectors.active_trip` from the user's cached trips (the same rule, `active_trip_of`): an
    unsaved `Trip` with the row's values, no query on a warm cache."""
    cached = active_trip_of(trips_of(req.user, req.ctx), req.at)
    if cached is None:
        return None
    destination = catalogue_city(cached.destination_id)
    if destination is None:  # a city added since this process read the cities
        return active_trip(req.user, req.at)
    return Trip(pk=cached.pk, user_id=req.user.pk, destination=destination, starts_on=cached.starts_on,
                ends_on=cached.ends_on, title=cached.title, status=TripStatus.PLANNED, created_at=cached.created_at)


def destination_recommendations(*, user, city: City | None = None, trip: Trip | None = None, per_vertical: int = 5,
                                exclude_seen: bool = False, verticals: Sequence[str] = conf.RECOMMENDABLE_VERTICALS,
                                at: datetime | None = None, prefetched: dict | None = None) -> DestinationPage:
    """For a traveller: merchants in `city` that accept the wallet, per vertical, with the coupons that
    apply. The same machinery as a page: the user's materialised list filtered to the city (it covers the
    destinations of their planned trips), else their factors scored over that city's merchants; without a
    vector, content similarity to their profile (what they like at home), then popularity among travellers
    in that city. Without `city`: the trip under way (`NoDestination` when there is none). `prefetched`: as for
    `recommendations_for_user`."""
    req = _Request(user=user, at=at or timezone.now(), prefetched=prefetched)
    if city is None:
        trip = _trip_under_way(req)
        if trip is None:
            raise NoDestination()
        city = trip.destination
    travellers = traveller_popularity(city_id=city.pk)
    trav_keys = np.array(sorted(travellers), dtype=np.int64)
    trav_values = np.array([travellers[k] for k in trav_keys.tolist()], dtype=np.float32)

    def travellers_popularity(ids: np.ndarray) -> np.ndarray:
        if not len(trav_keys) or not len(ids):
            return np.zeros(len(ids), np.float32)
        pos = np.minimum(np.searchsorted(trav_keys, ids), len(trav_keys) - 1)
        return np.where(trav_keys[pos] == ids, trav_values[pos], 0).astype(np.float32)

    sections = []
    local = 0
    in_city, _ = req.catalogue.mask(verticals=tuple(verticals), city_id=city.pk)
    for vertical in verticals:
        rows, _ = req.catalogue.mask(verticals=(vertical,), city_id=city.pk, accepts_wallet=True)
        answer = _answer(req, candidates=req.catalogue.ids[rows], limit=per_vertical, exclude_seen=exclude_seen,
                         open_now=False, popularity=travellers_popularity, popularity_source=SOURCE_TRAVELLERS)
        sections.append(DestinationSection(vertical, answer.ranking.source, answer.ranking.fallback_reason,
                                           _render(req, answer)))
    # The user's own signals there: from the list when it answered, else from the history just read.
    signals = req.list.signals() if req.list is not None and req._signals is None else req.signals()
    local = int(np.isin(signals.merchant_ids, req.catalogue.ids[in_city]).sum())
    context_save(req.ctx)
    home_id = user.home_city_id
    versions = [_version_of(req, s.source) for s in sections]
    return DestinationPage(city=city, trip=trip, is_traveller=bool(home_id and home_id != city.pk),
                           local_signals=local, model_version=next((v for v in versions if v), None),
                           sections=sections)


@dataclass
class SimilarPage:
    source: str
    model_version: int | None
    results: list[Recommendation]


def similar_merchants(*, merchant_id: int, city: City | None = None, vertical: str | None = None,
                      limit: int = 10, at: datetime | None = None) -> SimilarPage:
    """Merchants like this one in `city` (default: its own) and in its vertical (unless `vertical` asks for
    another): nearest by the active model's item factors, by content (TF-IDF) for merchants the model does
    not know or to fill the page. From the per-process catalogue and cards: no query on a warm process."""
    cat = catalogue()
    # An id beyond int64 cannot name a merchant: ask the catalogue for none (-1 row), so it is a plain 404.
    (row,) = cat.rows(np.array([merchant_id if 0 < merchant_id < 2**63 else -1]))
    if row >= 0:
        own_vertical, own_city = cat.verticals[cat.vertical[row]], int(cat.city[row]) or None
    else:
        merchant = merchant_get(merchant_id=merchant_id)  # 404 for unknown or inactive merchants
        own_vertical, own_city = merchant.vertical, merchant.city_id
    target_city = city.pk if city is not None else own_city
    rows, _ = cat.mask(verticals=(vertical or own_vertical,), city_id=target_city)
    ids = cat.ids[rows]
    ids = ids[ids != merchant_id]
    loaded = active_model()
    index = content_index()
    picks: list[_Pick] = []
    source = "fallback:content"
    if loaded is not None and hasattr(loaded.model, "item_factors"):
        (item_row,) = item_rows(loaded, np.array([merchant_id]))
        if item_row >= 0:
            model_rows = item_rows(loaded, ids)
            warm = model_rows >= 0
            if warm.any():
                factors = loaded.model.item_factors
                target = factors[item_row] / (np.linalg.norm(factors[item_row]) or 1.0)
                cand = factors[model_rows[warm]]
                norms = np.linalg.norm(cand, axis=1)
                sims = (cand @ target) / np.where(norms == 0, 1, norms)
                picks = [_Pick(m, s, VIA_MODEL) for m, s in _top(ids[warm], sims.astype(np.float32), limit)]
                source = _model_source(loaded)
    if len(picks) < limit:
        taken = {p.merchant_id for p in picks}
        rest = np.array([m for m in ids.tolist() if m not in taken], dtype=np.int64)
        (target_row,) = index.rows(np.array([merchant_id]))
        if target_row >= 0 and len(rest):
            sims = index.scores(index.matrix[target_row], rest)
            picks += [_Pick(m, s, VIA_CONTENT) for m, s in _top(rest, sims, limit - len(picks)) if s > 0]
    cards = cat.cards_for([p.merchant_id for p in picks])
    open_ids = cat.open_ids(list(cards), at or timezone.now())
    results = [Recommendation(merchant={**cards[p.merchant_id], "is_open_now": p.merchant_id in open_ids},
                              score=round(p.score, 6), via=p.via) for p in picks if p.merchant_id in cards]
    return SimilarPage(source=source, model_version=loaded.version_id if source.startswith("model:") else None,
                       results=results)
