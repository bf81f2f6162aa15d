"""Demo world for public-service appointments: the offices' services and their slots, a few appointments."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from appointments import services as appointments
from appointments.models import AppointmentSlot, PublicService
from appointments.seed_data import PUBLIC_SERVICES
from cityservices.models import ServiceProvider
from payments.seed import wallet_funds_ensure
from superapp.accounts.models import User
from superapp.money import Money


def seed(*, rng, stdout) -> None:
    slots = seed_public_services()
    stdout.write(f"  public services: {slots} appointment slots opened")


def seed_public_services() -> int:
    """Public services of the seeded offices, and their appointment slots for the coming two weeks."""

    offices = {p.code: p for p in ServiceProvider.objects.filter(kind="office").select_related("merchant")}
    PublicService.objects.bulk_create(
        PublicService(office=offices[office], code=code, name=name, description=description,
                      fee=Money.from_decimal(fee, offices[office].merchant.currency).amount,
                      duration_minutes=minutes, capacity_per_slot=capacity)
        for office, code, name, description, fee, minutes, capacity in PUBLIC_SERVICES if office in offices)
    return appointments.appointment_slots_open_all()


def seed_appointments(*, rng, stdout) -> None:
    users = {u.username: u for u in User.objects.filter(username__in=["bob", "dora"])}
    if "dora" in users:
        wallet_funds_ensure(user=users["dora"], currency="CHF", major=200)
    booked = appointments_book(users=users)
    reminders = appointments.appointment_reminders_send()
    stdout.write(f"  appointments: {booked}, reminders: {reminders}")


def appointments_book(*, users: dict) -> int:
    """bob renews his ID card in Hangzhou (fee paid from the wallet) and cancels a residence-permit appointment;
    dora registers her residence in Zurich (free) and gets a residence certificate (paid) first."""
    def first_free(office: str, service: str, days_from: int):
        starts = timezone.now() + timedelta(days=days_from)
        return (AppointmentSlot.objects.filter(service__office__code=office, service__code=service,
                                               starts_at__gte=starts, booked__lt=F("capacity"))
                .order_by("starts_at").first())

    plans = [("bob", "hz-citizen-centre", "id-card-renewal", 3, False),
             ("bob", "hz-citizen-centre", "residence-permit", 5, True),
             ("dora", "zh-stadthaus", "residence-registration", 6, False),
             ("dora", "zh-stadthaus", "residence-certificate", 1, False)]
    booked = 0
    for username, office, service, days_from, cancel in plans:
        slot = first_free(office, service, days_from)
        if username not in users or slot is None:
            continue
        appointment = appointments.appointment_book(user=users[username], slot_id=slot.pk)
        if cancel:
            appointments.appointment_cancel(user=users[username], appointment_id=appointment.pk)
        booked += 1
    return booked
