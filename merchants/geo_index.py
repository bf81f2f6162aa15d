"""An in-process index of active merchants for the hot nearby path (`GET merchants/nearby`).

The database stays the source of truth; each serving process keeps a compact copy of what a nearby query
filters on (coordinates, vertical, city, wallet, tax-free, price level, time zone, weekly hours and the
exceptions around today) in NumPy arrays, so a nearby + open-now + vertical query costs a vectorised
bounding-box scan and a haversine over the few candidates instead of several SQL queries.

Freshness: writers call `geo_index_invalidate()` (merchant edits, hours, imports, seeding), which bumps a
version in the shared cache; a process checks that version at most once per `conf.GEO_INDEX_CHECK_S` and
rebuilds when it changed, and rebuilds anyway after `conf.GEO_INDEX_MAX_AGE_S` (for writes that bypass the
services, e.g. raw SQL); both are read when used.
The open-now decision uses the same rules as `selectors.merchant_is_open`.
"""

from __future__ import annotations

import time as time_module
from dataclasses import dataclass, field
from datetime import date, datetime, time

import numpy as np
from django.utils import timezone

from merchants import conf
from merchants.models import Merchant, OpeningHours, Vertical
from merchants.selectors import (
    BoundingBox,
    bounding_box,
    is_open_with,
    merchant_card_rows,
    opening_exceptions_window,
    tz_for,
    validate_point,
)
from superapp.geo import haversine_many_m
from superapp.process_cache import ProcessCache, shared_version, shared_version_bump

VERSION_KEY = "services:geo-index-version"
VERTICAL_CODES = {v: i for i, v in enumerate(Vertical.values)}
CARD_CACHE_MAX = 50_000  # per process, for list items and weekly hours


def geo_index_invalidate(**_signal_kwargs) -> None:
    """Tell every serving process to rebuild its index (call after writing merchants or hours). Also the receiver
    of the model signals (`merchants.apps`): a module function, so the signal's weak reference stays alive."""
    shared_version_bump(VERSION_KEY)


@dataclass
class _Index:
    version: int | None
    built_at: float
    ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    vertical: np.ndarray
    city: np.ndarray
    price: np.ndarray
    wallet: np.ndarray
    tax_free: np.ndarray
    zone: np.ndarray  # index into `zones`
    zones: list[str]
    exceptions: dict[int, list[tuple[date, time | None, time | None]]] = field(default_factory=dict)
    # Static list-item data of recently served merchants; dropped with the index when anything changes.
    cards: dict[int, dict] = field(default_factory=dict)

    # Weekly hours of merchants that were candidates recently, loaded on first use (one query per batch of
    # misses) and dropped with the index; loading all of them up front made a 100k-merchant build slow.
    hours: dict[int, list[tuple[int, time, time]]] = field(default_factory=dict)

    def hours_for(self, merchant_ids: list[int]) -> dict[int, list[tuple[int, time, time]]]:
        known = self.hours
        found = {pk: known[pk] for pk in merchant_ids if pk in known}
        missing = [pk for pk in merchant_ids if pk not in found]
        if missing:
            loaded: dict[int, list[tuple[int, time, time]]] = {pk: [] for pk in missing}
            for merchant_id, weekday, opens, closes in OpeningHours.objects.filter(
                    merchant_id__in=missing).values_list("merchant_id", "weekday", "opens", "closes"):
                loaded[merchant_id].append((weekday, opens, closes))
            if len(known) > CARD_CACHE_MAX:
                known.clear()
            known.update(loaded)
            found.update(loaded)
        return found


def _build(version: int | None) -> _Index:
    # Sorted by latitude, so a query's latitude band is found by binary search instead of a full scan.
    rows = list(Merchant.objects.filter(is_active=True, latitude__isnull=False, longitude__isnull=False)
                .order_by("latitude", "pk")
                .values_list("pk", "latitude", "longitude", "vertical", "city_id", "price_level", "accepts_wallet",
                             "tax_free", "time_zone"))
    zones = sorted({r[8] for r in rows})
    zone_code = {z: i for i, z in enumerate(zones)}
    exceptions = opening_exceptions_window()
    return _Index(
        version=version, built_at=time_module.monotonic(),
        ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        lat=np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)),
        lon=np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows)),
        vertical=np.fromiter((VERTICAL_CODES.get(r[3], -1) for r in rows), dtype=np.int8, count=len(rows)),
        city=np.fromiter((r[4] or 0 for r in rows), dtype=np.int64, count=len(rows)),
        price=np.fromiter((r[5] or 0 for r in rows), dtype=np.int8, count=len(rows)),
        wallet=np.fromiter((r[6] for r in rows), dtype=bool, count=len(rows)),
        tax_free=np.fromiter((r[7] for r in rows), dtype=bool, count=len(rows)),
        zone=np.fromiter((zone_code[r[8]] for r in rows), dtype=np.int32, count=len(rows)),
        zones=zones, exceptions=exceptions)


