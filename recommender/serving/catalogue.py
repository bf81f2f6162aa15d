"""Per-process copies of what every recommendation page reads and no request changes: the recommendable
merchants (to filter a candidate list without SQL), their list cards, the cities, and the wallet's
running campaigns.

The database stays the source of truth. Each copy is rebuilt when its writers say something changed:

- merchants, opening hours, exceptions and categories: the services app bumps its shared version key
  (`services.geo_index.VERSION_KEY`, on every save/delete and after bulk writes); a process checks that
  key at most every `CATALOGUE_CHECK_S` seconds and rebuilds anyway after `CATALOGUE_MAX_AGE_S` (writes
  that send no signal, e.g. a rating's `F()` update);
- campaigns: `campaigns_invalidate()` (a signal on `payments.Campaign` and its cities/merchants), the same
  check; budgets and redemption counts move with every payment and are re-read at most every
  `CAMPAIGNS_MAX_AGE_S` seconds (the wallet re-checks a coupon when it is used: a stale "coupon available"
  is a hint, never money);
- cities are reference data: rebuilt with the merchants.

Open now follows `merchants.selectors.is_open_with` (the one opening-hours rule): every merchant's weekly hours
are kept here as arrays and decided for the whole catalogue at once by `open_weekly_mask` (its vectorised
form, held equal to it by tests), merchants with exceptions around today by `is_open_with` itself.
"""

from __future__ import annotations

import itertools
import threading
import time as time_module
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace

import numpy as np
from django.db.models import QuerySet
from django.utils import timezone

from merchants.geo_index import VERSION_KEY as MERCHANTS_VERSION_KEY
from merchants.geo_index import points_within
from merchants.models import City, Merchant, OpeningHours
from merchants.selectors import (
    city_resolve,
    is_open_with,
    merchant_card_rows,
    open_weekly_mask,
    opening_exceptions_window,
    time_us,
    tz_for,
)
from recommender.loader import loaded_model
from recommender.serving import conf
from superapp.process_cache import ProcessCache, shared_version, shared_version_bump

CAMPAIGNS_VERSION_KEY = "recommender:serving:campaigns-version"
MINUTE_US = 60_000_000
CARDS_MAX = 50_000  # list cards kept per process (the oldest quarter makes room when full)
CARDS_CHUNK = 2_000  # ids per query when loading the model's merchants' cards


