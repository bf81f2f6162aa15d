"""Paying and cancelling bookings through the wallet: confirmation, expired holds, refunds per the policy,
and the race for the last places with real payments."""

import threading
from datetime import time, timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from bookings.exceptions import NoAvailability
from bookings.models import Booking, BookingStatus, InventorySlot
from bookings.services import booking_cancel, booking_hold, booking_pay
from payments.checks import ledger_check
from payments.models import Payment, Refund
from payments.selectors import wallet_balances
from recommender.models import Interaction
from superapp.accounts.models import User
from tests.bookings.factories import product_with_slots
from tests.conftest import client_for
from tests.factories import MerchantFactory, city
from tests.payments.factories import fund, funded_user
from tests.superapp.test_api_conventions import assert_error_shape

SOON = timezone.now().date() + timedelta(days=10)


def _balance(user, currency="CNY") -> int:
    account = wallet_balances(user=user).filter(currency=currency).first()
    return account.balance if account else 0


def _lapsed_hold(user, tour, party_size: int):
    """A hold made just over `hold_minutes` ago: lapsed, and no expiry job has run."""
    return booking_hold(user=user, product=tour, day=SOON, party_size=party_size,
                        now=timezone.now() - timedelta(minutes=tour.hold_minutes + 1))


def _tour(**extra):
    merchant = MerchantFactory(vertical="travel", city=city("hangzhou"))
    return product_with_slots(merchant=merchant, days=[SOON], capacity=10, price=20000, max_party_size=4, **extra)


@pytest.mark.django_db
def test_hold_pay_confirms_and_emits_a_booking_interaction():
    user = funded_user("1000")
    tour = _tour()
    client = client_for(user)
    held = client.post("/api/v1/bookings", {"product_id": tour.pk, "date": str(SOON), "party_size": 2},
                       format="json", HTTP_IDEMPOTENCY_KEY="h1").json()
    with TestCase.captureOnCommitCallbacks(execute=True):
        paid = client.post(f"/api/v1/bookings/{held['id']}/pay", HTTP_IDEMPOTENCY_KEY="p1")
    assert paid.status_code == 200, paid.content
    body = paid.json()
    assert body["status"] == "confirmed" and body["payment_id"]
    payment = Payment.objects.get(pk=body["payment_id"])
    assert payment.reference == f"booking:{held['id']}" and payment.merchant_id == tour.merchant_id
    assert payment.amount == 40000 and _balance(user) == 100000 - 40000
    assert Interaction.objects.filter(user=user, kind="booking", source=f"booking:{held['id']}").count() == 1
    # Replaying the same key returns the same answer; paying again with a new key is a conflict.
    replay = client.post(f"/api/v1/bookings/{held['id']}/pay", HTTP_IDEMPOTENCY_KEY="p1")
    assert replay.json() == body
    assert_error_shape(client.post(f"/api/v1/bookings/{held['id']}/pay", HTTP_IDEMPOTENCY_KEY="p2"), 409,
                       "booking_state_conflict")
    assert Payment.objects.count() == 1 and _balance(user) == 60000


@pytest.mark.django_db
def test_paying_an_expired_hold_is_409_and_writes_nothing():
    user = funded_user("1000")
    tour = _tour()
    held = _lapsed_hold(user, tour, 1)
    assert_error_shape(client_for(user).post(f"/api/v1/bookings/{held.pk}/pay", HTTP_IDEMPOTENCY_KEY="late"),
                       409, "hold_expired")
    held.refresh_from_db()
    assert held.status == BookingStatus.HELD and not Payment.objects.exists() and _balance(user) == 100000


@pytest.mark.django_db
def test_cancelling_a_lapsed_hold_is_409_hold_expired_and_changes_nothing():
    user = funded_user("1000")
    tour = _tour()
    lapsed = _lapsed_hold(user, tour, 2)
    client = client_for(user)
    assert client.get(f"/api/v1/bookings/{lapsed.pk}").json()["status"] == "expired"
    # Before the expiry job has run: the stored row still says held, the answer is what a reader sees.
    assert_error_shape(client.post(f"/api/v1/bookings/{lapsed.pk}/cancel", HTTP_IDEMPOTENCY_KEY="c1"), 409,
                       "hold_expired")
    lapsed.refresh_from_db()
    assert lapsed.status == BookingStatus.HELD and lapsed.cancelled_at is None
    assert InventorySlot.objects.get(product=tour).reserved == 2  # the job (or the next hold) releases it
    # After the job: the same answer, and still nothing written by the cancel.
    from bookings.services import booking_holds_expire

    assert booking_holds_expire() == 1
    assert_error_shape(client.post(f"/api/v1/bookings/{lapsed.pk}/cancel", HTTP_IDEMPOTENCY_KEY="c2"), 409,
                       "hold_expired")
    lapsed.refresh_from_db()
    assert lapsed.status == BookingStatus.EXPIRED and lapsed.cancelled_at is None
    assert InventorySlot.objects.get(product=tour).reserved == 0 and not Payment.objects.exists()


