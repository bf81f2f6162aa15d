"""Small per-user caches that a recommendation page reads instead of querying other apps per page:

- `trips`: the user's planned trips (destination, dates). Where the user is now and whether they are a
  traveller are decided from it *when read* (`active_trip_of`, the same rule as
  `services.selectors.active_trip`, pinned by a test), so a trip that starts at midnight is right at
  midnight. Dropped when one of the user's trips is saved or deleted.
- `coupons`: the campaigns the user could use somewhere (the wallet's `payments.selectors.campaigns_usable_by`),
  keyed by the running-campaigns version and the traveller status it was asked with; where each campaign
  applies is per process (`catalogue.campaigns_at_merchants`, the wallet's `campaign_merchant_problem`).
  Dropped when a coupon of the user changes or the user records an interaction (a payment can end
  "new users only"); budgets follow within `CAMPAIGNS_MAX_AGE_S`.
- `friends`: social's own answer (`superapp.social.selectors.friends_who_visited_anywhere`, for every
  merchant at once; `friends_who_visited` for the merchants asked when the circle has too many visits).
  Dropped when someone in the user's circle posts or deletes a visit, or the circle changes (follows,
  friendships, blocks).

All three are fetched in one cache round trip together with the candidate list (`context_get`); each is
computed on a miss and never older than `CONTEXT_TTL_S`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.cache import cache

from merchants.selectors import away_from_home, tz_for
from recommender.serving import conf, integrations
from recommender.serving.catalogue import campaigns_at_merchants, campaigns_running_cached
from recommender.serving.catalogue import catalogue as _catalogue

logger = logging.getLogger(__name__)


def trips_key(user_id: int) -> str:
    return f"recommender:ctx:trips:v2:{user_id}"  # v2: with the title and creation time


def coupons_key(user_id: int) -> str:
    return f"recommender:ctx:coupons:{user_id}"


def friends_key(user_id: int) -> str:
    return f"recommender:ctx:friends:{user_id}"


@dataclass(frozen=True)
class CachedTrip:
    pk: int
    destination_id: int
    starts_on: date
    ends_on: date
    title: str  # the rest of a trip's card, so the destination page shows the trip under way without a query
    created_at: datetime


@dataclass
class UserContext:
    user_id: int
    trips: list[CachedTrip] | None
    coupons: tuple | None  # (campaigns version, is_traveller, checked ids, {merchant: [(id, name, description)]})
    friends: tuple | None  # (checked ids, {merchant: (count, first friend's name)})
    list_raw: bytes | None = None
    dirty: dict = field(default_factory=dict)  # keys to write back after the page


def _context_keys(user_id: int, *, list_key: str | None, also: tuple[str, ...]) -> list[str]:
    return [trips_key(user_id), coupons_key(user_id), friends_key(user_id), *also] + ([list_key] if list_key else [])


def context_keys(user_id: int, *, list_key: str | None = None, also: tuple[str, ...] = ()) -> frozenset[str]:
    """The keys `context_get` reads for these arguments (so a caller can fetch them ahead, see `prefetched`)."""
    return frozenset(_context_keys(user_id, list_key=list_key, also=also))


def context_get(user_id: int, *, list_key: str | None = None, also: tuple[str, ...] = (),
                prefetched: dict | None = None) -> tuple[UserContext, dict]:
    """The user's caches and list in one round trip, with any other keys the page reads (`also`; their
    values are returned beside the context). `prefetched`: {key: value or None} already read in this
    request's own round trip (the authentication's, see `CachedUserJWTAuthentication.prefetch`); used when
    it holds every key, else the keys are read here."""
    keys = _context_keys(user_id, list_key=list_key, also=also)
    if prefetched is not None and all(key in prefetched for key in keys):
        found = {key: prefetched[key] for key in keys if prefetched[key] is not None}
    else:
        found = cache.get_many(keys)
    ctx = UserContext(user_id=user_id, trips=found.get(keys[0]), coupons=found.get(keys[1]),
                      friends=found.get(keys[2]), list_raw=found.get(list_key) if list_key else None)
    return ctx, {key: found[key] for key in also if key in found}


def context_save(ctx: UserContext, *, timeout: int | None = None) -> None:
    if ctx.dirty:
        cache.set_many(ctx.dirty, timeout=timeout or conf.CONTEXT_TTL_S)
        ctx.dirty = {}


# --- Trips -------------------------------------------------------------------------------------------
def trips_of(user, ctx: UserContext) -> list[CachedTrip]:
    if ctx.trips is None:
        ctx.trips = users_trips([user])[user.pk]
        ctx.dirty[trips_key(ctx.user_id)] = ctx.trips
    return ctx.trips


def users_trips(users) -> dict[int, list[CachedTrip]]:
    """Each user's planned trips, newest first, in one query: what `trips_of` caches."""
    from merchants.models import TripStatus
    from merchants.selectors import trips_for_users

    trips: dict[int, list[CachedTrip]] = {user.pk: [] for user in users}
    for t in trips_for_users(users=users).filter(status=TripStatus.PLANNED).order_by("-starts_on", "-pk"):
        trips[t.user_id].append(CachedTrip(t.pk, t.destination_id, t.starts_on, t.ends_on, t.title, t.created_at))
    return trips


