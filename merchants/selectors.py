"""Reads of merchants, opening hours and trips. Other apps (the recommender, the wallet) call these.

- `merchants_search(...)`: a filtered queryset (text, city, vertical, category and its descendants,
  wallet, tax-free, price level, open now in each merchant's own time zone).
- `merchants_nearby(...)`: the same filters around a point, sorted by great-circle distance; a bounding box
  on the indexed latitude/longitude columns narrows the candidates, the exact haversine decides.
- `merchant_is_open(merchant, at)`, `merchants_open_now_ids(ids, at)`: opening-hours checks.
- `active_trip(user, at)`, `user_current_city(user, at)`: where a user is, for travellers' features.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from datetime import timezone as dt_timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from merchants import conf
from merchants.exceptions import (
    InvalidLatitude,
    InvalidLongitude,
    InvalidRadius,
    MerchantNotFound,
    RadiusTooLarge,
    UnknownCategory,
    UnknownCity,
    UnknownVertical,
)
from merchants.models import (
    Category,
    City,
    Merchant,
    MerchantStaff,
    OpeningException,
    OpeningHours,
    SavedMerchant,
    Trip,
    TripReadStatus,
    TripStatus,
    Vertical,
)
from superapp.geo import EARTH_RADIUS_M, haversine_m

# --- Time zones ---------------------------------------------------------------------------------
_FIXED_OFFSET = re.compile(r"^UTC([+-])(\d{2}):(\d{2})$")


@lru_cache(maxsize=1024)
def tz_for(name: str) -> tzinfo:
    """An IANA zone name, or a fixed offset written `UTC+05:30` (imported venues only know their offset).
    Unknown names fall back to UTC rather than failing a whole search."""
    match = _FIXED_OFFSET.match(name or "")
    if match:
        sign = 1 if match.group(1) == "+" else -1
        return dt_timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def is_valid_time_zone(name: str) -> bool:
    if _FIXED_OFFSET.match(name or ""):
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def fixed_offset_name(offset_minutes: int) -> str:
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


# --- Opening hours ------------------------------------------------------------------------------
def _covers_today(opens: time, closes: time, at: time) -> bool:
    """The part of an interval that lies on its own day: [opens, closes), or [opens, 24:00) overnight."""
    if closes > opens:
        return opens <= at < closes
    return at >= opens


def _spills_into(opens: time | None, closes: time | None, at: time) -> bool:
    """The part of an overnight interval that lies on the next day: [00:00, closes)."""
    return opens is not None and closes is not None and closes <= opens and at < closes


def is_open_with(*, hours: Iterable[tuple[int, time, time]],
                 exceptions: Iterable[tuple[date, time | None, time | None]], zone: tzinfo, at: datetime) -> bool:
    """The opening rules: weekly `(weekday, opens, closes)` intervals in `zone`, replaced on a local date by
    that date's exceptions `(date, opens, closes)` (no times = closed); overnight intervals spill into the
    next day."""
    local = at.astimezone(zone)
    today, now_t = local.date(), local.time().replace(tzinfo=None)
    yesterday = today - timedelta(days=1)
    relevant = [e for e in exceptions if e[0] in (today, yesterday)]
    weekly = list(hours)

    def schedule(day: date) -> list[tuple[time | None, time | None]]:
        special = [(opens, closes) for d, opens, closes in relevant if d == day]
        if special:
            return special  # closed-all-day rows carry (None, None) and open nothing
        return [(opens, closes) for weekday, opens, closes in weekly if weekday == day.weekday()]

    if any(o is not None and _covers_today(o, c, now_t) for o, c in schedule(today)):
        return True
    return any(_spills_into(o, c, now_t) for o, c in schedule(yesterday))


def time_us(value: time) -> int:
    """A wall-clock time as microseconds since midnight (how `open_weekly_mask` compares times)."""
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond


def open_weekly_mask(*, weekday: np.ndarray, opens_us: np.ndarray, closes_us: np.ndarray, today: np.ndarray,
                     yesterday: np.ndarray, now_us: np.ndarray) -> np.ndarray:
    """`is_open_with` for weekly intervals without exceptions, vectorised over many intervals: which of them
    make their merchant open now. Each interval comes with its merchant's local weekday today, yesterday and
    the local time (`time_us`), computed in the merchant's zone as `is_open_with` computes them. A merchant is
    open when any of its intervals is (tests hold this equal to `is_open_with`)."""
    same_day = closes_us > opens_us
    covers_today = (weekday == today) & np.where(same_day, (opens_us <= now_us) & (now_us < closes_us),
                                                 now_us >= opens_us)
    spills = (weekday == yesterday) & ~same_day & (now_us < closes_us)
    return covers_today | spills


def merchant_is_open(merchant: Merchant, at: datetime | None = None) -> bool:
    """Open at `at` (default now) in the merchant's own time zone, honouring exceptions and intervals that
    cross midnight. Uses prefetched `opening_hours`/`opening_exceptions` when present (no extra queries
    then), so callers looping over a page should prefetch them (`merchants_with_hours`)."""
    return is_open_with(
        hours=[(h.weekday, h.opens, h.closes) for h in merchant.opening_hours.all()],
        exceptions=[(e.date, e.opens, e.closes) for e in merchant.opening_exceptions.all()],
        zone=tz_for(merchant.time_zone), at=at or timezone.now())


def _open_at_local_q(local_day: date, local_time: time) -> Q:
    """SQL condition: open at this local date and time (for merchants of one time zone)."""
    yesterday = local_day - timedelta(days=1)
    exc = OpeningException.objects.filter(merchant=OuterRef("pk"))
    hours = OpeningHours.objects.filter(merchant=OuterRef("pk"))
    overnight = Q(closes__lte=F("opens"))
    covers_today = Q(opens__lte=local_time) & (Q(closes__gt=local_time) | overnight)
    spills = overnight & Q(closes__gt=local_time)
    has_exc_today = Exists(exc.filter(date=local_day))
    has_exc_yesterday = Exists(exc.filter(date=yesterday))
    return (
        (~has_exc_today & Exists(hours.filter(covers_today, weekday=local_day.weekday())))
        | Exists(exc.filter(covers_today, date=local_day, opens__isnull=False))
        | (~has_exc_yesterday & Exists(hours.filter(spills, weekday=yesterday.weekday())))
        | Exists(exc.filter(spills, date=yesterday, opens__isnull=False))
    )


def merchants_filter_open(queryset: QuerySet[Merchant], *, at: datetime | None = None) -> QuerySet[Merchant]:
    """Keep merchants open at `at` in their own time zone. One small query finds the time zones present
    among the candidates; each zone then gets its own local date/time condition, all in one SQL query."""
    at = at or timezone.now()
    zones = sorted(set(queryset.order_by().values_list("time_zone", flat=True).distinct()))
    if not zones:
        return queryset.none()
    condition = Q(pk__in=[])
    for zone in zones:
        local = at.astimezone(tz_for(zone))
        condition |= Q(time_zone=zone) & _open_at_local_q(local.date(), local.time().replace(tzinfo=None))
    return queryset.filter(condition)


def merchants_open_now_ids(merchant_ids: Iterable[int], *, at: datetime | None = None) -> set[int]:
    """The subset of `merchant_ids` open at `at` (default now), in two queries whatever the number of ids."""
    ids = list(merchant_ids)
    if not ids:
        return set()
    return set(merchants_filter_open(Merchant.objects.filter(pk__in=ids), at=at).values_list("pk", flat=True))


# --- Categories ---------------------------------------------------------------------------------
def category_descendant_ids(category: Category) -> list[int]:
    """The category and everything below it (one query over the small category table)."""
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    found, stack = [], [category.pk]
    while stack:
        pk = stack.pop()
        found.append(pk)
        stack.extend(children.get(pk, []))
    return found


def categories_tree() -> list[dict]:
    """All categories as nested dicts (one query)."""
    nodes = {c.pk: {"id": c.pk, "slug": c.slug, "name": c.name, "vertical": c.vertical, "children": []}
             for c in Category.objects.all()}
    parents = dict(Category.objects.values_list("pk", "parent_id"))
    roots = []
    for pk, node in nodes.items():
        parent = parents.get(pk)
        (nodes[parent]["children"] if parent in nodes else roots).append(node)
    return roots


def _id_or_slug(value: str | int) -> tuple[str, dict]:
    """The text a client sent for a city or category and the lookup it means: an id (digits that fit a bigint)
    or a slug."""
    text = str(value).strip()
    return text, ({"pk": int(text)} if text.isdigit() and len(text) < 19 else {"slug": text})


def city_resolve(value: str | int) -> City:
    """A city by id or slug, or `unknown_city`."""
    text, lookup = _id_or_slug(value)
    city = City.objects.filter(**lookup).first()
    if city is None:
        raise UnknownCity(f"Unknown city {text!r}.", details={"city": text})
    return city


def category_resolve(value: str | int) -> Category:
    text, lookup = _id_or_slug(value)
    category = Category.objects.filter(**lookup).first()
    if category is None:
        raise UnknownCategory(f"Unknown category {text!r}.", details={"category": text})
    return category


# --- Search -------------------------------------------------------------------------------------
def merchants_with_hours(queryset: QuerySet[Merchant]) -> QuerySet[Merchant]:
    """What a list page needs to render (city, categories, hours, exceptions) in a fixed number of queries."""
    today = timezone.now().date()
    return queryset.select_related("city").prefetch_related(
        "categories",
        "opening_hours",
        Prefetch("opening_exceptions",
                 queryset=OpeningException.objects.filter(date__gte=today - timedelta(days=2),
                                                          date__lte=today + timedelta(days=14))),
    )


def merchants_search(*, q: str | None = None, city: City | str | int | None = None, vertical: str | None = None,
                     category: Category | str | int | None = None, accepts_wallet: bool | None = None,
                     tax_free: bool | None = None, open_now: bool | None = None,
                     price_level: int | Iterable[int] | None = None, at: datetime | None = None,
                     include_inactive: bool = False) -> QuerySet[Merchant]:
    """Active merchants matching every given filter (None = no filter). Raises `unknown_city`,
    `unknown_category` and `unknown_vertical` for values that do not exist."""
    queryset = Merchant.objects.all()
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    if city not in (None, ""):
        city_obj = city if isinstance(city, City) else city_resolve(city)
        queryset = queryset.filter(city=city_obj)
    if vertical not in (None, ""):
        if vertical not in Vertical.values:
            raise UnknownVertical(f"Unknown vertical {vertical!r}.", details={"vertical": vertical,
                                                                              "allowed": Vertical.values})
        queryset = queryset.filter(vertical=vertical)
    if category not in (None, ""):
        category_obj = category if isinstance(category, Category) else category_resolve(category)
        through = Merchant.categories.through.objects.filter(
            merchant=OuterRef("pk"), category_id__in=category_descendant_ids(category_obj))
        queryset = queryset.filter(Exists(through))
    if accepts_wallet is not None:
        queryset = queryset.filter(accepts_wallet=accepts_wallet)
    if tax_free is not None:
        queryset = queryset.filter(tax_free=tax_free)
    if price_level is not None:
        levels = [price_level] if isinstance(price_level, int) else list(price_level)
        queryset = queryset.filter(price_level__in=levels)
    if q:
        text = q.strip()
        in_category = Merchant.categories.through.objects.filter(
            merchant=OuterRef("pk"), category__name__icontains=text)
        queryset = queryset.filter(Q(name__icontains=text) | Q(description__icontains=text)
                                   | Q(address__icontains=text) | Exists(in_category))
    if open_now:
        queryset = merchants_filter_open(queryset, at=at)
    return queryset


# --- Nearby -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BoundingBox:
    min_lat: float
    max_lat: float
    lon_ranges: tuple[tuple[float, float], ...]  # one range, two across the antimeridian, () = any longitude

    def as_q(self) -> Q:
        condition = Q(latitude__gte=self.min_lat, latitude__lte=self.max_lat)
        if self.lon_ranges:
            lon = Q(pk__in=[])
            for low, high in self.lon_ranges:
                lon |= Q(longitude__gte=low, longitude__lte=high)
            condition &= lon
        return condition


def bounding_box(lat: float, lon: float, radius_m: float) -> BoundingBox:
    """Smallest lat/lon box containing the spherical cap of `radius_m` around (lat, lon).

    The longitude half-width is asin(sin(r)/cos(lat)) (tangent meridians, J. P. Matuschek), which is
    exact on the sphere; if the cap reaches a pole, every longitude qualifies; if it crosses the
    antimeridian, the longitude range splits in two."""
    angular = radius_m / EARTH_RADIUS_M
    dlat = math.degrees(angular)
    min_lat, max_lat = lat - dlat, lat + dlat
    if max_lat >= 90 or min_lat <= -90:
        return BoundingBox(max(min_lat, -90.0), min(max_lat, 90.0), ())
    dlon = math.degrees(math.asin(min(1.0, math.sin(angular) / math.cos(math.radians(lat)))))
    low, high = lon - dlon, lon + dlon
    if high - low >= 360:
        return BoundingBox(min_lat, max_lat, ())
    if low < -180:
        return BoundingBox(min_lat, max_lat, ((low + 360, 180.0), (-180.0, high)))
    if high > 180:
        return BoundingBox(min_lat, max_lat, ((low, 180.0), (-180.0, high - 360)))
    return BoundingBox(min_lat, max_lat, ((low, high),))


def validate_point(*, lat: float, lon: float, radius_m: float | None = None) -> None:
    if not (isinstance(lat, int | float) and math.isfinite(lat) and -90 <= lat <= 90):
        raise InvalidLatitude(details={"lat": lat})
    if not (isinstance(lon, int | float) and math.isfinite(lon) and -180 <= lon <= 180):
        raise InvalidLongitude(details={"lon": lon})
    if radius_m is not None:
        if not (math.isfinite(radius_m) and radius_m > 0):
            raise InvalidRadius(details={"radius_m": radius_m})
        if radius_m > conf.NEARBY_MAX_RADIUS_M:
            raise RadiusTooLarge(f"The radius is at most {conf.NEARBY_MAX_RADIUS_M} m.",
                                 details={"radius_m": radius_m, "max_radius_m": conf.NEARBY_MAX_RADIUS_M})


def merchants_nearby_ids(*, lat: float, lon: float, radius_m: float, limit: int = 20,
                         queryset: QuerySet[Merchant] | None = None, open_now: bool = False,
                         at: datetime | None = None) -> list[tuple[int, float]]:
    """(merchant id, distance in metres) within `radius_m`, nearest first, at most `limit`. One query (two with
    `open_now`): the bounding box on the (latitude, longitude) index, then exact haversine in Python.

    Pass `open_now` here rather than to `merchants_search`: the time zones are then looked up among the
    merchants in the box only, not among every merchant matching the other filters."""
    validate_point(lat=lat, lon=lon, radius_m=radius_m)
    base = queryset if queryset is not None else Merchant.objects.filter(is_active=True)
    boxed = base.filter(bounding_box(lat, lon, radius_m).as_q())
    if open_now:
        boxed = merchants_filter_open(boxed, at=at)
    candidates = boxed.values_list("pk", "latitude", "longitude")
    found = []
    for pk, m_lat, m_lon in candidates.order_by():
        distance = haversine_m(lat, lon, m_lat, m_lon)
        if distance <= radius_m:
            found.append((pk, distance))
    found.sort(key=lambda item: (item[1], item[0]))
    return found[:limit]


def merchants_nearby(*, lat: float, lon: float, radius_m: float, limit: int = 20,
                     queryset: QuerySet[Merchant] | None = None, open_now: bool = False,
                     at: datetime | None = None) -> list[tuple[Merchant, float]]:
    """Merchants (with city, categories and hours prefetched) within `radius_m`, nearest first. Pass
    `queryset=merchants_search(...)` (without `open_now`) to combine with the other filters."""
    hits = merchants_nearby_ids(lat=lat, lon=lon, radius_m=radius_m, limit=limit, queryset=queryset,
                                open_now=open_now, at=at)
    if not hits:
        return []
    by_id = merchants_with_hours(Merchant.objects.filter(pk__in=[pk for pk, _ in hits])).in_bulk()
    return [(by_id[pk], distance) for pk, distance in hits if pk in by_id]


def merchant_get(*, merchant_id: int, include_inactive: bool = False) -> Merchant:
    queryset = merchants_with_hours(Merchant.objects.all())
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    merchant = queryset.filter(pk=merchant_id).first()
    if merchant is None:
        raise MerchantNotFound()
    return merchant


# --- Trips --------------------------------------------------------------------------------------
def active_trip(user, at: datetime | None = None) -> Trip | None:
    """The user's trip under way at `at` (dates are local to the destination); the latest-starting one if
    several overlap."""
    if user is None or not getattr(user, "pk", None):
        return None
    at = at or timezone.now()
    utc_day = at.astimezone(UTC).date()
    # Local dates differ from the UTC date by at most a day: prefilter in SQL, decide per destination.
    candidates = (Trip.objects.filter(user_id=user.pk, status=TripStatus.PLANNED,
                                      starts_on__lte=utc_day + timedelta(days=1),
                                      ends_on__gte=utc_day - timedelta(days=1))
                  .select_related("destination").order_by("-starts_on", "-pk"))
    for trip in candidates:
        if trip_status(trip, at=at) == TripReadStatus.IN_PROGRESS:
            return trip
    return None


def trip_status(trip: Trip, *, at: datetime | None = None) -> str:
    """The one rule for where a trip stands at `at`, by the local date at its destination: `in_progress` from
    its first to its last day, `completed` after, `planned` before; `cancelled` stays. Nothing stores the first
    two: reads compute them, so they are right whether or not a job has run."""
    if trip.status == TripStatus.CANCELLED:
        return TripReadStatus.CANCELLED
    local_day = (at or timezone.now()).astimezone(tz_for(trip.destination.time_zone)).date()
    if local_day < trip.starts_on:
        return TripReadStatus.PLANNED
    return TripReadStatus.IN_PROGRESS if local_day <= trip.ends_on else TripReadStatus.COMPLETED


def user_current_city(user, at: datetime | None = None) -> City | None:
    """Where the app should consider the user to be: an active trip's destination, else their profile's
    current city (else home city)."""
    return user_location(user, at).city


def user_is_traveller(user, at: datetime | None = None, *, in_countries: set[str] | None = None) -> bool:
    """Away from home, from evidence only (it decides tax-free shopping and travellers-only offers): the user's
    operator-verified document country (`User.verified_country`) is not where the money is spent
    (`in_countries`, e.g. the merchant's or the campaign's countries) or, when that is not known, not the
    destination of a trip under way. The profile's home/current city is the user's to edit: not evidence."""
    residence = getattr(user, "verified_country", "")
    if not residence:
        return False
    if not in_countries:
        trip = active_trip(user, at)
        in_countries = {trip.destination.country_code} if trip else set()
    return bool(in_countries) and residence not in in_countries


def opening_exceptions_window(*, today: date | None = None) -> dict[int, list[tuple[date, time | None, time | None]]]:
    """Merchant id -> its special days from two days back to a week ahead of `today` (UTC date): every local
    "today" and "yesterday" of every time zone until an index built now is rebuilt (the nearby index and the
    recommender's catalogue keep them beside the weekly hours)."""
    today = today or timezone.now().date()
    exceptions: dict[int, list[tuple[date, time | None, time | None]]] = {}
    for merchant_id, day, opens, closes in OpeningException.objects.filter(
            date__gte=today - timedelta(days=2), date__lte=today + timedelta(days=7)).values_list(
            "merchant_id", "date", "opens", "closes"):
        exceptions.setdefault(merchant_id, []).append((day, opens, closes))
    return exceptions


def trips_for_user(*, user) -> QuerySet[Trip]:
    return trips_for_users(users=[user])


def trips_for_users(*, users) -> QuerySet[Trip]:
    return Trip.objects.filter(user__in=users).select_related("destination")


def away_from_home(*, home_city_id: int | None, city_id: int | None) -> bool:
    """The traveller rule for what the app shows and suggests: the city the user is considered to be in is
    known and is not their home city. Money eligibility (tax-free, travellers-only offers) is another rule that
    reads evidence, not the profile: `user_is_traveller`."""
    return bool(city_id and home_city_id and city_id != home_city_id)


@dataclass(frozen=True)
class UserLocation:
    city: City | None
    trip: Trip | None
    is_traveller: bool


def user_location(user, at: datetime | None = None) -> UserLocation:
    """Where the app considers the user to be at `at` (an active trip's destination, else the profile's current
    city, else home) and whether that makes them a traveller."""
    trip = active_trip(user, at)
    if trip is not None:
        city = trip.destination
    elif getattr(user, "current_city_id", None):
        city = user.current_city
    elif getattr(user, "home_city_id", None):
        city = user.home_city
    else:
        city = None
    return UserLocation(city=city, trip=trip, is_traveller=away_from_home(
        home_city_id=getattr(user, "home_city_id", None), city_id=city.pk if city else None))


def merchant_is_saved(*, user, merchant: Merchant) -> bool:
    return SavedMerchant.objects.filter(user=user, merchant=merchant).exists()


def saved_merchants_for_user(*, user) -> QuerySet[SavedMerchant]:
    """A user's saved merchants with what their cards show (city, categories, hours), newest last by pk."""
    return SavedMerchant.objects.filter(user=user).select_related("merchant__city").prefetch_related(
        "merchant__categories", "merchant__opening_hours", "merchant__opening_exceptions")


def staff_roles_for_user(*, user) -> QuerySet[MerchantStaff]:
    """The merchants a user works for, one row per role, with what their cards show."""
    return MerchantStaff.objects.filter(user=user).select_related("merchant__city").prefetch_related(
        "merchant__categories", "merchant__opening_hours", "merchant__opening_exceptions")


MERCHANT_CARD_FIELDS = ["id", "name", "vertical", "address", "latitude", "longitude", "time_zone", "price_level",
                        "languages", "photos", "currency", "accepts_wallet", "tax_free", "rating_count", "rating_sum",
                        "city_id", "city__slug", "city__name", "city__country_code", "city__currency",
                        "city__time_zone"]


def merchant_card_rows(*, ids: Iterable[int] | QuerySet) -> dict[int, dict]:
    """The static part of nearby list items (the `MerchantNearbySerializer` shape without `distance_m` and
    `is_open_now`) for merchant ids, from two plain queries without model instances."""
    rows = {row["id"]: row for row in Merchant.objects.filter(pk__in=ids).values(*MERCHANT_CARD_FIELDS)}
    categories: dict[int, list[dict]] = {}
    links = (Merchant.categories.through.objects.filter(merchant_id__in=ids)
             .order_by("category__vertical", "category__slug")
             .values_list("merchant_id", "category_id", "category__slug", "category__name", "category__vertical"))
    for merchant_id, category_id, slug, name, vertical in links:
        categories.setdefault(merchant_id, []).append({"id": category_id, "slug": slug, "name": name,
                                                       "vertical": vertical})
    cards = {}
    for pk, row in rows.items():
        city = None
        if row["city_id"] is not None:
            city = {"id": row["city_id"], "slug": row["city__slug"], "name": row["city__name"],
                    "country_code": row["city__country_code"], "currency": row["city__currency"],
                    "time_zone": row["city__time_zone"]}
        count = row["rating_count"]
        cards[pk] = {
            "id": pk, "name": row["name"], "vertical": row["vertical"], "city": city,
            "categories": categories.get(pk, []), "address": row["address"], "latitude": row["latitude"],
            "longitude": row["longitude"], "time_zone": row["time_zone"], "price_level": row["price_level"],
            "languages": row["languages"], "photos": row["photos"], "currency": row["currency"],
            "accepts_wallet": row["accepts_wallet"], "tax_free": row["tax_free"],
            "rating_average": round(row["rating_sum"] / count, 2) if count else None, "rating_count": count,
        }
    return cards
