"""Booking agency: quote, hold, bad input, hold expiry, the race for the last places."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.utils import timezone

from bookings.exceptions import NoAvailability
from bookings.models import Booking, BookingStatus, InventorySlot
from bookings.services import booking_hold, booking_holds_expire, booking_quote
from superapp.accounts.models import User
from tests.bookings.factories import product_with_slots
from tests.conftest import client_for
from tests.factories import MerchantFactory, UserFactory, city
from tests.merchants.factories import connect_with_backoff
from tests.superapp.test_api_conventions import assert_error_shape

FUTURE = timezone.now().date() + timedelta(days=10)


def _reserved(product) -> int:
    return sum(InventorySlot.objects.filter(product=product).values_list("reserved", flat=True))


@pytest.mark.django_db
def test_quote_prices_nights_and_writes_nothing(auth_client):
    hotel = MerchantFactory(vertical="travel", city=city("davos"))
    room = product_with_slots(merchant=hotel, kind="hotel_room", days=[FUTURE + timedelta(days=i) for i in range(3)],
                              capacity=2, price=25000, start=time(15), max_party_size=2)
    InventorySlot.objects.filter(product=room, date=FUTURE + timedelta(days=1)).update(price_amount=30000)
    response = auth_client.post("/api/v1/bookings/quote", {
        "product_id": room.pk, "date": str(FUTURE), "check_out": str(FUTURE + timedelta(days=3)), "party_size": 3,
        "rooms": 2}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["amount"] == {"amount": "1600.00", "currency": "CHF"}  # (250 + 300 + 250) x 2 rooms
    assert body["available"] is True and body["units"] == 2
    assert body["starts_at"].startswith(f"{FUTURE}T14:00:00") or body["starts_at"].startswith(f"{FUTURE}T13:00:00")
    assert _reserved(room) == 0 and not Booking.objects.exists()


@pytest.mark.django_db
def test_hold_reserves_inventory_and_lists(auth_client, user):
    tour = product_with_slots(days=[FUTURE], capacity=10, price=8000, max_party_size=8)
    response = auth_client.post("/api/v1/bookings", {"product_id": tour.pk, "date": str(FUTURE), "party_size": 4},
                                format="json", HTTP_IDEMPOTENCY_KEY="hold-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "held" and body["amount"] == {"amount": "320.00", "currency": "CNY"}
    assert _reserved(tour) == 4
    # A replay with the same key holds nothing more.
    replay = auth_client.post("/api/v1/bookings", {"product_id": tour.pk, "date": str(FUTURE), "party_size": 4},
                              format="json", HTTP_IDEMPOTENCY_KEY="hold-1")
    assert replay.json()["id"] == body["id"] and _reserved(tour) == 4
    assert [b["id"] for b in auth_client.get("/api/v1/bookings").json()["results"]] == [body["id"]]


@pytest.mark.django_db
def test_table_slots_and_party_size():
    restaurant = MerchantFactory(city=city("hangzhou"))
    table = product_with_slots(merchant=restaurant, kind="table", days=[FUTURE], capacity=1, price=10000,
                               start=time(19, 30), max_party_size=6)
    user = UserFactory()
    held = booking_hold(user=user, product=table, day=FUTURE, at_time=time(19, 30), party_size=6)
    assert held.units == 1 and held.amount == 10000
    with pytest.raises(NoAvailability):
        booking_hold(user=UserFactory(), product=table, day=FUTURE, at_time=time(19, 30), party_size=2)


@pytest.mark.django_db
def test_bad_booking_input_is_a_specific_error_and_writes_nothing(auth_client):
    restaurant = MerchantFactory(city=city("hangzhou"))
    table = product_with_slots(merchant=restaurant, kind="table", days=[FUTURE, date(2020, 1, 1)], capacity=3,
                               start=time(19), max_party_size=4)
    hotel = product_with_slots(kind="hotel_room", days=[FUTURE], capacity=3, start=time(15), max_party_size=2)
    cases = [
        ({"product_id": table.pk, "date": "2020-01-01", "time": "19:00", "party_size": 2}, 400, "booking_in_past"),
        ({"product_id": table.pk, "date": str(FUTURE), "time": "19:00", "party_size": 9}, 400,
         "party_size_above_capacity"),
        ({"product_id": table.pk, "date": str(FUTURE), "party_size": 2}, 400, "time_required"),
        ({"product_id": table.pk, "date": str(FUTURE), "time": "21:00", "party_size": 2}, 409, "no_availability"),
        ({"product_id": hotel.pk, "date": str(FUTURE), "check_out": str(FUTURE), "party_size": 1}, 400,
         "invalid_booking_dates"),
        ({"product_id": hotel.pk, "date": str(FUTURE), "check_out": str(FUTURE + timedelta(days=2)),
          "party_size": 1}, 409, "no_availability"),  # the second night is not on sale
        ({"product_id": hotel.pk, "date": str(FUTURE), "party_size": 3}, 400, "party_size_above_capacity"),
        ({"product_id": 999999, "date": str(FUTURE), "party_size": 1}, 404, "product_not_found"),
        ({"product_id": hotel.pk, "date": "not-a-date", "party_size": 1}, 400, "validation_error"),
    ]
    for i, (body, status, code) in enumerate(cases):
        for url in ("/api/v1/bookings/quote", "/api/v1/bookings"):
            if url.endswith("quote") and code == "no_availability":
                continue  # a quote reports availability instead of failing
            response = auth_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=f"bad-{i}")
            assert_error_shape(response, status, code)
    assert not Booking.objects.exists()
    assert _reserved(table) == _reserved(hotel) == 0


@pytest.mark.django_db
def test_expired_holds_release_inventory_and_the_job_is_safe_twice():
    tour = product_with_slots(days=[FUTURE], capacity=5, max_party_size=5)
    user = UserFactory()
    now = timezone.now()
    old = booking_hold(user=user, product=tour, day=FUTURE, party_size=3, now=now - timedelta(minutes=20))
    fresh = booking_hold(user=user, product=tour, day=FUTURE, party_size=2, now=now - timedelta(minutes=10))
    assert _reserved(tour) == 5
    assert booking_holds_expire(now=now) == 1
    assert booking_holds_expire(now=now) == 0
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == BookingStatus.EXPIRED and fresh.status == BookingStatus.HELD
    assert _reserved(tour) == 2
    # The released places can be held again.
    booking_hold(user=UserFactory(), product=tour, day=FUTURE, party_size=3, now=now)
    assert _reserved(tour) == 5


@pytest.mark.django_db
def test_a_lapsed_hold_reads_expired_and_reserves_nothing_before_any_job_runs(auth_client, user):
    tour = product_with_slots(days=[FUTURE], capacity=5, max_party_size=5)
    lapsed = booking_hold(user=user, product=tour, day=FUTURE, party_size=5,
                          now=timezone.now() - timedelta(minutes=tour.hold_minutes + 1))
    assert _reserved(tour) == 5  # no job has run: the stored row still counts it

    shown = auth_client.get(f"/api/v1/bookings/{lapsed.pk}").json()
    assert shown["status"] == "expired"
    slots = auth_client.get(f"/api/v1/products/{tour.pk}/availability").json()
    slots = slots["results"] if isinstance(slots, dict) else slots
    assert [slot["available"] for slot in slots] == [5]
    assert booking_quote(product=tour, day=FUTURE, party_size=5).available
    assert_error_shape(auth_client.post(f"/api/v1/bookings/{lapsed.pk}/pay", HTTP_IDEMPOTENCY_KEY="pay-lapsed"),
                       409, "hold_expired")

    # Someone else takes all five places: the lapsed hold gives them back in the same request.
    other = client_for(UserFactory())
    response = other.post("/api/v1/bookings", {"product_id": tour.pk, "date": str(FUTURE), "party_size": 5},
                          format="json", HTTP_IDEMPOTENCY_KEY="take-all")
    assert response.status_code == 201, response.content
    assert _reserved(tour) == 5
    lapsed.refresh_from_db()
    assert lapsed.status == BookingStatus.EXPIRED
    assert booking_holds_expire() == 0


@pytest.mark.django_db
def test_the_beat_task_is_registered():
    from bookings.tasks import booking_holds_expire_task
    from superapp.management.commands.setup_schedules import default_schedules

    assert ("Expire unpaid booking holds", "services.tasks.booking_holds_expire", 60) in default_schedules()
    assert booking_holds_expire_task.name == "services.tasks.booking_holds_expire"


@pytest.mark.django_db
def test_quote_uses_local_time_at_the_merchant():
    # 19:00 in New York on a given day is 00:00 UTC on the next day (EST).
    restaurant = MerchantFactory(city=city("new-york"))
    table = product_with_slots(merchant=restaurant, kind="table", days=[date(2030, 1, 15)], start=time(19))
    quote = booking_quote(product=table, day=date(2030, 1, 15), at_time=time(19), party_size=2,
                          now=datetime(2030, 1, 15, 23, 30, tzinfo=UTC))
    assert quote.starts_at == datetime(2030, 1, 16, 0, 0, tzinfo=UTC) and quote.available


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_hundred_threads_hold_the_last_ten_places(concurrently):
    tour = product_with_slots(days=[FUTURE], capacity=10, max_party_size=4)
    users = User.objects.bulk_create(User(username=f"racer{i}") for i in range(200))

    def attempt(i):
        connect_with_backoff()
        booking = booking_hold(user=users[i], product=tour, day=FUTURE, party_size=1)
        return booking.pk

    results = concurrently(attempt, 200)
    held = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, NoAvailability)]
    assert len(held) == 10 and len(refused) == 190, [r for r in results if not isinstance(r, int | NoAvailability)]
    assert InventorySlot.objects.get(product=tour).reserved == 10
    assert Booking.objects.filter(status="held").count() == 10


@pytest.mark.django_db
def test_bookings_of_others_are_404(auth_client):
    tour = product_with_slots(days=[FUTURE], capacity=5)
    theirs = booking_hold(user=UserFactory(), product=tour, day=FUTURE, party_size=1)
    assert_error_shape(auth_client.get(f"/api/v1/bookings/{theirs.pk}"), 404, "booking_not_found")
    assert_error_shape(auth_client.post(f"/api/v1/bookings/{theirs.pk}/cancel", HTTP_IDEMPOTENCY_KEY="x"), 404)
    stranger_view = client_for(UserFactory()).get(f"/api/v1/merchants/{tour.merchant_id}/bookings")
    assert_error_shape(stranger_view, 403, "not_merchant_staff")


@pytest.mark.django_db
def test_far_future_dates_are_refused_not_crashing(auth_client):
    hotel = product_with_slots(kind="hotel_room", days=[FUTURE], capacity=3, start=time(15), max_party_size=2)
    response = auth_client.post("/api/v1/bookings/quote", {"product_id": hotel.pk, "date": "9999-12-31",
                                                           "party_size": 1}, format="json")
    assert_error_shape(response, 400, "booking_too_far_ahead")
    availability = auth_client.get(f"/api/v1/products/{hotel.pk}/availability", {"date_from": "9999-12-31"})
    assert availability.status_code == 200 and availability.json()["results"] == []