# Checks the shared version at most every GEO_INDEX_CHECK_S; rebuilt when it moved, and anyway after
# GEO_INDEX_MAX_AGE_S (writes that bypass the services, e.g. a bulk import).
_cache: ProcessCache[_Index] = ProcessCache(
    "merchants.geo_index", lambda version: _build(version), version=lambda: shared_version(VERSION_KEY),
    check_every_s=lambda: conf.GEO_INDEX_CHECK_S, max_age_s=lambda: conf.GEO_INDEX_MAX_AGE_S)


def _index() -> _Index:
    return _cache.get()


def points_within(*, lat: float, lon: float, radius_m: float, lats: np.ndarray, lons: np.ndarray, rows: np.ndarray,
                  box: BoundingBox | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The `rows` (positions in `lats`/`lons`) within `radius_m` of (lat, lon) and their distances in metres: the
    nearby rule's geometry for arrays, as the SQL path applies it (`selectors.bounding_box` first, then the exact
    haversine). Shared by this index and the recommender's catalogue."""
    box = box or bounding_box(lat, lon, radius_m)
    row_lats, row_lons = lats[rows], lons[rows]
    keep = (row_lats >= box.min_lat) & (row_lats <= box.max_lat)
    if box.lon_ranges:
        keep &= np.logical_or.reduce([(row_lons >= low) & (row_lons <= high) for low, high in box.lon_ranges])
    rows = rows[keep]
    distances = haversine_many_m(lat, lon, lats[rows], lons[rows])
    inside = distances <= radius_m
    return rows[inside], distances[inside]


def nearby(*, lat: float, lon: float, radius_m: float, limit: int = 20, vertical: str | None = None,
           city_id: int | None = None, accepts_wallet: bool | None = None, tax_free: bool | None = None,
           price_levels: list[int] | None = None, open_now: bool = False,
           at: datetime | None = None) -> list[tuple[int, float, bool]]:
    """(merchant id, metres, open now) within the radius, nearest first; the same filters as the SQL path."""
    validate_point(lat=lat, lon=lon, radius_m=radius_m)
    index = _index()
    box = bounding_box(lat, lon, radius_m)
    start = int(np.searchsorted(index.lat, box.min_lat, side="left"))  # rows are sorted by latitude
    end = int(np.searchsorted(index.lat, box.max_lat, side="right"))
    band = slice(start, end)
    mask = np.ones(end - start, dtype=bool)
    if vertical:
        mask &= index.vertical[band] == VERTICAL_CODES[vertical]
    if city_id is not None:
        mask &= index.city[band] == city_id
    if accepts_wallet is not None:
        mask &= index.wallet[band] == accepts_wallet
    if tax_free is not None:
        mask &= index.tax_free[band] == tax_free
    if price_levels:
        mask &= np.isin(index.price[band], price_levels)
    rows, distance = points_within(lat=lat, lon=lon, radius_m=radius_m, lats=index.lat, lons=index.lon,
                                   rows=np.nonzero(mask)[0] + start, box=box)
    if rows.size == 0:
        return []
    order = np.lexsort((index.ids[rows], distance))
    weekly = index.hours_for([int(pk) for pk in index.ids[rows]])
    at = at or timezone.now()
    local_by_zone: dict[int, tuple[int, int, time]] = {}
    found: list[tuple[int, float, bool]] = []
    for position in order:
        row = rows[position]
        merchant_id = int(index.ids[row])
        zone = int(index.zone[row])
        special = index.exceptions.get(merchant_id)
        if special:
            is_open = is_open_with(hours=weekly[merchant_id], exceptions=special,
                                   zone=tz_for(index.zones[zone]), at=at)
        else:
            if zone not in local_by_zone:
                local = at.astimezone(tz_for(index.zones[zone]))
                local_by_zone[zone] = (local.weekday(), (local.weekday() - 1) % 7, local.time().replace(tzinfo=None))
            is_open = _open_weekly(weekly[merchant_id], *local_by_zone[zone])
        if open_now and not is_open:
            continue
        found.append((merchant_id, float(distance[position]), is_open))
        if len(found) >= limit:
            break
    return found



def _open_weekly(hours: list[tuple[int, time, time]], today: int, yesterday: int, now_t: time) -> bool:
    """`selectors.is_open_with` for a merchant without exceptions, with the local time computed once per zone."""
    for weekday, opens, closes in hours:
        if weekday == today and (opens <= now_t < closes if closes > opens else now_t >= opens):
            return True
        if weekday == yesterday and closes <= opens and now_t < closes:
            return True
    return False


def cards(*, hits: list[tuple[int, float, bool]]) -> list[dict]:
    """List items for nearby hits: static data from the process cache (two queries for the misses), plus
    `is_open_now` and `distance_m`. Merchants deactivated since the index was built are left out."""
    index = _index()
    cache_ = index.cards
    missing = [pk for pk, _, _ in hits if pk not in cache_]
    if missing:
        if len(cache_) > CARD_CACHE_MAX:
            cache_.clear()
        cache_.update(merchant_card_rows(ids=missing))
    items = []
    for pk, distance, is_open in hits:
        card = cache_.get(pk)
        if card is not None:
            items.append({**card, "is_open_now": is_open, "distance_m": round(distance, 1)})
    return items