def _time_from_us(value: int) -> time:
    seconds, micro = divmod(int(value), 1_000_000)
    return time(seconds // 3600, seconds // 60 % 60, seconds % 60, micro)


@dataclass
class WeeklyHours:
    """The weekly opening intervals of every catalogue merchant as arrays sorted by catalogue row (about 20 MB
    for 800,000 intervals), so open now is decided for the whole catalogue at once."""

    row: np.ndarray  # catalogue row of the interval's merchant
    zone: np.ndarray  # that merchant's index into `Catalogue.zones`
    weekday: np.ndarray
    opens_us: np.ndarray  # `merchants.selectors.time_us`
    closes_us: np.ndarray

    @classmethod
    def load(cls, *, ids: np.ndarray, row_zone: np.ndarray, selection: QuerySet) -> WeeklyHours:
        found = list(OpeningHours.objects.filter(merchant_id__in=selection)
                     .values_list("merchant_id", "weekday", "opens", "closes"))
        n = len(found)
        merchant = np.fromiter((r[0] for r in found), dtype=np.int64, count=n)
        rows = np.minimum(np.searchsorted(ids, merchant), max(len(ids) - 1, 0))
        known = (ids[rows] == merchant) if len(ids) else np.zeros(n, bool)  # one added since the ids were read
        order = np.flatnonzero(known)[np.argsort(rows[known], kind="stable")]
        rows = rows[order]
        return cls(row=rows, zone=row_zone[rows] if len(rows) else np.zeros(0, np.int32),
                   weekday=np.fromiter((found[i][1] for i in order.tolist()), dtype=np.int8, count=len(order)),
                   opens_us=np.fromiter((time_us(found[i][2]) for i in order.tolist()), dtype=np.int64,
                                        count=len(order)),
                   closes_us=np.fromiter((time_us(found[i][3]) for i in order.tolist()), dtype=np.int64,
                                         count=len(order)))

    def of_row(self, row: int) -> list[tuple[int, time, time]]:
        """The merchant's weekly hours as `is_open_with` takes them."""
        low, high = np.searchsorted(self.row, [row, row + 1])
        return [(int(self.weekday[i]), _time_from_us(self.opens_us[i]), _time_from_us(self.closes_us[i]))
                for i in range(low, high)]

    def open_rows(self, *, at: datetime, n_rows: int, zones: list[str]) -> tuple[np.ndarray, bool]:
        """(open at `at` by the weekly hours alone, per catalogue row; whether every zone is a whole number of
        minutes from UTC at `at`). The local day and time are computed once per zone, as `is_open_with` does."""
        today = np.zeros(len(zones), np.int8)
        now_us = np.zeros(len(zones), np.int64)
        whole_minutes = True
        for code, name in enumerate(zones):
            local = at.astimezone(tz_for(name))
            today[code], now_us[code] = local.weekday(), time_us(local.time())
            whole_minutes &= local.utcoffset() % timedelta(minutes=1) == timedelta(0)
        zone = self.zone
        hit = open_weekly_mask(weekday=self.weekday, opens_us=self.opens_us, closes_us=self.closes_us,
                               today=today[zone], yesterday=(today[zone] + 6) % 7, now_us=now_us[zone])
        opened = np.zeros(n_rows, bool)
        opened[self.row[hit]] = True
        return opened, whole_minutes


@dataclass
class Catalogue:
    """The active recommendable merchants (and city services, for "similar"), sorted by id."""

    version: int
    built_at: float
    ids: np.ndarray
    vertical: np.ndarray  # index into `verticals`
    verticals: list[str]
    city: np.ndarray  # City.pk, 0 for none
    lat: np.ndarray  # NaN without a location
    lon: np.ndarray
    wallet: np.ndarray
    zone: np.ndarray  # index into `zones`
    zones: list[str]
    cities: dict[int, City]
    exceptions: dict[int, list[tuple[date, time | None, time | None]]]
    hours: WeeklyHours
    whole_minutes: bool  # every weekly and exceptional opening and closing time is a whole minute
    cards: dict[int, dict] = field(default_factory=dict)
    _open_memo: tuple[float, float, np.ndarray] | None = field(default=None, repr=False)  # [from, to), open
    _by_city: dict[int, np.ndarray] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def rows(self, merchant_ids: np.ndarray) -> np.ndarray:
        """Row of each merchant id, -1 for merchants not in the catalogue (inactive, unknown)."""
        wanted = np.asarray(merchant_ids, dtype=np.int64)
        if not len(self.ids) or not len(wanted):
            return np.full(len(wanted), -1, np.int64)
        pos = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        return np.where(self.ids[pos] == wanted, pos, -1)

    def mask(self, *, verticals: tuple[str, ...], city_id: int | None = None, accepts_wallet: bool | None = None,
             lat: float | None = None, lon: float | None = None, radius_m: float | None = None,
             rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(rows passing the static filters, their distances or None). Open now is `open_mask` (at read
        time). `rows` restricts the scan (a user's candidate list), else the whole catalogue."""
        if rows is not None:
            rows = rows[rows >= 0]
            if city_id is not None:
                rows = rows[self.city[rows] == city_id]
        elif city_id is not None:
            rows = self.city_rows(city_id)  # a city's rows without scanning the catalogue
        else:
            rows = np.arange(len(self.ids))
        wanted = np.zeros(len(self.verticals), bool)
        wanted[[self.verticals.index(v) for v in verticals if v in self.verticals]] = True
        keep = wanted[self.vertical[rows]]
        if accepts_wallet is not None:
            keep &= self.wallet[rows] == accepts_wallet
        rows = rows[keep]
        if lat is None or radius_m is None:
            return rows, None
        return points_within(lat=lat, lon=lon, radius_m=radius_m, lats=self.lat, lons=self.lon, rows=rows)

    def city_rows(self, city_id: int) -> np.ndarray:
        """The rows of a city's merchants, ascending (grouped once per catalogue)."""
        by_city = self._by_city
        if by_city is None:
            order = np.argsort(self.city, kind="stable")
            cities, starts = np.unique(self.city[order], return_index=True)
            groups = np.split(order, starts[1:]) if len(order) else []
            by_city = self._by_city = dict(zip(cities.tolist(), groups, strict=True))
        return by_city.get(city_id, np.zeros(0, np.int64))

    def open_rows(self, at: datetime) -> np.ndarray:
        """Open at `at` for every row, each merchant in its own time zone (the services rule, `is_open_with`):
        weekly hours vectorised over the whole catalogue (`open_weekly_mask`), the few merchants with exceptions
        around today by the rule itself: with 100,000 merchants one evaluation costs milliseconds, where deciding
        them one by one took a second. Remembered while it cannot change: for the minute `at` falls in when every
        opening and closing time (weekly and exceptional) is a whole minute and every zone is a whole number of
        minutes from UTC (then a local day or time crosses a boundary only on a whole UTC minute, and intervals
        are closed at the start, open at the end), else for the second."""
        stamp = at.timestamp()
        memo = self._open_memo
        if memo is not None and memo[0] <= stamp < memo[1]:
            return memo[2]
        opened, offsets_whole_minutes = self.hours.open_rows(at=at, n_rows=len(self.ids), zones=self.zones)
        for merchant_id, special in self.exceptions.items():
            (row,) = self.rows(np.array([merchant_id]))
            if row >= 0:
                opened[row] = is_open_with(hours=self.hours.of_row(row), exceptions=special,
                                           zone=tz_for(self.zones[self.zone[row]]), at=at)
        period = 60 if offsets_whole_minutes and self.whole_minutes else 1
        start = stamp // period * period
        self._open_memo = (start, start + period, opened)
        return opened

    def open_mask(self, merchant_ids: np.ndarray, at: datetime) -> np.ndarray:
        """Open at `at`, per merchant id (merchants not in the catalogue are not)."""
        rows = self.rows(merchant_ids)
        known = rows >= 0
        is_open = np.zeros(len(rows), bool)
        if known.any():
            is_open[known] = self.open_rows(at)[rows[known]]
        return is_open

    def open_ids(self, merchant_ids: list[int], at: datetime) -> set[int]:
        """Which of these merchants are open at `at` (merchants not in the catalogue are not)."""
        if not merchant_ids:
            return set()
        ids = np.asarray(merchant_ids, dtype=np.int64)
        return set(ids[self.open_mask(ids, at)].tolist())

    def cards_for(self, merchant_ids: list[int]) -> dict[int, dict]:
        """The static part of each merchant's list card (`MerchantListSerializer` without `is_open_now`)."""
        known = self.cards
        missing = [pk for pk in merchant_ids if pk not in known]
        if missing:
            self._cards_load(missing)
        return {pk: known[pk] for pk in merchant_ids if pk in known}

    def cards_keep(self, merchant_ids: list[int]) -> None:
        """Make these merchants' cards the newest kept (the last to make room), loading those not kept yet."""
        missing = []
        with self._lock:
            for pk in merchant_ids:
                card = self.cards.pop(pk, None)
                if card is None:
                    missing.append(pk)
                else:
                    self.cards[pk] = card
        for start in range(0, len(missing), CARDS_CHUNK):
            self._cards_load(missing[start:start + CARDS_CHUNK])

    def _cards_load(self, selection: list[int] | QuerySet) -> None:
        self._remember(self.cards, merchant_card_rows(ids=selection))

    def _remember(self, store: dict, loaded: dict) -> None:
        """Add to the cards kept: at most CARDS_MAX; when full, the oldest quarter makes room (starting over
        emptied the store, and over a catalogue larger than CARDS_MAX every page then missed for a while)."""
        with self._lock:
            overflow = len(store) + len(loaded) - CARDS_MAX
            if overflow > 0:
                for key in list(itertools.islice(iter(store), max(overflow, CARDS_MAX // 4))):
                    store.pop(key, None)
            store.update(loaded)

    def merchant_stub(self, merchant_id: int) -> SimpleNamespace | None:
        """What the wallet's `campaign_merchant_problem` reads of a merchant, without a model instance."""
        card = self.cards_for([merchant_id]).get(merchant_id)
        if card is None:
            return None
        return SimpleNamespace(pk=merchant_id, currency=card["currency"], vertical=card["vertical"],
                               city_id=card["city"]["id"] if card["city"] else None)


def _whole_minutes(hours: WeeklyHours, exceptions: dict[int, list[tuple[date, time | None, time | None]]]) -> bool:
    """Every opening and closing time, weekly and exceptional, is a whole minute (then open now can only change on
    a whole minute, see `Catalogue.open_rows`)."""
    return (bool((hours.opens_us % MINUTE_US == 0).all() and (hours.closes_us % MINUTE_US == 0).all())
            and all(t is None or time_us(t) % MINUTE_US == 0
                    for special in exceptions.values() for _, opens, closes in special for t in (opens, closes)))


def _build(version: int) -> Catalogue:
    verticals = [*conf.RECOMMENDABLE_VERTICALS, "city_service"]
    active = Merchant.objects.filter(is_active=True, vertical__in=verticals)
    rows = list(active.order_by("pk")
                .values_list("pk", "vertical", "city_id", "latitude", "longitude", "accepts_wallet", "time_zone"))
    zones = sorted({r[6] for r in rows})
    zone_code = {z: i for i, z in enumerate(zones)}
    n = len(rows)
    exceptions = opening_exceptions_window()
    ids_array = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    zone_array = np.fromiter((zone_code[r[6]] for r in rows), dtype=np.int32, count=n)
    hours = WeeklyHours.load(ids=ids_array, row_zone=zone_array, selection=active.values("pk"))
    cat = Catalogue(
        version=version, built_at=time_module.monotonic(),
        ids=ids_array,
        vertical=np.fromiter((verticals.index(r[1]) for r in rows), dtype=np.int8, count=n), verticals=verticals,
        city=np.fromiter((r[2] or 0 for r in rows), dtype=np.int64, count=n),
        lat=np.fromiter((np.nan if r[3] is None else r[3] for r in rows), dtype=np.float64, count=n),
        lon=np.fromiter((np.nan if r[4] is None else r[4] for r in rows), dtype=np.float64, count=n),
        wallet=np.fromiter((r[5] for r in rows), dtype=bool, count=n),
        zone=zone_array, zones=zones,
        cities={c.pk: c for c in City.objects.all()}, exceptions=exceptions,
        hours=hours, whole_minutes=_whole_minutes(hours, exceptions))
    # Every page reads cards and open now: load them with the catalogue, not per page. The first CARDS_MAX
    # merchants' cards are selected by a subquery: as a list of ids, 50,000 query parameters took seconds to
    # pass (a first request of a new worker over 100,000 merchants ran past 10 s). Then, last (the newest, the
    # last to make room), the merchants the loaded model knows: every materialised list is made of them.
    ids = cat.ids.tolist()[:CARDS_MAX]
    if ids:
        cat._cards_load(active.filter(pk__lte=ids[-1]).values("pk"))
    loaded = loaded_model()
    if loaded is not None and len(cat.ids) > len(ids):
        cat.cards_keep(loaded.item_ids[np.isin(loaded.item_ids, cat.ids)][:CARDS_MAX // 2].tolist())
    return cat


# Checks the services app's shared version at most every `CATALOGUE_CHECK_S`; rebuilt when it moved, and
# anyway after `CATALOGUE_MAX_AGE_S`.
_catalogue: ProcessCache[Catalogue] = ProcessCache(
    "recommender.catalogue", _build, version=lambda: shared_version(MERCHANTS_VERSION_KEY),
    check_every_s=lambda: conf.CATALOGUE_CHECK_S, max_age_s=lambda: conf.CATALOGUE_MAX_AGE_S)


def catalogue() -> Catalogue:
    """This process's catalogue, rebuilt when the services app says merchants changed."""
    return _catalogue.get()


def city(city_id: int | None) -> City | None:
    return catalogue().cities.get(city_id) if city_id else None


def user_cities_attach(user) -> None:
    """Set the user's home and current city from the catalogue (Django's related-object cache), so reading
    `user.home_city` / `user.current_city` costs no query. Every recommendation page reads both (default city,
    "travellers from your city")."""
    for name in ("home_city", "current_city"):
        found = city(getattr(user, f"{name}_id", None))
        if found is not None:
            setattr(user, name, found)


def city_resolve_cached(value: str) -> City:
    """`services.selectors.city_resolve` (a city by id or slug, else `unknown_city`) from the reference
    cities kept here; a city added since the last rebuild is still found through the services selector."""
    text = str(value).strip()
    cities = catalogue().cities
    found = (cities.get(int(text)) if text.isdigit() and len(text) < 19
             else next((c for c in cities.values() if c.slug == text), None))
    return found if found is not None else city_resolve(text)


# --- The wallet's running campaigns ----------------------------------------------------------------
@dataclass
class _Campaigns:
    version: int
    built_at: float
    running: list  # payments.models.Campaign with budget account, cities and merchants loaded
    at_merchant: dict[int, tuple[int, ...]] = field(default_factory=dict)  # merchant -> campaigns applying there


def _campaigns_build(version: int) -> _Campaigns:
    from payments.selectors import campaigns_running

    return _Campaigns(version, time_module.monotonic(), list(campaigns_running()))


# The same checks as the catalogue's, against the campaigns' own version; budgets and redemption counts are
# re-read after `CAMPAIGNS_MAX_AGE_S`.
_campaigns: ProcessCache[_Campaigns] = ProcessCache(
    "recommender.campaigns", _campaigns_build, version=lambda: shared_version(CAMPAIGNS_VERSION_KEY),
    check_every_s=lambda: conf.CATALOGUE_CHECK_S, max_age_s=lambda: conf.CAMPAIGNS_MAX_AGE_S)


def campaigns_invalidate(**_kwargs) -> None:
    """Tell every serving process to re-read the running campaigns (a campaign or its targeting changed)."""
    shared_version_bump(CAMPAIGNS_VERSION_KEY)


def campaigns_running_cached() -> tuple[int, list]:
    """(version, running campaigns), from the wallet's own `campaigns_running` selector, per process."""
    from payments.services import campaign_is_running

    current = _campaigns.get()
    # A campaign that ended since the copy was made is not running any more (state right when read).
    at = timezone.now()
    return current.version, [c for c in current.running if campaign_is_running(c, at)]


def campaigns_at_merchants(merchant_ids: list[int]) -> dict[int, tuple[int, ...]]:
    """Merchant id -> ids of the running campaigns that apply there (the wallet's `campaign_merchant_problem`,
    which depends on the campaign and the merchant only), in the wallet's order, computed once per merchant
    and campaigns version in this process. Who may use them is the user's side (`campaigns_usable_by`)."""
    from payments.services import campaign_merchant_problem

    campaigns_running_cached()
    current = _campaigns.peek()
    if current is None:
        return {}
    known = current.at_merchant
    missing = [pk for pk in merchant_ids if pk not in known]
    if missing:
        cat = catalogue()
        cat.cards_for(missing)  # one query for the merchants' currency, city and vertical
        found = {}
        for pk in missing:
            merchant = cat.merchant_stub(pk)
            found[pk] = () if merchant is None else tuple(
                c.pk for c in current.running if campaign_merchant_problem(campaign=c, merchant=merchant) is None)
        known.update(found)  # one dict update: atomic under the GIL
    return {pk: known[pk] for pk in merchant_ids}