@pytest.mark.django_db
def test_insufficient_funds_keeps_the_hold_and_moves_no_money():
    user = funded_user("100")  # 100 CNY, the tour costs 200
    held = booking_hold(user=user, product=_tour(), day=SOON, party_size=1)
    assert_error_shape(client_for(user).post(f"/api/v1/bookings/{held.pk}/pay", HTTP_IDEMPOTENCY_KEY="k"), 409,
                       "insufficient_funds")
    held.refresh_from_db()
    assert held.status == BookingStatus.HELD and not Payment.objects.exists() and _balance(user) == 10000


@pytest.mark.django_db
def test_free_cancellation_refunds_everything_and_releases_inventory():
    user = funded_user("1000")
    tour = _tour(free_cancellation_hours=24, cancellation_fee_percent=50)
    booking = booking_pay(booking_id=booking_hold(user=user, product=tour, day=SOON, party_size=3).pk, user=user)
    assert _balance(user) == 100000 - 60000
    response = client_for(user).post(f"/api/v1/bookings/{booking.pk}/cancel", HTTP_IDEMPOTENCY_KEY="c1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["cancellation_fee"]["amount"] == "0.00"
    assert body["refunded"] == {"amount": "600.00", "currency": "CNY"}
    assert _balance(user) == 100000
    assert Refund.objects.get(pk=body["refund_id"]).payment_id == booking.payment_id
    assert InventorySlot.objects.get(product=tour).reserved == 0
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_late_cancellation_keeps_the_fee_and_a_started_booking_cannot_be_cancelled():
    user = funded_user("1000")
    tour = _tour(free_cancellation_hours=24, cancellation_fee_percent=50)
    booking = booking_pay(booking_id=booking_hold(user=user, product=tour, day=SOON, party_size=1).pk, user=user)
    starts_at = Booking.objects.get(pk=booking.pk).starts_at
    cancelled = booking_cancel(booking_id=booking.pk, user=user, now=starts_at - timedelta(hours=3))
    assert cancelled.cancellation_fee == 10000 and cancelled.refunded_amount == 10000
    assert _balance(user) == 100000 - 10000
    assert InventorySlot.objects.get(product=tour).reserved == 0

    other = booking_pay(booking_id=booking_hold(user=user, product=tour, day=SOON, party_size=1).pk, user=user)
    from bookings.exceptions import BookingStateConflict

    with pytest.raises(BookingStateConflict) as started:
        booking_cancel(booking_id=other.pk, user=user, now=starts_at + timedelta(minutes=5))
    assert started.value.code == "booking_already_started"
    assert Booking.objects.get(pk=other.pk).status == BookingStatus.CONFIRMED
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_cancelling_a_held_booking_releases_without_money():
    user = funded_user("1000")
    tour = _tour()
    held = booking_hold(user=user, product=tour, day=SOON, party_size=4)
    booking_cancel(booking_id=held.pk, user=user)
    assert InventorySlot.objects.get(product=tour).reserved == 0 and not Payment.objects.exists()
    from bookings.exceptions import BookingStateConflict

    with pytest.raises(BookingStateConflict):
        booking_pay(booking_id=held.pk, user=user)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_hundred_threads_book_and_pay_the_last_ten_places(concurrently):
    merchant = MerchantFactory(vertical="travel", city=city("hangzhou"))
    tour = product_with_slots(merchant=merchant, days=[SOON], capacity=10, price=5000, start=time(9))
    users = User.objects.bulk_create(User(username=f"traveller{i}", home_currency="CNY") for i in range(200))
    for user in users:
        fund(user, "100")
    gate = threading.BoundedSemaphore(24)  # the PostgreSQL server is shared (max_connections=100)

    def attempt(i):
        from django.db import connection

        with gate:
            try:
                held = booking_hold(user=users[i], product=tour, day=SOON, party_size=1)
                return booking_pay(booking_id=held.pk, user=users[i]).status
            finally:
                connection.close()

    results = concurrently(attempt, 200)
    confirmed = [r for r in results if r == BookingStatus.CONFIRMED]
    refused = [r for r in results if isinstance(r, NoAvailability)]
    assert len(confirmed) == 10 and len(refused) == 190, {f"{type(r).__name__}: {r}"[:900] for r in results}
    assert InventorySlot.objects.get(product=tour).reserved == 10
    assert Booking.objects.filter(status="confirmed").count() == Payment.objects.count() == 10
    assert ledger_check()["ok"]
