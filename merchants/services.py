"""Writes for merchants (listing edits by staff, hours, favourites, rating summaries, imported placeholders)
and trips. Other apps change merchants only through these functions.

Bookings live in `bookings.services`, city services (bills, transit cards, notifications) in
`cityservices.services`."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from merchants.exceptions import InvalidOpeningHours, InvalidTripDates, NotMerchantStaff, TripCompleted, TripInPast
from merchants.geo_index import geo_index_invalidate
from merchants.models import (
    City,
    Merchant,
    MerchantStaff,
    OpeningException,
    OpeningHours,
    SavedMerchant,
    StaffRole,
    Trip,
    TripReadStatus,
    TripStatus,
)
from merchants.selectors import is_valid_time_zone, merchant_get, trip_status, tz_for
from superapp.db import create_once
from superapp.events import InteractionKind, interaction_on_commit

# `tax_free` is not here: whether a shop may sell VAT-free is the operator's decision (admin), never the owner's.
EDITABLE_FIELDS = {"name", "description", "address", "latitude", "longitude", "price_level", "languages",
                   "photos", "accepts_wallet", "time_zone", "categories", "is_active"}
EDITOR_ROLES = (StaffRole.OWNER, StaffRole.MANAGER)


def merchant_staff_role(*, merchant: Merchant, user) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return MerchantStaff.objects.filter(merchant=merchant, user=user).values_list("role", flat=True).first()


def merchant_staff_require(*, merchant: Merchant, user, roles: tuple[str, ...] = EDITOR_ROLES) -> str:
    """The user's role at the merchant if it is one of `roles`, else `not_merchant_staff` (403)."""
    role = merchant_staff_role(merchant=merchant, user=user)
    if role not in roles:
        raise NotMerchantStaff(details={"required_roles": list(roles)})
    return role


def merchant_for_staff(*, merchant_id: int, user, roles: tuple[str, ...] = EDITOR_ROLES) -> Merchant:
    """A merchant (active or not) that the user works for in one of `roles`: `merchant_not_found` (404), else
    `not_merchant_staff` (403). The staff-only endpoints start with it."""
    merchant = merchant_get(merchant_id=merchant_id, include_inactive=True)
    merchant_staff_require(merchant=merchant, user=user, roles=roles)
    return merchant


def merchant_update(*, merchant: Merchant, actor, data: dict[str, Any]) -> Merchant:
    """Staff (owner/manager) edit the listing. `data` is validated by the API serializer."""
    merchant_staff_require(merchant=merchant, user=actor)
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if "time_zone" in data and not is_valid_time_zone(data["time_zone"]):
        raise InvalidOpeningHours("Unknown time zone.", code="invalid_time_zone",
                                  details={"time_zone": data["time_zone"]})
    categories = data.pop("categories", None)
    with transaction.atomic():
        for field, value in data.items():
            setattr(merchant, field, value)
        merchant.save()
        if categories is not None:
            merchant.categories.set(categories)
    return merchant


def _check_interval(opens: time | None, closes: time | None) -> None:
    if (opens is None) != (closes is None):
        raise InvalidOpeningHours("Give both `opens` and `closes`, or neither for a closed day.")


def opening_hours_replace(*, merchant: Merchant, actor, intervals: list[dict[str, Any]]) -> list[OpeningHours]:
    """Replace the weekly schedule. Each interval: weekday 0-6, opens, closes (closes <= opens crosses
    midnight). Overlapping intervals on one weekday are rejected."""
    merchant_staff_require(merchant=merchant, user=actor)
    by_day: dict[int, list[tuple[time, time]]] = {}
    for item in intervals:
        _check_interval(item["opens"], item["closes"])
        by_day.setdefault(item["weekday"], []).append((item["opens"], item["closes"]))
    for weekday, spans in by_day.items():
        spans.sort()
        for (o1, c1), (o2, _c2) in zip(spans, spans[1:], strict=False):
            if c1 <= o1 or c1 > o2:  # an overnight interval must be the day's last one
                raise InvalidOpeningHours("Opening intervals overlap.", details={"weekday": weekday})
    with transaction.atomic():
        merchant.opening_hours.all().delete()
        rows = OpeningHours.objects.bulk_create(
            OpeningHours(merchant=merchant, weekday=item["weekday"], opens=item["opens"], closes=item["closes"])
            for item in intervals)
        transaction.on_commit(geo_index_invalidate)
    return rows


def opening_exception_set(*, merchant: Merchant, actor, day: date, intervals: list[tuple[time, time]],
                          note: str = "") -> list[OpeningException]:
    """Special hours for one local date; no intervals = closed all day. Replaces that date's exceptions."""
    merchant_staff_require(merchant=merchant, user=actor)
    today = timezone.now().astimezone(tz_for(merchant.time_zone)).date()
    if day < today:
        raise InvalidOpeningHours("Special hours cannot be set for a past date.", code="date_in_past")
    for opens, closes in intervals:
        _check_interval(opens, closes)
    with transaction.atomic():
        merchant.opening_exceptions.filter(date=day).delete()
        rows = [OpeningException(merchant=merchant, date=day, opens=o, closes=c, note=note) for o, c in intervals]
        if not rows:
            rows = [OpeningException(merchant=merchant, date=day, note=note)]
        transaction.on_commit(geo_index_invalidate)
        return OpeningException.objects.bulk_create(rows)


