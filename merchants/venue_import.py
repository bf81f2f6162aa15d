"""Import points of interest (venues) from CSV/TSV into merchants, idempotent on the external id.

The parsing is separate from the command so tests and other callers can import rows directly:
`venues_import(rows=..., mapping=ColumnMapping(...))` returns an `ImportSummary`.

Foursquare's NYC/Tokyo check-in files (Yang et al., TSMC 2014) are headerless TSV with one check-in per
line: user id, venue id, venue category id, venue category name, latitude, longitude, time-zone offset in
minutes, UTC time. A venue appears on many lines; the first valid line describes it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction
from django.utils.text import slugify

from merchants.geo_index import geo_index_invalidate
from merchants.models import Category, City, Merchant, Vertical
from merchants.selectors import fixed_offset_name, is_valid_time_zone, tz_for
from superapp.geo import haversine_m

FOURSQUARE_COLUMNS = ["user_id", "venue_id", "category_id", "category", "latitude", "longitude", "tz_offset",
                      "utc_time"]

# Foursquare category names -> our category slugs (the common ones; others get an imported category).
FOURSQUARE_CATEGORIES = {
    "Bar": "bar", "Pub": "bar", "Cocktail Bar": "bar", "Sports Bar": "bar", "Wine Bar": "bar", "Beer Garden": "bar",
    "Nightclub": "bar", "Coffee Shop": "cafe", "Café": "cafe", "Cafe": "cafe", "Tea Room": "cafe",
    "Sushi Restaurant": "sushi", "Ramen /  Noodle House": "ramen", "Ramen / Noodle House": "ramen",
    "Japanese Restaurant": "japanese", "Chinese Restaurant": "chinese", "Dim Sum Restaurant": "dim-sum",
    "Italian Restaurant": "italian", "Pizza Place": "pizza", "French Restaurant": "french",
    "American Restaurant": "american", "Burger Joint": "burger", "Fast Food Restaurant": "burger",
    "Hotel": "hotel", "Hostel": "hostel", "Museum": "museum", "Art Museum": "museum", "History Museum": "museum",
    "Science Museum": "museum", "Gym / Fitness Center": "fitness", "Gym": "fitness", "Movie Theater": "cinema",
    "Spa / Massage": "spa", "Spa": "spa", "Karaoke Box": "karaoke", "Department Store": "department-store",
    "Electronics Store": "electronics", "Clothing Store": "fashion", "Boutique": "fashion",
    "Jewelry Store": "watches", "Gift Shop": "souvenir", "Grocery Store": "supermarket",
    "Supermarket": "supermarket", "Convenience Store": "supermarket", "Food & Drink Shop": "supermarket",
    "Subway": "transit", "Train Station": "transit", "Bus Station": "transit", "Light Rail": "transit",
    "Parking": "parking", "Government Building": "public-office", "Post Office": "public-office",
    "Rental Car Location": "car-rental", "Tourist Information Center": "tour",
}
# Places that are not businesses: someone's home, a street, a whole neighbourhood.
NOT_VENUES = {"Home (private)", "Residential Building (Apartment / Condo)", "Road", "Neighborhood", "City",
              "States & Municipalities", "Building", "Office", "Housing Development", "Intersection"}
_VERTICAL_WORDS = [
    (Vertical.RESTAURANT, ("restaurant", "food", "café", "cafe", "coffee", "bar", "pub", "bakery", "diner", "joint",
                           "steakhouse", "brewery", "tea", "dessert", "snack", "bistro", "deli", "place")),
    (Vertical.SHOPPING, ("store", "shop", "mall", "market", "boutique", "outlet")),
    (Vertical.TRAVEL, ("hotel", "motel", "hostel", "airport", "travel", "ferry", "rental", "bed & breakfast")),
    (Vertical.CITY_SERVICE, ("station", "subway", "parking", "post office", "government", "bank")),
]


@dataclass
class ColumnMapping:
    """Which column holds what; names refer to the header (or to `columns` for headerless files)."""

    external_id: str
    latitude: str
    longitude: str
    name: str | None = None
    category: str | None = None
    city: str | None = None
    country: str | None = None
    tz_offset: str | None = None  # minutes east of UTC
    time_zone: str | None = None  # IANA name

    @classmethod
    def foursquare(cls) -> ColumnMapping:
        return cls(external_id="venue_id", latitude="latitude", longitude="longitude", category="category",
                   tz_offset="tz_offset")


@dataclass
class ImportSummary:
    rows: int = 0
    venues: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate_rows: int = 0
    rejected: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def reject(self, reason: str, line_no: int, detail: str) -> None:
        self.rejected[reason] += 1
        self.examples.setdefault(reason, f"line {line_no}: {detail}")

    def as_dict(self) -> dict:
        return {"rows": self.rows, "venues": self.venues, "imported": self.imported, "updated": self.updated,
                "unchanged": self.unchanged, "duplicate_rows": self.duplicate_rows,
                "rejected": sum(self.rejected.values()), "rejected_by_reason": dict(sorted(self.rejected.items())),
                "rejected_examples": dict(sorted(self.examples.items()))}


@dataclass
class _Venue:
    external_id: str
    name: str
    category: str
    latitude: float
    longitude: float
    city: City | None
    time_zone: str


class _Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _float(value: str, reason: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Rejected(reason, f"not a number: {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise _Rejected(reason, f"out of range: {value!r}")
    return number


class _CityIndex:
    def __init__(self, max_distance_km: float) -> None:
        self.cities = list(City.objects.all())
        self.by_key = {}
        for city in self.cities:
            self.by_key[city.slug.lower()] = city
            self.by_key[city.name.lower()] = city
        self.max_distance_m = max_distance_km * 1000

    def named(self, value: str) -> City | None:
        return self.by_key.get(value.strip().lower())

    def nearest(self, lat: float, lon: float, country: str | None = None) -> City | None:
        best, best_distance = None, self.max_distance_m
        for city in self.cities:
            if country and city.country_code != country.upper():
                continue
            distance = haversine_m(lat, lon, city.latitude, city.longitude)
            if distance <= best_distance:
                best, best_distance = city, distance
        return best


def _time_zone(*, row: dict[str, str], mapping: ColumnMapping, city: City | None) -> str:
    if mapping.time_zone and row.get(mapping.time_zone, "").strip():
        zone = row[mapping.time_zone].strip()
        if not is_valid_time_zone(zone):
            raise _Rejected("invalid_time_zone", f"unknown time zone {zone!r}")
        return zone
    if mapping.tz_offset and row.get(mapping.tz_offset, "").strip() != "":
        try:
            offset = int(float(row[mapping.tz_offset]))
        except ValueError:
            raise _Rejected("invalid_tz_offset", f"not a number: {row[mapping.tz_offset]!r}") from None
        if not -14 * 60 <= offset <= 14 * 60:
            raise _Rejected("invalid_tz_offset", f"offset {offset} min is beyond ±14 h")
        # Prefer the city's real zone (daylight saving included) when the offset is one it uses.
        if city is not None:
            zone = tz_for(city.time_zone)
            offsets = {int(datetime(2024, month, 15, tzinfo=UTC).astimezone(zone).utcoffset().total_seconds() // 60)
                       for month in (1, 7)}
            if offset in offsets:
                return city.time_zone
        return fixed_offset_name(offset)
    return city.time_zone if city is not None else "UTC"


def _parse(row: dict[str, str], mapping: ColumnMapping, cities: _CityIndex) -> _Venue:
    external_id = (row.get(mapping.external_id) or "").strip()
    if not external_id:
        raise _Rejected("missing_external_id", "empty external id")
    if len(external_id) > 64:
        raise _Rejected("external_id_too_long", f"{external_id[:20]}... is over 64 characters")
    latitude = _float(row.get(mapping.latitude, ""), "invalid_latitude", -90, 90)
    longitude = _float(row.get(mapping.longitude, ""), "invalid_longitude", -180, 180)
    category = (row.get(mapping.category) or "").strip() if mapping.category else ""
    if category in NOT_VENUES:
        raise _Rejected("not_a_venue", f"category {category!r} is not a business")
    country = (row.get(mapping.country) or "").strip() if mapping.country else ""
    city = None
    if mapping.city and (row.get(mapping.city) or "").strip():
        city = cities.named(row[mapping.city])
        if city is None:
            raise _Rejected("unknown_city", f"unknown city {row[mapping.city]!r}")
    else:
        city = cities.nearest(latitude, longitude, country or None)
    name = (row.get(mapping.name) or "").strip() if mapping.name else ""
    if not name:
        name = f"{category or 'Venue'} #{external_id[-6:]}"
    return _Venue(external_id=external_id, name=name[:200], category=category[:100], latitude=latitude,
                  longitude=longitude, city=city, time_zone=_time_zone(row=row, mapping=mapping, city=city))


class _Categories:
    """Maps category names to Category rows, creating an `imported-...` category under the guessed vertical."""

    def __init__(self) -> None:
        self.by_slug = {c.slug: c for c in Category.objects.all()}
        self.cache: dict[str, Category | None] = {}

    def for_name(self, name: str) -> Category | None:
        if not name:
            return None
        if name not in self.cache:
            slug = FOURSQUARE_CATEGORIES.get(name)
            if slug and slug in self.by_slug:
                self.cache[name] = self.by_slug[slug]
            else:
                self.cache[name] = self._imported(name)
        return self.cache[name]

    def _imported(self, name: str) -> Category:
        slug = f"imported-{slugify(name)[:100] or 'other'}"
        if slug not in self.by_slug:
            lowered = name.lower()
            vertical = next((v for v, words in _VERTICAL_WORDS if any(w in lowered for w in words)), Vertical.LEISURE)
            root = self.by_slug.get({"restaurant": "restaurant", "leisure": "leisure", "travel": "travel",
                                     "shopping": "shopping", "city_service": "city-service"}[vertical])
            self.by_slug[slug] = Category.objects.create(slug=slug, name=name[:100], vertical=vertical, parent=root)
        return self.by_slug[slug]


def venues_import(*, rows: Iterable[tuple[int, dict[str, str] | None, str]], mapping: ColumnMapping,
                  max_city_distance_km: float = 100.0, dry_run: bool = False, batch_size: int = 2000) -> ImportSummary:
    """Import `rows` = (line number, parsed row or None if malformed, reason if malformed).

    Idempotent on the external id: a second run updates nothing (all `unchanged`); a changed venue is
    `updated`; a placeholder merchant created by an interaction import gets its location and category."""
    summary = ImportSummary()
    cities = _CityIndex(max_city_distance_km)
    venues: dict[str, _Venue] = {}
    for line_no, row, problem in rows:
        summary.rows += 1
        if row is None:
            summary.reject("wrong_column_count", line_no, problem)
            continue
        try:
            venue = _parse(row, mapping, cities)
        except _Rejected as rejected:
            summary.reject(rejected.reason, line_no, rejected.detail)
            continue
        if venue.external_id in venues:
            summary.duplicate_rows += 1  # another check-in at a venue we already have
            continue
        venues[venue.external_id] = venue
    summary.venues = len(venues)

    with transaction.atomic():
        categories = _Categories()
        ids = list(venues)
        for start in range(0, len(ids), batch_size):
            _write_batch([venues[i] for i in ids[start:start + batch_size]], categories, summary)
        if dry_run:
            transaction.set_rollback(True)
        else:
            transaction.on_commit(geo_index_invalidate)
    return summary


def _write_batch(batch: list[_Venue], categories: _Categories, summary: ImportSummary) -> None:
    existing = {m.external_id: m for m in Merchant.objects.filter(external_id__in=[v.external_id for v in batch])
                .prefetch_related("categories")}
    to_create, to_update, links = [], [], []
    fields = ["name", "vertical", "city", "latitude", "longitude", "time_zone", "currency", "is_placeholder"]
    for venue in batch:
        category = categories.for_name(venue.category)
        values = {
            "name": venue.name, "vertical": category.vertical if category else Vertical.LEISURE,
            "city_id": venue.city.pk if venue.city else None,
            "latitude": venue.latitude, "longitude": venue.longitude, "time_zone": venue.time_zone,
            "currency": venue.city.currency if venue.city else "USD", "is_placeholder": False,
        }
        merchant = existing.get(venue.external_id)
        if merchant is None:
            merchant = Merchant(external_id=venue.external_id, accepts_wallet=False, **values)
            to_create.append((merchant, category))
            continue
        changed = any(getattr(merchant, f) != v for f, v in values.items())
        has_category = category is None or any(c.pk == category.pk for c in merchant.categories.all())
        if changed:
            for f, v in values.items():
                setattr(merchant, f, v)
            to_update.append(merchant)
        if not has_category:
            links.append((merchant, category))
        if changed or not has_category:
            summary.updated += 1
        else:
            summary.unchanged += 1
    Merchant.objects.bulk_create([m for m, _ in to_create])
    summary.imported += len(to_create)
    if to_update:
        Merchant.objects.bulk_update(to_update, fields)
    through = Merchant.categories.through
    through.objects.bulk_create(
        [through(merchant_id=m.pk, category_id=c.pk) for m, c in [*to_create, *links] if c is not None],
        ignore_conflicts=True)


def read_delimited(lines: Iterator[str], *, delimiter: str, columns: list[str] | None) -> Iterator[
        tuple[int, dict[str, str] | None, str]]:
    """Yield (line number, row dict or None, problem). With `columns`, the file has no header."""
    import csv

    reader = csv.reader(lines, delimiter=delimiter)
    header = columns
    for line_no, values in enumerate(reader, start=1):
        if not values or all(not v.strip() for v in values):
            continue
        if header is None:
            header = [v.strip() for v in values]
            continue
        if len(values) != len(header):
            yield line_no, None, f"{len(values)} columns, expected {len(header)}"
            continue
        yield line_no, dict(zip(header, values, strict=True)), ""
