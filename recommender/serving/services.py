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

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import scipy.sparse as sp
from django.core.cache import cache
from django.utils import timezone

from recommender.loader import LoadedModel, active_model
from recommender.serving import conf, integrations
from recommender.serving.content import ContentIndex, content_index
from recommender.serving.selectors import (
    CandidateFilter,
    UserSignals,
    candidate_merchant_ids,
    popularity_scores,
    traveller_popularity,
    user_signals,
)
from services.models import City, Merchant, Trip
from services.selectors import merchants_with_hours, user_current_city

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
    merchant: Merchant
    score: float
    via: str
    reasons: list[Reason] = field(default_factory=list)
    distance_m: float | None = None
    coupons: list = field(default_factory=list)
    eta_minutes: float | None = None


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
    recalculate = getattr(loaded.model, "recalculate_user", None)
    if recalculate is None or signals.is_empty:
        return None
    user_items = _user_items_row(loaded, signals)
    if not user_items.nnz:
        return None
    return np.asarray(recalculate(user_items)[0], dtype=np.float32)


def user_vector_refresh(user_id: int) -> bool:
    """Recalculate the user's vector from their latest interactions against the active item factors and
    cache it, so the next request reflects a new interaction without retraining. Returns whether a vector
    was stored. Called after commit when an interaction is recorded (task `user_vector_refresh`)."""
    loaded = active_model()
    if loaded is None:
        return False
    vector = _recalculate(loaded, user_signals(user_id, limit=conf.PROFILE_MAX_INTERACTIONS))
    key = _vector_key(loaded.version_id, user_id)
    if vector is None:
        cache.delete(key)
        return False
    cache.set(key, vector.tobytes(), timeout=conf.USER_VECTOR_TTL_S)
    return True


def user_vector(*, loaded: LoadedModel, user_id: int, signals: UserSignals) -> np.ndarray | None:
    """The user's factors for the active model: the freshly recalculated vector when one is cached, else
    the trained one, else (a user the model has not seen, but who has interactions now) one recalculated
    on the spot and cached. None if the model cannot place the user."""
    if not hasattr(loaded.model, "item_factors"):
        return None
    key = _vector_key(loaded.version_id, user_id)
    cached = cache.get(key)
    if cached is not None:
        vector = np.frombuffer(cached, dtype=np.float32)
        if vector.shape[0] == loaded.model.item_factors.shape[1]:
            return vector
    row = loaded.user_index.get(user_id, -1)
    if row >= 0:
        return np.asarray(loaded.model.user_factors[row], dtype=np.float32)
    vector = _recalculate(loaded, signals)
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
                  rows: np.ndarray) -> np.ndarray | None:
    """Scores of the given item rows for this user, computed over those rows only."""
    if vector is not None:
        return np.asarray(loaded.model.item_factors[rows] @ vector, dtype=np.float32)
    if loaded.algorithm == "itemknn" and not signals.is_empty:
        user_items = _user_items_row(loaded, signals)
        if not user_items.nnz:
            return None
        ids, scores = loaded.model.recommend([0], user_items, k=len(rows), filter_already_liked=False, items=rows)
        by_row = dict(zip(ids[0].tolist(), scores[0].tolist(), strict=True))
        return np.array([by_row.get(int(r), 0.0) for r in rows], dtype=np.float32)
    return None