def merchant_view_record(*, user, merchant: Merchant) -> None:
    """A detail view teaches the recommender; at most one view per user, merchant and hour counts."""
    if not getattr(user, "is_authenticated", False):
        return
    hour = timezone.now().strftime("%Y%m%d%H")
    interaction_on_commit(user_id=user.pk, merchant_id=merchant.pk, kind=InteractionKind.VIEW,
                          source=f"view:{user.pk}:{merchant.pk}:{hour}")


def merchant_save(*, user, merchant: Merchant) -> tuple[SavedMerchant, bool]:
    """Favourite a merchant (idempotent); the first save emits a `save` interaction."""
    with transaction.atomic():
        saved, created = create_once(SavedMerchant, user=user, merchant=merchant)
        if not created:
            return saved, False
        interaction_on_commit(user_id=user.pk, merchant_id=merchant.pk, kind=InteractionKind.SAVE,
                              source=f"save:{saved.pk}")
    return saved, True


def merchant_unsave(*, user, merchant: Merchant) -> bool:
    deleted, _ = SavedMerchant.objects.filter(user=user, merchant=merchant).delete()
    return bool(deleted)


def trip_create(*, user, destination: City, starts_on: date, ends_on: date, title: str = "") -> Trip:
    if ends_on < starts_on:
        raise InvalidTripDates(details={"starts_on": str(starts_on), "ends_on": str(ends_on)})
    local_today = timezone.now().astimezone(tz_for(destination.time_zone)).date()
    if ends_on < local_today:
        raise TripInPast(details={"ends_on": str(ends_on), "today": str(local_today)})
    trip = Trip.objects.create(user=user, destination=destination, starts_on=starts_on, ends_on=ends_on,
                               title=title or f"Trip to {destination.name}")
    return trip


def trip_cancel(*, trip: Trip, now: datetime | None = None) -> Trip:
    """Cancel a planned trip or one under way (it stops making the user a traveller). A trip that has ended
    (`trip_status` says `completed` at `now`) is `trip_completed` (409), unchanged; cancelling twice is a no-op."""
    if trip_status(trip, at=now) == TripReadStatus.COMPLETED:
        raise TripCompleted(details={"ends_on": str(trip.ends_on)})
    if trip.status != TripStatus.CANCELLED:
        trip.status = TripStatus.CANCELLED
        trip.save(update_fields=["status"])
    return trip


# --- Rating summaries (the reviews are social's; the summary on the merchant is ours) --------------------------
def merchant_rating_add(*, merchant_id: int, count: int, total: int) -> None:
    """Add `count` reviews with `total` stars to the merchant's rating summary (negative to remove), inside the
    caller's transaction: F() makes the database add to the committed value under the row lock, so concurrent
    reviews never lose an update. After commit the nearby index is told to rebuild, so nearby shows the new
    rating at once (an UPDATE sends no `post_save`)."""
    Merchant.objects.filter(pk=merchant_id).update(rating_count=F("rating_count") + count,
                                                   rating_sum=F("rating_sum") + total)
    transaction.on_commit(geo_index_invalidate)


def merchant_ratings_replace(*, ratings: dict[int, tuple[int, int]]) -> None:
    """Set every merchant's rating summary to `ratings[merchant_id] = (count, total stars)`, `(0, 0)` for the
    merchants not in it: a recount from the reviews (the social demo seed)."""
    with transaction.atomic():
        Merchant.objects.exclude(pk__in=list(ratings)).exclude(rating_count=0, rating_sum=0).update(
            rating_count=0, rating_sum=0)
        merchants = list(Merchant.objects.filter(pk__in=list(ratings)).only("pk"))
        for merchant in merchants:
            merchant.rating_count, merchant.rating_sum = ratings[merchant.pk]
        Merchant.objects.bulk_update(merchants, ["rating_count", "rating_sum"], batch_size=1000)
        transaction.on_commit(geo_index_invalidate)


# --- Imported items (the recommender's interaction import) -----------------------------------------------------
def _chunks(values: list, size: int = 2000):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def merchants_placeholder_ensure(*, external_ids: set[str], create: bool, vertical: str) -> tuple[dict[str, int], int]:
    """Map external ids to merchant pks; with `create`, add placeholder merchants (no city, no location, not
    accepting the wallet: recommendable only where serving does not filter by place) for unknown ones.
    Returns the map and how many were created. Bulk (the import runs over millions of rows)."""
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(external_ids)):
        found.update(Merchant.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
    missing = sorted(external_ids - set(found))
    created = 0
    if missing and create:
        Merchant.objects.bulk_create(
            [Merchant(name=f"Item {ext}"[:200], vertical=vertical, is_placeholder=True, external_id=ext,
                      accepts_wallet=False) for ext in missing], batch_size=2000, ignore_conflicts=True)
        for chunk in _chunks(missing):
            new = dict(Merchant.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
            created += len(new)
            found.update(new)
    return found, created
