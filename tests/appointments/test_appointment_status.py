"""An appointment's status is right when read: a booked appointment reads `in_progress` from its start for the
service's duration and `completed` after, over the API and in the `status` filter, with no job writing it; the
Python rule and its SQL form agree on generated cases."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from appointments.models import Appointment, AppointmentReadStatus, AppointmentSlot, AppointmentStatus
from appointments.selectors import appointment_status, appointments_with_status
from appointments.services import appointment_book, appointment_cancel
from tests.appointments.test_appointments import _service
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.read_time import assert_filter_agrees_with_rule


@pytest.mark.django_db
def test_booked_appointments_read_in_progress_then_completed_as_time_passes():
    user = UserFactory()
    now = timezone.now()
    short, long_ = _service(minutes=30), _service(minutes=90, city_slug="shanghai")
    starts = {"upcoming": (short, now + timedelta(hours=2)), "under_way": (long_, now - timedelta(minutes=60)),
              "over": (short, now - timedelta(minutes=45))}
    ids = {}
    for name, (service, starts_at) in starts.items():
        slot = AppointmentSlot.objects.create(service=service, starts_at=starts_at, capacity=2)
        # Booked while the slot was still ahead; its time has come since.
        ids[name] = appointment_book(user=user, slot_id=slot.pk, now=starts_at - timedelta(hours=1)).pk
    client = client_for(user)

    statuses = {a["id"]: a["status"] for a in client.get("/api/v1/appointments").json()["results"]}
    assert statuses == {ids["upcoming"]: "booked", ids["under_way"]: "in_progress", ids["over"]: "completed"}
    assert set(Appointment.objects.values_list("status", flat=True)) == {AppointmentStatus.BOOKED}
    for wanted, expected in (("booked", {"upcoming"}), ("in_progress", {"under_way"}), ("completed", {"over"}),
                             ("cancelled", set())):
        page = client.get("/api/v1/appointments", {"status": wanted}).json()["results"]
        assert {a["id"] for a in page} == {ids[name] for name in expected}, wanted
    appointment_cancel(user=user, appointment_id=ids["upcoming"])
    assert client.get(f"/api/v1/appointments/{ids['upcoming']}").json()["status"] == "cancelled"


@pytest.mark.django_db
def test_appointment_status_and_its_sql_form_agree_on_generated_cases():
    rng = random.Random(11)
    user = UserFactory()
    now = timezone.now()
    services = [_service(minutes=15), _service(minutes=45, city_slug="shanghai")]
    for i in range(30):
        service = rng.choice(services)
        starts_at = now + timedelta(minutes=rng.choice([-120, -45, -44, -15, -14, -1, 0, 1, 30]) , seconds=i)
        slot = AppointmentSlot.objects.create(service=service, starts_at=starts_at, capacity=1)
        appointment = Appointment.objects.create(user=user, slot=slot, currency="CNY")
        if rng.random() < 0.2:
            Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.CANCELLED)
    appointments = Appointment.objects.filter(user=user).select_related("slot__service")
    assert_filter_agrees_with_rule(appointments, AppointmentReadStatus.values,
                                   rule=lambda a: appointment_status(a, at=now),
                                   filtered=lambda qs, status: appointments_with_status(qs, status, at=now))
