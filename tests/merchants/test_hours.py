"""Open now, in the merchant's own time zone: SQL filter and Python check must agree."""

from datetime import UTC, date, datetime, time

import pytest

from merchants.models import Merchant, OpeningException
from merchants.selectors import merchant_is_open, merchants_filter_open, merchants_open_now_ids
from tests.factories import MerchantFactory, city
from tests.merchants.factories import hours

T = time


def _open_ids(at):
    return set(merchants_filter_open(Merchant.objects.all(), at=at).values_list("pk", flat=True))


def _assert_agree(at, expected_open, all_merchants):
    assert _open_ids(at) == {m.pk for m in expected_open}
    for merchant in all_merchants:
        fresh = Merchant.objects.prefetch_related("opening_hours", "opening_exceptions").get(pk=merchant.pk)
        assert merchant_is_open(fresh, at) == (merchant in expected_open), (merchant.name, at)


@pytest.mark.django_db
def test_open_now_uses_each_merchants_own_time_zone():
    hangzhou = MerchantFactory(name="Hangzhou 9-17", city=city("hangzhou"))
    new_york = MerchantFactory(name="New York 9-17", city=city("new-york"))
    davos = MerchantFactory(name="Davos 9-17", city=city("davos"))
    for merchant in (hangzhou, new_york, davos):
        hours(merchant, T(9), T(17))
    everyone = [hangzhou, new_york, davos]
    # Wednesday 2026-11-25 03:00 UTC = 11:00 in Hangzhou, 22:00 Tuesday in New York, 04:00 in Davos.
    _assert_agree(datetime(2026, 11, 25, 3, 0, tzinfo=UTC), [hangzhou], everyone)
    # 15:00 UTC = 23:00 Hangzhou, 10:00 New York, 16:00 Davos.
    _assert_agree(datetime(2026, 11, 25, 15, 0, tzinfo=UTC), [new_york, davos], everyone)
    # Closing time is exclusive: 17:00 in Davos (16:00 UTC in winter, CET) is closed.
    _assert_agree(datetime(2026, 11, 25, 16, 0, tzinfo=UTC), [new_york], everyone)


@pytest.mark.django_db
def test_daylight_saving_time_is_honoured():
    davos = MerchantFactory(city=city("davos"))
    hours(davos, T(9), T(17))
    # In July Davos is UTC+2: 07:30 UTC = 09:30 local (open); in January UTC+1: 07:30 UTC = 08:30 (closed).
    assert _open_ids(datetime(2026, 7, 15, 7, 30, tzinfo=UTC)) == {davos.pk}
    assert _open_ids(datetime(2026, 1, 14, 7, 30, tzinfo=UTC)) == set()


@pytest.mark.django_db
def test_overnight_hours_cross_midnight_into_the_next_weekday():
    bar = MerchantFactory(name="Bar", city=city("zurich"))
    hours(bar, T(18), T(2), weekdays=[4])  # Friday 18:00 to Saturday 02:00
    # Zurich is UTC+1 in November. Friday 2026-11-27 23:30 local, Saturday 01:30 local, Saturday 02:30 local.
    _assert_agree(datetime(2026, 11, 27, 22, 30, tzinfo=UTC), [bar], [bar])
    _assert_agree(datetime(2026, 11, 28, 0, 30, tzinfo=UTC), [bar], [bar])
    _assert_agree(datetime(2026, 11, 28, 1, 30, tzinfo=UTC), [], [bar])
    # Friday 17:00 local: not yet open; Thursday night: nothing spills into Friday morning.
    _assert_agree(datetime(2026, 11, 27, 16, 0, tzinfo=UTC), [], [bar])
    _assert_agree(datetime(2026, 11, 27, 0, 30, tzinfo=UTC), [], [bar])


@pytest.mark.django_db
def test_around_the_clock_and_lunch_dinner_intervals():
    hotel = MerchantFactory(city=city("tokyo"))
    hours(hotel, T(0), T(0))
    diner = MerchantFactory(city=city("tokyo"))
    hours(diner, T(11), T(14))
    hours(diner, T(17), T(22))
    # Tokyo is UTC+9. 06:00 UTC = 15:00 (between services), 09:00 UTC = 18:00 (dinner).
    _assert_agree(datetime(2026, 11, 25, 6, 0, tzinfo=UTC), [hotel], [hotel, diner])
    _assert_agree(datetime(2026, 11, 25, 9, 0, tzinfo=UTC), [hotel, diner], [hotel, diner])


@pytest.mark.django_db
def test_exceptions_close_a_day_or_replace_its_hours():
    shop = MerchantFactory(city=city("paris"))
    hours(shop, T(10), T(19))
    # Paris UTC+1 in December. Christmas closed; Christmas Eve 10-14 only.
    OpeningException.objects.create(merchant=shop, date=date(2026, 12, 25), note="Christmas")
    OpeningException.objects.create(merchant=shop, date=date(2026, 12, 24), opens=T(10), closes=T(14))
    _assert_agree(datetime(2026, 12, 25, 11, 0, tzinfo=UTC), [], [shop])
    _assert_agree(datetime(2026, 12, 24, 12, 0, tzinfo=UTC), [shop], [shop])  # 13:00 local
    _assert_agree(datetime(2026, 12, 24, 14, 0, tzinfo=UTC), [], [shop])  # 15:00 local: special hours over
    _assert_agree(datetime(2026, 12, 26, 14, 0, tzinfo=UTC), [shop], [shop])  # regular day again


@pytest.mark.django_db
def test_a_closed_exception_also_cancels_the_previous_nights_spill_only_for_its_own_day():
    club = MerchantFactory(city=city("london"))
    hours(club, T(22), T(3))
    OpeningException.objects.create(merchant=club, date=date(2026, 11, 27), note="Private hire")
    # Friday 27th is closed: no opening at 23:00 Friday, no spill into Saturday 01:00.
    _assert_agree(datetime(2026, 11, 27, 23, 0, tzinfo=UTC), [], [club])
    _assert_agree(datetime(2026, 11, 28, 1, 0, tzinfo=UTC), [], [club])
    # Thursday night's opening still spills into Friday 01:00.
    _assert_agree(datetime(2026, 11, 27, 1, 0, tzinfo=UTC), [club], [club])


@pytest.mark.django_db
def test_fixed_offset_time_zones_from_imports():
    venue = MerchantFactory(city=None, latitude=19.07, longitude=72.88, time_zone="UTC+05:30", currency="USD")
    hours(venue, T(9), T(17))
    assert merchants_open_now_ids([venue.pk], at=datetime(2026, 11, 25, 4, 0, tzinfo=UTC)) == {venue.pk}  # 09:30
    assert merchants_open_now_ids([venue.pk], at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) == set()  # 17:30
    assert merchants_open_now_ids([], at=datetime(2026, 11, 25, 4, 0, tzinfo=UTC)) == set()


@pytest.mark.django_db
def test_open_now_ids_runs_two_queries_whatever_the_number(django_assert_num_queries):
    merchants = [MerchantFactory(city=city(slug)) for slug in ("hangzhou", "tokyo", "paris", "new-york")] * 3
    for merchant in set(merchants):
        hours(merchant, T(0), T(0))
    with django_assert_num_queries(2):
        assert merchants_open_now_ids([m.pk for m in merchants]) == {m.pk for m in merchants}
