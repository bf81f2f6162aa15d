"""Public-service appointments: slots from office hours, booking (fee through the wallet), capacity under a race,
cancellation (place freed, fee refunded), reminders, and the API around them."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from appointments.exceptions import AppointmentSlotFull
from appointments.models import Appointment, AppointmentSlot, PublicService
from appointments.services import (
    appointment_book,
    appointment_cancel,
    appointment_reminders_send,
    appointment_slots_open,
)
from cityservices.models import Notification
from merchants.models import OpeningException
from payments.checks import ledger_check
from payments.models import Payment
from payments.selectors import wallet_balances
from superapp.accounts.models import User
from tests.cityservices.factories import provider
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.merchants.factories import connect_with_backoff, hours
from tests.payments.factories import fund, funded_user
from tests.superapp.test_api_conventions import assert_error_shape

MONDAY = date(2030, 1, 7)  # a Monday
SLOT_AT = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)  # 09:00 in Hangzhou (UTC+8)


def _service(*, fee=0, capacity=2, minutes=30, city_slug="hangzhou", **extra) -> PublicService:
    office = provider(city_slug=city_slug, kind="office", pattern=r"^.*$")
    return PublicService.objects.create(office=office, code="id-card", name="ID card", fee=fee,
                                        duration_minutes=minutes, capacity_per_slot=capacity, **extra)


def _slot(service: PublicService, *, starts_at=SLOT_AT, capacity=None) -> AppointmentSlot:
    return AppointmentSlot.objects.create(service=service, starts_at=starts_at,
                                          capacity=service.capacity_per_slot if capacity is None else capacity)


def _balance(user, currency="CNY") -> int:
    return wallet_balances(user=user).get(currency=currency).balance


@pytest.mark.django_db
def test_slots_follow_the_office_hours_in_its_time_zone_and_opening_again_adds_nothing():
    service = _service(minutes=30, capacity=3)
    hours(service.office.merchant, time(9), time(11), weekdays=range(5))  # Mon-Fri 09:00-11:00 local
    OpeningException.objects.create(merchant=service.office.merchant, date=MONDAY + timedelta(days=2), opens=None,
                                    closes=None, note="Holiday")
    created = appointment_slots_open(service=service, days_ahead=7, today=MONDAY)
    # 4 working days open (Wednesday is a holiday), four 30-minute slots each, none at the weekend.
    assert created == 16
    starts = list(AppointmentSlot.objects.filter(service=service).values_list("starts_at", flat=True))
    assert starts[0] == SLOT_AT and starts[3] == SLOT_AT + timedelta(minutes=90)
    assert {s.date() for s in starts} == {MONDAY + timedelta(days=d) for d in (0, 1, 3, 4)}
    assert all(s.capacity == 3 for s in AppointmentSlot.objects.filter(service=service))
    assert appointment_slots_open(service=service, days_ahead=7, today=MONDAY) == 0


@pytest.mark.django_db
def test_book_a_paid_appointment_then_cancel_it_for_a_full_refund():
    user = funded_user("100")
    service = _service(fee=2000)
    slot = _slot(service)
    client = client_for(user)
    response = client.post("/api/v1/appointments", {"slot_id": slot.pk}, format="json", HTTP_IDEMPOTENCY_KEY="a1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "booked" and body["fee"] == {"amount": "20.00", "currency": "CNY"}
    assert body["starts_at"] == "2030-01-07T01:00:00Z" and body["ends_at"] == "2030-01-07T01:30:00Z"
    payment = Payment.objects.get(pk=body["payment_id"])
    assert payment.merchant_id == service.office.merchant_id and payment.amount == 2000
    assert payment.reference == f"appointment:{body['id']}"
    assert _balance(user) == 8000 and AppointmentSlot.objects.get(pk=slot.pk).booked == 1
    # A replay with the same key returns the same appointment and charges nothing more.
    again = client.post("/api/v1/appointments", {"slot_id": slot.pk}, format="json", HTTP_IDEMPOTENCY_KEY="a1")
    assert again.json() == body and _balance(user) == 8000

    cancelled = client.post(f"/api/v1/appointments/{body['id']}/cancel", HTTP_IDEMPOTENCY_KEY="c1")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["refund_id"]
    assert _balance(user) == 10000 and AppointmentSlot.objects.get(pk=slot.pk).booked == 0
    assert_error_shape(client.post(f"/api/v1/appointments/{body['id']}/cancel", HTTP_IDEMPOTENCY_KEY="c2"), 409,
                       "appointment_state_conflict")
    assert ledger_check()["ok"]
    # The freed place can be booked again.
    assert client.post("/api/v1/appointments", {"slot_id": slot.pk}, format="json",
                       HTTP_IDEMPOTENCY_KEY="a2").status_code == 201


@pytest.mark.django_db
def test_a_free_appointment_moves_no_money_and_shows_in_my_list(django_assert_num_queries):
    user = UserFactory()
    service = _service(fee=0)
    slots = [_slot(service, starts_at=SLOT_AT + timedelta(hours=i)) for i in range(3)]
    for slot in slots:
        appointment = appointment_book(user=user, slot_id=slot.pk)
        assert appointment.payment_id is None
    appointment_cancel(user=user, appointment_id=appointment.pk)
    client = client_for(user)
    with django_assert_num_queries(1):
        page = client.get("/api/v1/appointments")
    assert [a["status"] for a in page.json()["results"]] == ["cancelled", "booked", "booked"]
    assert [a["id"] for a in client.get("/api/v1/appointments", {"status": "cancelled"}).json()["results"]] == [
        appointment.pk]
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_bad_bookings_are_specific_errors_and_write_nothing():
    service = _service(fee=5000, capacity=1)
    slot = _slot(service)
    poor = funded_user("10")
    client = client_for(poor)
    assert_error_shape(client.post("/api/v1/appointments", {"slot_id": slot.pk}, format="json",
                                   HTTP_IDEMPOTENCY_KEY="p1"), 409, "insufficient_funds")
    assert AppointmentSlot.objects.get(pk=slot.pk).booked == 0 and not Appointment.objects.exists()
    assert _balance(poor) == 1000

    rich = funded_user("500")
    appointment_book(user=rich, slot_id=slot.pk)
    rich_client = client_for(rich)
    assert_error_shape(rich_client.post("/api/v1/appointments", {"slot_id": slot.pk}, format="json",
                                        HTTP_IDEMPOTENCY_KEY="r2"), 409, "appointment_exists")
    fund(poor, "100")
    assert_error_shape(client.post("/api/v1/appointments", {"slot_id": slot.pk}, format="json",
                                   HTTP_IDEMPOTENCY_KEY="p2"), 409, "appointment_slot_full")
    past = _slot(service, starts_at=datetime(2020, 1, 6, 1, 0, tzinfo=UTC))
    assert_error_shape(client.post("/api/v1/appointments", {"slot_id": past.pk}, format="json",
                                   HTTP_IDEMPOTENCY_KEY="p3"), 400, "appointment_in_past")
    assert_error_shape(client.post("/api/v1/appointments", {"slot_id": 10**12}, format="json",
                                   HTTP_IDEMPOTENCY_KEY="p4"), 404, "appointment_slot_not_found")
    assert_error_shape(client.post("/api/v1/appointments", {"slot_id": "x"}, format="json",
                                   HTTP_IDEMPOTENCY_KEY="p5"), 400, "validation_error")
    assert Appointment.objects.count() == 1 and _balance(poor) == 11000
    assert AppointmentSlot.objects.get(pk=slot.pk).booked == 1


@pytest.mark.django_db
def test_others_appointments_are_404_and_started_ones_cannot_be_cancelled():
    service = _service()
    slot = _slot(service)
    owner = UserFactory()
    appointment = appointment_book(user=owner, slot_id=slot.pk)
    stranger = client_for(UserFactory())
    assert_error_shape(stranger.get(f"/api/v1/appointments/{appointment.pk}"), 404, "appointment_not_found")
    assert_error_shape(stranger.post(f"/api/v1/appointments/{appointment.pk}/cancel", HTTP_IDEMPOTENCY_KEY="s"),
                       404, "appointment_not_found")
    assert client_for(owner).get(f"/api/v1/appointments/{appointment.pk}").json()["id"] == appointment.pk
    with pytest.raises(Exception) as excinfo:
        appointment_cancel(user=owner, appointment_id=appointment.pk, now=SLOT_AT + timedelta(minutes=1))
    assert excinfo.value.code == "appointment_already_started"
    assert AppointmentSlot.objects.get(pk=slot.pk).booked == 1


@pytest.mark.django_db
def test_catalogue_and_slots_endpoints():
    service = _service(fee=2000, capacity=2)
    full = _slot(service, capacity=1)
    open_slot = _slot(service, starts_at=SLOT_AT + timedelta(minutes=30))
    _slot(service, starts_at=SLOT_AT + timedelta(days=10))  # outside the window asked for
    appointment_book(user=funded_user("100"), slot_id=full.pk)
    client = client_for(UserFactory())
    catalogue = client.get("/api/v1/public-services", {"city": "hangzhou"}).json()["results"]
    assert [(s["id"], s["fee"]["amount"], s["office"]["merchant_id"]) for s in catalogue] == [
        (service.pk, "20.00", service.office.merchant_id)]
    assert client.get("/api/v1/public-services", {"city": "zurich"}).json()["results"] == []
    assert_error_shape(client.get("/api/v1/public-services", {"city": "atlantis"}), 400, "unknown_city")
    slots = client.get(f"/api/v1/public-services/{service.pk}/slots",
                       {"date": "2030-01-07", "days": 2}).json()["results"]
    assert [(s["id"], s["available"]) for s in slots] == [(full.pk, 0), (open_slot.pk, 2)]
    assert slots[1]["ends_at"] == "2030-01-07T02:00:00Z"
    assert_error_shape(client.get("/api/v1/public-services/999999/slots"), 404, "public_service_not_found")
    assert_error_shape(client.get(f"/api/v1/public-services/{service.pk}/slots", {"days": 0}), 400,
                       "validation_error")
    assert client.get(f"/api/v1/public-services/{service.pk}/slots", {"date": "9999-12-31"}).json()["results"] == []
    # The office is in the city-services catalogue too.
    kinds = {p["kind"] for p in client.get("/api/v1/city-services", {"city": "hangzhou"}).json()["results"]}
    assert "office" in kinds


@pytest.mark.django_db
def test_reminders_for_appointments_within_the_window_once_each():
    service = _service()
    soon, later = _slot(service), _slot(service, starts_at=SLOT_AT + timedelta(days=3))
    user = UserFactory()
    reminded = appointment_book(user=user, slot_id=soon.pk)
    appointment_book(user=user, slot_id=later.pk)
    cancelled = appointment_book(user=UserFactory(), slot_id=soon.pk)
    appointment_cancel(user=cancelled.user, appointment_id=cancelled.pk)
    now = SLOT_AT - timedelta(hours=20)
    assert appointment_reminders_send(within_hours=24, now=now) == 1
    assert appointment_reminders_send(within_hours=24, now=now) == 0
    note = Notification.objects.get(kind="appointment_reminder")
    assert note.user_id == user.pk and note.data["appointment_id"] == reminded.pk
    assert note.title == "ID card: Mon 07 Jan, 09:00"
    page = client_for(user).get("/api/v1/notifications", {"unread": "true"}).json()
    assert [n["kind"] for n in page["results"]] == ["appointment_reminder"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_forty_threads_race_for_the_last_three_places(concurrently):
    service = _service(fee=1500, capacity=5)
    slot = _slot(service)
    AppointmentSlot.objects.filter(pk=slot.pk).update(booked=2)  # two places already taken: three left
    users = list(User.objects.bulk_create(User(username=f"racer{i}") for i in range(40)))
    for user in users:
        fund(user, "50")

    def attempt(i):
        connect_with_backoff()
        return appointment_book(user=users[i], slot_id=slot.pk).pk

    results = concurrently(attempt, 40)
    booked = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, AppointmentSlotFull)]
    assert len(booked) == 3 and len(refused) == 37, [r for r in results if not isinstance(r, int | AppointmentSlotFull)]
    assert AppointmentSlot.objects.get(pk=slot.pk).booked == 5
    assert Appointment.objects.filter(status="booked").count() == 3
    # Only the three winners paid.
    assert Payment.objects.filter(reference__startswith="appointment:").count() == 3
    assert sorted(_balance(u) for u in users).count(5000 - 1500) == 3
    assert ledger_check()["ok"]