def active_trip_of(trips: list[CachedTrip], at: datetime) -> CachedTrip | None:
    """`services.selectors.active_trip` over cached trips: the trip under way at `at` in the destination's
    local dates, the latest-starting one if several overlap (trips are kept newest first)."""
    cities = _catalogue().cities
    for trip in trips:
        destination = cities.get(trip.destination_id)
        zone = tz_for(destination.time_zone if destination else "UTC")
        local_day = at.astimezone(zone).date()
        if trip.starts_on <= local_day <= trip.ends_on:
            return trip
    return None


def current_city_id(user, ctx: UserContext, at: datetime) -> int | None:
    """`services.selectors.user_current_city`, from the cached trips."""
    trip = active_trip_of(trips_of(user, ctx), at)
    if trip is not None:
        return trip.destination_id
    return user.current_city_id or user.home_city_id or None


def is_traveller(user, ctx: UserContext, at: datetime) -> bool:
    return away_from_home(home_city_id=user.home_city_id, city_id=current_city_id(user, ctx, at))


# --- Coupons -----------------------------------------------------------------------------------------
def coupons_usable(user, ctx: UserContext, *, traveller: bool) -> dict[int, tuple[str, str]]:
    """Campaign id -> (name, description) of the running campaigns this user could use somewhere: the
    wallet's `campaigns_usable_by`, cached per user, keyed by the running-campaigns version and the
    traveller status (a trip that starts at midnight asks again)."""
    version, running = campaigns_running_cached()
    cached = ctx.coupons
    if cached is None or cached[0] != version or cached[1] != traveller:
        usable = integrations.campaigns_usable(user=user, running=running)
        cached = (version, traveller, {c.pk: (c.name, c.description) for c in usable})
        ctx.coupons = cached
        ctx.dirty[coupons_key(ctx.user_id)] = cached
    return cached[2]


def coupons_for(user, ctx: UserContext, merchant_ids: list[int], *,
                traveller: bool) -> dict[int, list[tuple[int, str, str]]]:
    """Merchant id -> (campaign id, name, description) of running campaigns the user could use there: the
    wallet's answer (`coupons_applicable_by_merchant`), composed from its two sides: the campaigns this
    user may use (per user, cached) and where each campaign applies (per process). A test checks the two
    agree on generated cases."""
    version, running = campaigns_running_cached()
    if not running:
        return {}
    usable = coupons_usable(user, ctx, traveller=traveller)
    if not usable:
        return {}
    # A campaign that ended or ran out since the answer was cached does not apply any more (the process copy
    # of the running campaigns is at most CAMPAIGNS_MAX_AGE_S old).
    live = {c.pk for c in running if (c.max_redemptions is None or c.redemptions < c.max_redemptions)
            and c.budget_account.balance > 0}
    out = {}
    for m, campaign_ids in campaigns_at_merchants(merchant_ids).items():
        offers = [(c, *usable[c]) for c in campaign_ids if c in usable and c in live]
        if offers:
            out[m] = offers
    return out


