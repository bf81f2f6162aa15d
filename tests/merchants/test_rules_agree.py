"""One rule, its fast paths proved against it on generated cases (issue 16 point 1).

Opening hours: the reference is `selectors.is_open_with` (Python). The SQL filter (`merchants_open_now_ids`,
`_open_at_local_q`) and the nearby index's shortcut for merchants without exceptions (`geo_index._open_weekly`)
and the recommender's catalogue (`Catalogue.open_ids`: `selectors.open_weekly_mask` over every merchant's weekly
hours at once) must give the same answer on random weekly hours (closed days, overnight spans, around the clock, split
services), random exceptions (closed days, special and overnight hours) in several time zones (DST, fixed
offsets), at random instants and at instants exactly on opening and closing times.

Nearby: the reference is the SQL path (`merchants_nearby_ids` over `merchants_search`); the index
(`geo_index.nearby`) and the recommender's catalogue (`Catalogue.mask`) must find the same merchants at the
same distances, in the same order (distance, then id: ties included) for random points, radii, filters and limits.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest

from merchants import geo_index
from merchants.models import Merchant, OpeningException, OpeningHours, Vertical
from merchants.selectors import (
    fixed_offset_name,
    is_open_with,
    merchants_nearby_ids,
    merchants_open_now_ids,
    merchants_search,
    tz_for,
)
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db

ZONES = ["Asia/Shanghai", "Europe/Zurich", "America/New_York", "Pacific/Auckland", "UTC",
         fixed_offset_name(330), fixed_offset_name(-210)]
BASE = datetime(2026, 3, 26, tzinfo=UTC)  # a week around Europe's change to summer time (29 March)


def _t(rng: random.Random) -> time:
    return time(rng.randrange(24), rng.choice([0, 15, 30, 45]))


def _day_hours(rng: random.Random) -> list[tuple[time, time]]:
    kind = rng.choice(["closed", "day", "day", "overnight", "24h", "split"])
    if kind == "closed":
        return []
    if kind == "24h":
        return [(time(0), time(0))]
    if kind == "split":
        return [(time(11, 30), time(14)), (time(17, 30), rng.choice([time(22), time(1), time(0)]))]
    opens, closes = _t(rng), _t(rng)
    if kind == "day" and closes <= opens:
        opens, closes = closes, opens
    if kind == "overnight" and closes > opens:
        opens, closes = closes, opens
    return [(opens, closes)]


def _generated_merchants(rng: random.Random, n: int) -> list[Merchant]:
    merchants = []
    for i in range(n):
        zone = rng.choice(ZONES)
        merchant = MerchantFactory(name=f"hours {i}", time_zone=zone)
        rows = [OpeningHours(merchant=merchant, weekday=day, opens=o, closes=c)
                for day in range(7) for o, c in _day_hours(rng)]
        OpeningHours.objects.bulk_create(rows)
        if rng.random() < 0.4:
            for _ in range(rng.randint(1, 3)):
                day = (BASE + timedelta(days=rng.randint(-1, 7))).date()
                spans = rng.choice([[(None, None)], _day_hours(rng) or [(None, None)]])
                OpeningException.objects.bulk_create([OpeningException(merchant=merchant, date=day, opens=o, closes=c)
                                                      for o, c in spans])
        merchants.append(merchant)
    return merchants


def _instants(rng: random.Random, merchants: list[Merchant]) -> list[datetime]:
    instants = [BASE + timedelta(minutes=rng.randrange(7 * 24 * 60)) for _ in range(25)]
    for merchant in rng.sample(merchants, 10):  # exactly on an opening or closing time, in the merchant's zone
        row = OpeningHours.objects.filter(merchant=merchant).order_by("?").first()
        if row is None:
            continue
        day = BASE.date() + timedelta(days=rng.randint(0, 6))
        local = datetime.combine(day, rng.choice([row.opens, row.closes]), tzinfo=tz_for(merchant.time_zone))
        instants += [local.astimezone(UTC), local.astimezone(UTC) - timedelta(seconds=1)]
    return instants


def _reference_open(merchant: Merchant, at: datetime) -> bool:
    return is_open_with(hours=list(merchant.opening_hours.values_list("weekday", "opens", "closes")),
                        exceptions=list(merchant.opening_exceptions.values_list("date", "opens", "closes")),
                        zone=tz_for(merchant.time_zone), at=at)


@pytest.mark.parametrize("seed", range(3))
def test_the_sql_filter_and_the_index_shortcut_agree_with_the_opening_rule(seed):
    rng = random.Random(seed)
    merchants = _generated_merchants(rng, 30)
    ids = [m.pk for m in merchants]
    without_exceptions = [m for m in merchants if not m.opening_exceptions.exists()]
    for at in _instants(rng, merchants):
        expected = {m.pk for m in merchants if _reference_open(m, at)}
        assert merchants_open_now_ids(ids, at=at) == expected, at
        for merchant in without_exceptions:
            local = at.astimezone(tz_for(merchant.time_zone))
            fast = geo_index._open_weekly(list(merchant.opening_hours.values_list("weekday", "opens", "closes")),
                                          local.weekday(), (local.weekday() - 1) % 7,
                                          local.time().replace(tzinfo=None))
            assert fast == (merchant.pk in expected), (merchant.pk, at)


@pytest.mark.parametrize("seed", range(3))
def test_the_catalogues_vectorised_open_now_agrees_with_the_opening_rule(seed, monkeypatch):
    """The recommender's catalogue decides open now for every merchant at once (`open_weekly_mask` over the
    weekly hours as arrays, the rule itself for merchants with exceptions around today)."""
    from merchants import selectors
    from recommender.serving import catalogue as serving_catalogue
    from superapp import process_cache

    rng = random.Random(seed)
    merchants = _generated_merchants(rng, 30)
    ids = [m.pk for m in merchants]
    # The catalogue keeps the exceptions around the day it was built: build it "on" the generated week.
    monkeypatch.setattr(serving_catalogue, "opening_exceptions_window",
                        lambda: selectors.opening_exceptions_window(today=BASE.date() + timedelta(days=1)))
    process_cache.reset_all()
    cat = serving_catalogue.catalogue()
    for at in _instants(rng, merchants):
        expected = {m.pk for m in merchants if _reference_open(m, at)}
        assert cat.open_ids(ids, at) == expected, at


def _generated_places(rng: random.Random, center: tuple[float, float], n: int) -> list[Merchant]:
    merchants = []
    spots = [(center[0] + rng.uniform(-0.02, 0.02), center[1] + rng.uniform(-0.02, 0.02)) for _ in range(n // 2)]
    for i in range(n):
        lat, lon = rng.choice(spots)  # shared spots: ties in distance, broken by id
        merchant = MerchantFactory(name=f"place {i}", latitude=lat, longitude=lon, time_zone="Asia/Shanghai",
                                   vertical=rng.choice([Vertical.RESTAURANT, Vertical.SHOPPING, Vertical.LEISURE]),
                                   accepts_wallet=rng.random() < 0.6, tax_free=rng.random() < 0.3,
                                   price_level=rng.choice([None, 1, 2, 3, 4]), is_active=rng.random() < 0.9)
        OpeningHours.objects.bulk_create([OpeningHours(merchant=merchant, weekday=day, opens=o, closes=c)
                                          for day in range(7) for o, c in _day_hours(rng)])
        merchants.append(merchant)
    return merchants


@pytest.mark.parametrize("seed", range(3))
def test_the_index_and_the_catalogue_find_what_the_sql_nearby_finds(seed):
    from recommender.serving.catalogue import catalogue

    rng = random.Random(seed)
    center = (30.274, 120.155)
    _generated_places(rng, center, 60)
    for _ in range(15):
        lat, lon = center[0] + rng.uniform(-0.01, 0.01), center[1] + rng.uniform(-0.01, 0.01)
        radius = rng.choice([50, 300, 1000, 2500])
        limit = rng.choice([1, 5, 20, 100])
        filters = {}
        if rng.random() < 0.5:
            filters["vertical"] = rng.choice([Vertical.RESTAURANT, Vertical.SHOPPING, Vertical.LEISURE])
        if rng.random() < 0.4:
            filters["accepts_wallet"] = rng.random() < 0.5
        if rng.random() < 0.3:
            filters["tax_free"] = rng.random() < 0.5
        if rng.random() < 0.3:
            filters["price_levels"] = rng.sample([1, 2, 3, 4], 2)
        open_now = rng.random() < 0.4
        at = BASE + timedelta(minutes=rng.randrange(7 * 24 * 60))
        sql_filters = {("price_level" if key == "price_levels" else key): value for key, value in filters.items()}
        reference = merchants_nearby_ids(lat=lat, lon=lon, radius_m=radius, limit=limit, open_now=open_now, at=at,
                                         queryset=merchants_search(**sql_filters))
        fast = geo_index.nearby(lat=lat, lon=lon, radius_m=radius, limit=limit, open_now=open_now, at=at, **filters)
        assert [pk for pk, _, _ in fast] == [pk for pk, _ in reference], (filters, radius, limit, open_now)
        assert [d for _, d, _ in fast] == pytest.approx([d for _, d in reference], abs=1e-6)
        if "tax_free" in filters or "price_levels" in filters or open_now:
            continue  # the catalogue's filters are vertical, city, wallet and radius
        verticals = (filters["vertical"],) if "vertical" in filters else tuple(Vertical.values)
        rows, distances = catalogue().mask(verticals=verticals, accepts_wallet=filters.get("accepts_wallet"),
                                           lat=lat, lon=lon, radius_m=radius)
        ids = catalogue().ids[rows]
        found = sorted(zip(distances.tolist(), ids.tolist(), strict=True))
        everything = merchants_nearby_ids(lat=lat, lon=lon, radius_m=radius, limit=10_000,
                                          queryset=merchants_search(**sql_filters))
        assert [pk for _, pk in found] == [pk for pk, _ in everything]
        assert [d for d, _ in found] == pytest.approx([d for _, d in everything], abs=1e-6)