def _rank(*, loaded: LoadedModel | None, vector: np.ndarray | None, signals: UserSignals, candidates: np.ndarray,
          limit: int, profile: sp.csr_matrix, index: ContentIndex,
          popularity: Callable[[np.ndarray], np.ndarray], popularity_source: str) -> _Ranking:
    content = index.scores(profile, candidates) if profile.nnz else np.zeros(len(candidates), np.float32)
    if loaded is not None:
        rows = item_rows(loaded, candidates)
        warm = rows >= 0
        scores = _model_scores(loaded, vector, signals, rows[warm]) if warm.any() else None
        if scores is not None:
            model_picks = _top(candidates[warm], scores, limit)
            # Merchants the model cannot know yet (opened since the last retrain) compete through content:
            # one gets a slot when it matches the user's profile about as well as the model's own picks do.
            picked_content = content[np.searchsorted(candidates, [m for m, _ in model_picks])] if model_picks else []
            bar = max(conf.NEW_MERCHANT_MIN_SIMILARITY,
                      conf.NEW_MERCHANT_RELATIVE_SIMILARITY * float(np.median(picked_content)) if model_picks else 0)
            cold_ids, cold_content = candidates[~warm], content[~warm]
            eligible = cold_content >= bar
            new_slots = min(int(eligible.sum()), max(1, math.floor(limit * conf.NEW_MERCHANT_SHARE)))
            model_picks = model_picks[:limit - new_slots]
            new_picks = _top(cold_ids[eligible], cold_content[eligible], new_slots + (limit - new_slots
                                                                                    - len(model_picks)))
            picks = [_Pick(m, s, VIA_MODEL) for m, s in model_picks]
            for i, (m, s) in enumerate(new_picks):  # every fifth place from the third on
                picks.insert(min(len(picks), 2 + 5 * i), _Pick(m, s, VIA_CONTENT))
            return _Ranking(picks[:limit], f"model:{loaded.algorithm}:v{loaded.version_id}", None)
    if loaded is None:
        reason = "no_active_model"
    elif vector is not None:  # the model knows the user but none of the merchants the filters allow
        reason = "candidates_unknown_to_model"
    else:
        reason = "user_unknown_to_model"
    pop = _normalised(popularity(candidates))
    if profile.nnz and content.any():
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
def _nearest_liked(pick_vecs: np.ndarray, liked_vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pick, the index of the most similar liked item and that cosine."""
    def unit(m: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norms == 0, 1, norms)

    sims = unit(pick_vecs) @ unit(liked_vecs).T
    best = sims.argmax(axis=1)
    return best, sims[np.arange(len(best)), best]


def _because_you_liked(*, loaded: LoadedModel | None, index: ContentIndex, signals: UserSignals,
                       picks: list[_Pick]) -> dict[int, int]:
    """Pick merchant id -> the merchant the user liked that it is closest to (item factors for model picks,
    content otherwise), when the two are similar enough to say so."""
    if signals.is_empty or not picks:
        return {}
    # The user's strongest signals are the ones worth naming.
    strongest = signals.merchant_ids[np.argsort(-signals.confidences, kind="stable")[:50]]
    found: dict[int, int] = {}
    model_picks = [p.merchant_id for p in picks if p.via == VIA_MODEL]
    if loaded is not None and model_picks and hasattr(loaded.model, "item_factors"):
        liked_rows = item_rows(loaded, strongest)
        liked_ok = liked_rows >= 0
        if liked_ok.any():
            factors = loaded.model.item_factors
            pick_rows = item_rows(loaded, np.array(model_picks))
            best, sims = _nearest_liked(factors[pick_rows], factors[liked_rows[liked_ok]])
            liked_ids = strongest[liked_ok]
            for m, b, s in zip(model_picks, best, sims, strict=True):
                if s >= conf.EXPLAIN_MIN_SIMILARITY and liked_ids[b] != m:
                    found[m] = int(liked_ids[b])
    rest = [p.merchant_id for p in picks if p.merchant_id not in found]
    liked_rows = index.rows(strongest)
    liked_ok = liked_rows >= 0
    pick_rows = index.rows(np.array(rest, dtype=np.int64))
    pick_ok = pick_rows >= 0
    if rest and liked_ok.any() and pick_ok.any():
        sims = (index.matrix[pick_rows[pick_ok]] @ index.matrix[liked_rows[liked_ok]].T).toarray()
        liked_ids = strongest[liked_ok]
        for m, row in zip(np.array(rest)[pick_ok].tolist(), sims, strict=True):
            b = int(row.argmax())
            if row[b] >= conf.EXPLAIN_MIN_SIMILARITY and liked_ids[b] != m:
                found[m] = int(liked_ids[b])
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


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _explain(*, user, results: list[Recommendation], picks: list[_Pick], loaded: LoadedModel | None,
             index: ContentIndex, signals: UserSignals, preferences: list[str], names: dict[int, str],
             coupons: dict[int, list], model_answered: bool) -> None:
    ids = [r.merchant.pk for r in results]
    liked = _because_you_liked(loaded=loaded, index=index, signals=signals, picks=picks)
    interests = _interest_matches(index, preferences, picks)
    friends = integrations.friends_here(user=user, merchant_ids=ids)
    home = user.home_city
    travellers: dict[int, dict[int, int]] = {}
    for r in results:
        m = r.merchant
        liked_id = liked.get(m.pk)
        if liked_id is not None and liked_id in names:
            r.reasons.append(Reason("because_you_liked", f"Because you liked {names[liked_id]}", merchant_id=liked_id))
        if m.pk in interests:
            r.reasons.append(Reason("matches_your_interests", f"Matches your interest in {interests[m.pk]}"))
        visitors = friends.get(m.pk) or []
        if visitors:
            n = len(visitors)
            text = (f"{visitors[0]} was here" if n == 1 else f"{n} friends were here")
            r.reasons.append(Reason("friends_were_here", text, count=n))
        if home is not None and m.city_id and m.city_id != home.pk:
            counts = travellers.setdefault(m.city_id, traveller_popularity(city_id=m.city_id, home_city_id=home.pk))
            n = counts.get(m.pk, 0)
            if n >= conf.EXPLAIN_MIN_TRAVELLERS:
                r.reasons.append(Reason("popular_with_travellers",
                                        f"Popular in {m.city.name} with travellers from {home.name}", count=n))
        if r.via == VIA_POPULARITY and r.score > 0 and m.city is not None:
            r.reasons.append(Reason("popular", f"Popular in {m.city.name}"))
        if r.via == VIA_CONTENT and model_answered:
            # In a model-ranked page, content picks are merchants the model has not learned yet.
            r.reasons.append(Reason("new_merchant", "New on the app, and close to what you like"))
        campaigns = coupons.get(m.pk) or []
        if campaigns:
            r.coupons = campaigns
            r.reasons.append(Reason("coupon_available", f"Coupon available: {campaigns[0].name}",
                                    count=len(campaigns)))


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


def _excluding(ids: np.ndarray, seen: np.ndarray) -> np.ndarray:
    return ids[~np.isin(ids, seen)] if len(seen) else ids


def _add_travel_times(results: list[Recommendation], origin: tuple[float, float]) -> None:
    """"About 20 min by car now", from the traffic app, for results with a location (one tree per city)."""
    by_city: dict[int, list[Recommendation]] = {}
    for r in results:
        if r.merchant.city_id and r.merchant.latitude is not None:
            by_city.setdefault(r.merchant.city_id, []).append(r)
    for group in by_city.values():
        minutes = integrations.eta_minutes_many(city=group[0].merchant.city, origin=origin,
                                                destinations=[(r.merchant.latitude, r.merchant.longitude)
                                                              for r in group])
        for r, eta in zip(group, minutes, strict=True):
            if eta is not None:
                r.eta_minutes = round(float(eta), 1)
                r.reasons.append(Reason("travel_time", f"About {max(1, round(eta))} min by car now"))


def _render(*, user, ranking: _Ranking, loaded: LoadedModel | None, index: ContentIndex, signals: UserSignals,
            distances: dict[int, float], origin: tuple[float, float] | None = None) -> list[Recommendation]:
    ids = [p.merchant_id for p in ranking.picks]
    liked_ids = signals.merchant_ids[np.argsort(-signals.confidences, kind="stable")[:50]].tolist()
    merchants = merchants_with_hours(Merchant.objects.filter(pk__in=ids)).in_bulk()
    names = dict(Merchant.objects.filter(pk__in=liked_ids).values_list("pk", "name")) if liked_ids else {}
    results = [Recommendation(merchant=merchants[p.merchant_id], score=round(p.score, 6), via=p.via,
                              distance_m=(round(distances[p.merchant_id], 1) if p.merchant_id in distances else None))
               for p in ranking.picks if p.merchant_id in merchants]
    coupons = integrations.coupons_here(user=user, merchant_ids=ids)
    _explain(user=user, results=results, picks=ranking.picks, loaded=loaded, index=index, signals=signals,
             preferences=_preferences(user), names=names, coupons=coupons,
             model_answered=ranking.source.startswith("model:"))
    if origin is not None:
        _add_travel_times(results, origin)
    return results


def recommendations_for_user(*, user, request: RecommendationRequest, at: datetime | None = None) -> RecommendationPage:
    """A page of recommendations for `user` within the request's filters. Without a city or a point, the
    city the user is in now (an active trip's destination, else their current city) is used."""
    at = at or timezone.now()
    city = request.city
    if city is None and request.lat is None:
        city = user_current_city(user, at)
    candidates = candidate_merchant_ids(filters=CandidateFilter(
        verticals=request.verticals, city=city, lat=request.lat, lon=request.lon, radius_m=request.radius_m,
        open_now=request.open_now, accepts_wallet=request.accepts_wallet, at=at))
    loaded = active_model()
    signals = user_signals(user.pk, limit=conf.PROFILE_MAX_INTERACTIONS, now=at)
    ids = _excluding(candidates.merchant_ids, signals.seen_ids) if request.exclude_seen else candidates.merchant_ids
    vector = user_vector(loaded=loaded, user_id=user.pk, signals=signals) if loaded is not None else None
    index = content_index()
    profile = index.profile(texts=_preferences(user), merchant_ids=signals.merchant_ids, weights=signals.confidences)
    ranking = _rank(loaded=loaded, vector=vector, signals=signals, candidates=ids, limit=request.limit,
                    profile=profile, index=index, popularity=popularity_scores, popularity_source=SOURCE_POPULARITY)
    results = _render(user=user, ranking=ranking, loaded=loaded, index=index, signals=signals,
                      distances=candidates.distances_m,
                      origin=(request.lat, request.lon) if request.lat is not None else None)
    return RecommendationPage(source=ranking.source, model_version=loaded.version_id if ranking.source.startswith(
        "model:") else None, fallback_reason=ranking.fallback_reason, city=city, results=results)


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


def destination_recommendations(*, user, city: City, trip: Trip | None = None, per_vertical: int = 5,
                                exclude_seen: bool = False, verticals: Sequence[str] = conf.RECOMMENDABLE_VERTICALS,
                                at: datetime | None = None) -> DestinationPage:
    """For a traveller: merchants in `city` that accept the wallet, per vertical, with the coupons that
    apply. The user's factors are scored over that city's merchants (what users like them liked there);
    without a vector, content similarity to their profile (what they like at home), then popularity among
    travellers in that city."""
    at = at or timezone.now()
    loaded = active_model()
    signals = user_signals(user.pk, limit=conf.PROFILE_MAX_INTERACTIONS, now=at)
    vector = user_vector(loaded=loaded, user_id=user.pk, signals=signals) if loaded is not None else None
    index = content_index()
    profile = index.profile(texts=_preferences(user), merchant_ids=signals.merchant_ids, weights=signals.confidences)
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
    for vertical in verticals:
        candidates = candidate_merchant_ids(filters=CandidateFilter(verticals=(vertical,), city=city,
                                                                    accepts_wallet=True, at=at))
        ids = _excluding(candidates.merchant_ids, signals.seen_ids) if exclude_seen else candidates.merchant_ids
        local += int(np.isin(signals.merchant_ids, candidates.merchant_ids).sum())
        ranking = _rank(loaded=loaded, vector=vector, signals=signals, candidates=ids, limit=per_vertical,
                        profile=profile, index=index, popularity=travellers_popularity,
                        popularity_source=SOURCE_TRAVELLERS)
        results = _render(user=user, ranking=ranking, loaded=loaded, index=index, signals=signals, distances={})
        sections.append(DestinationSection(vertical, ranking.source, ranking.fallback_reason, results))
    home_id = user.home_city_id
    return DestinationPage(city=city, trip=trip, is_traveller=bool(home_id and home_id != city.pk),
                           local_signals=local,
                           model_version=loaded.version_id if any(s.source.startswith("model:") for s in sections)
                           else None, sections=sections)


@dataclass
class SimilarPage:
    source: str
    model_version: int | None
    results: list[Recommendation]


def similar_merchants(*, merchant: Merchant, city: City | None = None, limit: int = 10) -> SimilarPage:
    """Merchants like this one in `city` (default: its own): nearest by the active model's item factors,
    by content (TF-IDF) for merchants the model does not know or to fill the page."""
    target_city = city or merchant.city
    candidates = candidate_merchant_ids(filters=CandidateFilter(
        verticals=tuple(v for v in (*conf.RECOMMENDABLE_VERTICALS, "city_service")), city=target_city))
    ids = candidates.merchant_ids[candidates.merchant_ids != merchant.pk]
    loaded = active_model()
    index = content_index()
    picks: list[_Pick] = []
    source = "fallback:content"
    if loaded is not None and hasattr(loaded.model, "item_factors"):
        (row,) = item_rows(loaded, np.array([merchant.pk]))
        if row >= 0:
            rows = item_rows(loaded, ids)
            warm = rows >= 0
            if warm.any():
                factors = loaded.model.item_factors
                target = factors[row] / (np.linalg.norm(factors[row]) or 1.0)
                cand = factors[rows[warm]]
                sims = (cand @ target) / np.where(np.linalg.norm(cand, axis=1) == 0, 1, np.linalg.norm(cand, axis=1))
                picks = [_Pick(m, s, VIA_MODEL) for m, s in _top(ids[warm], sims.astype(np.float32), limit)]
                source = f"model:{loaded.algorithm}:v{loaded.version_id}"
    if len(picks) < limit:
        taken = {p.merchant_id for p in picks}
        rest = np.array([m for m in ids.tolist() if m not in taken], dtype=np.int64)
        (target_row,) = index.rows(np.array([merchant.pk]))
        if target_row >= 0 and len(rest):
            sims = index.scores(index.matrix[target_row], rest)
            picks += [_Pick(m, s, VIA_CONTENT) for m, s in _top(rest, sims, limit - len(picks)) if s > 0]
    merchants = merchants_with_hours(Merchant.objects.filter(pk__in=[p.merchant_id for p in picks])).in_bulk()
    results = [Recommendation(merchant=merchants[p.merchant_id], score=round(p.score, 6), via=p.via)
               for p in picks if p.merchant_id in merchants]
    return SimilarPage(source=source, model_version=loaded.version_id if source.startswith("model:") else None,
                       results=results)