# --- Friends -----------------------------------------------------------------------------------------
NO_CIRCLE = "no-circle"  # the user has no friends or followees (until the circle changes: the key is dropped)
ANYWHERE = "anywhere"  # the answer covers every merchant (until a visit in the circle or the circle changes)

def friends_for(user, ctx: UserContext, merchant_ids: list[int], *, also: list[int] = ()) -> dict[int, tuple]:
    """Merchant id -> (friends who were there, the latest one's name): social's answer, cached per user.
    `(NO_CIRCLE, {})` is cached for a user without friends or followees: none anywhere, nothing to ask.
    `(ANYWHERE, answer)`: social's answer for every merchant, asked first (any page is covered, a radius in
    another city included); a circle with more than `FRIENDS_ANYWHERE_MAX_VISITS` visits is asked about the
    merchants wanted (`also` too: the rest of the list), and those are remembered beside the answer."""
    cached = ctx.friends
    if cached is not None and cached[0] == NO_CIRCLE:
        return {}
    wanted = set(merchant_ids)
    if cached is None or (cached[0] != ANYWHERE and not wanted <= cached[0]):
        answer = (integrations.friends_anywhere(user=user, max_visits=conf.FRIENDS_ANYWHERE_MAX_VISITS)
                  if cached is None else None)
        if answer is not None:
            checked = ANYWHERE
        else:
            checked = frozenset(wanted | set(also) | (set(cached[0]) if cached else set()))
            answer = integrations.friends_here(user=user, merchant_ids=sorted(checked))
        cached = (checked, {m: (len(v), str(v[0])) for m, v in answer.items() if v})
        ctx.friends = cached
        ctx.dirty[friends_key(ctx.user_id)] = cached
    return {m: cached[1][m] for m in merchant_ids if m in cached[1]}


# --- Warming with the list -------------------------------------------------------------------------
def user_contexts_load(user_ids: Sequence[int]) -> dict[int, tuple]:
    """{user id: (user row, UserContext)} for the users that exist: the rows from authentication's cache and
    the per-user caches in one round trip each, trips filled from one query for users whose trips are not
    cached (marked dirty, for `user_contexts_warm` to write). What a list build needs of each user before it
    builds, and what the warming after it starts from, so neither reads what the other has."""
    from superapp.accounts.authentication import users_get_cached

    users = users_get_cached(user_ids)
    keys = {pk: _context_keys(pk, list_key=None, also=()) for pk in users}
    found = cache.get_many([key for pk_keys in keys.values() for key in pk_keys])
    contexts = {pk: (user, UserContext(user_id=pk, trips=found.get(keys[pk][0]), coupons=found.get(keys[pk][1]),
                                       friends=found.get(keys[pk][2])))
                for pk, user in users.items()}
    cold = [user for user, ctx in contexts.values() if ctx.trips is None]
    if cold:
        for pk, trips in users_trips(cold).items():
            ctx = contexts[pk][1]
            ctx.trips = trips
            ctx.dirty[trips_key(pk)] = trips
    return contexts


def list_cities(user, trips: list[CachedTrip], today: date) -> set[int]:
    """The cities a user's materialised list covers: home, current city and the destinations of planned
    trips not over yet (a day of slack for time zones ahead of the server's date)."""
    cities = {c for c in (user.home_city_id, user.current_city_id) if c}
    cities.update(t.destination_id for t in trips if t.ends_on >= today - timedelta(days=1))
    return cities


def user_contexts_warm(lists: dict[int, list[int]], *, at: datetime, contexts: dict[int, tuple] | None = None) -> None:
    """Complete the per-user caches a page reads (the user row authentication reads, trips, the campaigns the
    user may use, friends at the merchants of their list) for users whose list was just built, so their pages
    meet warm caches; one write for all. `lists`: user id -> the merchant ids of their list; `contexts`: what
    `user_contexts_load` returned for them (read here if not given). Only what is missing or does not cover
    the new list is computed: after a view, a rebuilt list usually needs no query here at all."""
    if contexts is None:
        contexts = user_contexts_load(list(lists))
    contexts = {pk: contexts[pk] for pk in lists if pk in contexts}
    # Users with no cached friends answer: which of them have a circle at all (the others' answer is known).
    uncached = [pk for pk, (_, ctx) in contexts.items() if ctx.friends is None]
    with_friends = integrations.users_with_friends(user_ids=uncached) if uncached else set()
    dirty: dict = {}
    for pk, (user, ctx) in contexts.items():
        coupons_usable(user, ctx, traveller=is_traveller(user, ctx, at))
        if with_friends is None or pk in with_friends or ctx.friends is not None:
            friends_for(user, ctx, lists[pk])  # asks social only if the cached answer does not cover the list
        else:  # social's answer for a user without friends or followees, for any merchant
            ctx.dirty[friends_key(pk)] = (NO_CIRCLE, {})
        dirty.update(ctx.dirty)
    if dirty:
        cache.set_many(dirty, timeout=conf.CONTEXT_TTL_S)


# --- Invalidation (signal receivers; cache only, no business logic) -----------------------------------
def _delete_now(keys: list[str]) -> None:
    with contextlib.suppress(Exception):  # a cache outage: the entries expire on their own
        cache.delete_many(keys)


def _delete(keys: list[str]) -> None:
    """Drop the entries now and again once the writer's transaction commits: a page served in between reads
    the rows as they were before the write (not committed yet) and could cache them again until they expire."""
    from django.db import transaction

    _delete_now(keys)
    transaction.on_commit(lambda: _delete_now(keys))


def on_trip_changed(sender, instance, **kwargs) -> None:
    from django.db import transaction

    from recommender.serving import materialise

    _delete([trips_key(instance.user_id)])
    # A new destination is a city the user's list should cover.
    user_id = instance.user_id
    transaction.on_commit(lambda: materialise.candidate_list_rebuild_soon(user_id))


def on_coupon_changed(sender, instance, **kwargs) -> None:
    _delete([coupons_key(instance.user_id)])


def users_context_invalidate(user_ids: Sequence[int]) -> None:
    """After these users' own activity (a payment may end "new users only")."""
    _delete([coupons_key(user_id) for user_id in user_ids])


def on_visit_changed(sender, instance, **kwargs) -> None:
    """A check-in or review in someone's circle: their friends and followers see it in "friends were here"."""
    if not getattr(instance, "merchant_id", None):
        return
    from superapp.social.models import Follow, Friendship

    author = instance.author_id
    users = set(Friendship.objects.filter(friend_id=author).values_list("user_id", flat=True))
    users |= set(Follow.objects.filter(followee_id=author).values_list("follower_id", flat=True))
    _delete([friends_key(u) for u in users])


def on_circle_changed(sender, instance, **kwargs) -> None:
    ids = [getattr(instance, name) for name in ("user_id", "friend_id", "follower_id", "followee_id",
                                                "blocker_id", "blocked_id") if getattr(instance, name, None)]
    _delete([friends_key(u) for u in ids])


def connect_signals() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from merchants.models import Trip
    from payments.models import Campaign, Coupon
    from recommender.serving.catalogue import campaigns_invalidate
    from superapp.social.models import Block, Follow, Friendship, Post

    for signal in (post_save, post_delete):
        signal.connect(on_trip_changed, sender=Trip, dispatch_uid=f"recs-ctx-trip-{signal}")
        signal.connect(on_coupon_changed, sender=Coupon, dispatch_uid=f"recs-ctx-coupon-{signal}")
        signal.connect(on_visit_changed, sender=Post, dispatch_uid=f"recs-ctx-post-{signal}")
        signal.connect(campaigns_invalidate, sender=Campaign, dispatch_uid=f"recs-campaigns-{signal}")
        for model in (Follow, Friendship, Block):
            signal.connect(on_circle_changed, sender=model, dispatch_uid=f"recs-ctx-{model.__name__}-{signal}")
    for through in (Campaign.cities.through, Campaign.merchants.through):
        m2m_changed.connect(campaigns_invalidate, sender=through, dispatch_uid=f"recs-campaigns-{through.__name__}")
