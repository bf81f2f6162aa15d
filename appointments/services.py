"""Public-service appointments: slots opened from an office's hours, book (fee through the wallet), cancel
(slot freed, fee refunded), reminders.

Concurrency invariant: `AppointmentSlot.booked` never exceeds `capacity`. It changes only inside a transaction
holding the slot's row lock (`select_for_update`), and the capacity is checked on the locked row; a CHECK
constraint backs it up. Lock order: appointment -> slot -> wallet accounts (inside the wallet's services), the
same in every path, so booking and cancelling never deadlock.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from appointments import conf
from appointments.exceptions import AppointmentExists, AppointmentInPast, AppointmentSlotFull, AppointmentStateConflict
from appointments.models import Appointment, AppointmentSlot, AppointmentStatus, PublicService
from cityservices.models import ServiceKind
from cityservices.services import notification_create
from merchants.models import OpeningException, OpeningHours
from merchants.selectors import tz_for
from superapp.db import retry_on_conflict
from superapp.exceptions import NotFound
from superapp.money import Money


def _office_intervals(*, merchant_id: int, days: list[date]) -> dict[date, list[tuple[time, time]]]:
    """The office's opening intervals per local date: that date's exceptions if any (a closed day has none),
    else the weekday's hours. Offices do not open overnight: intervals crossing midnight are left out."""
    weekly: dict[int, list[tuple[time, time]]] = {}
    for weekday, opens, closes in OpeningHours.objects.filter(merchant_id=merchant_id).values_list(
            "weekday", "opens", "closes"):
        weekly.setdefault(weekday, []).append((opens, closes))
    special: dict[date, list[tuple[time, time]]] = {}
    for day, opens, closes in OpeningException.objects.filter(merchant_id=merchant_id, date__in=days).values_list(
            "date", "opens", "closes"):
        special.setdefault(day, [])
        if opens is not None and closes is not None:
            special[day].append((opens, closes))
    return {day: sorted(i for i in (special[day] if day in special else weekly.get(day.weekday(), []))
                        if i[1] > i[0])
            for day in days}


def appointment_slots_open(*, service: PublicService, days_ahead: int | None = None,
                           today: date | None = None) -> int:
    """Create the service's slots for the coming days (office-local dates from today), every `duration_minutes`
    within the office's opening hours. Safe to run again: existing slots are kept as they are. Returns how many
    slots were created."""
    office = service.office
    zone = tz_for(office.merchant.time_zone)
    today = today or timezone.now().astimezone(zone).date()
    days = [today + timedelta(days=i) for i in range(conf.APPOINTMENT_DAYS_AHEAD if days_ahead is None
                                                      else days_ahead)]
    step = timedelta(minutes=service.duration_minutes)
    wanted = []
    for day, intervals in _office_intervals(merchant_id=office.merchant_id, days=days).items():
        for opens, closes in intervals:
            start = datetime.combine(day, opens, tzinfo=zone)
            end = datetime.combine(day, closes, tzinfo=zone)
            while start + step <= end:
                wanted.append(start)
                start += step
    if not wanted:
        return 0
    known = set(AppointmentSlot.objects.filter(service=service, starts_at__in=wanted)
                .values_list("starts_at", flat=True))
    new = [AppointmentSlot(service=service, starts_at=s, capacity=service.capacity_per_slot)
           for s in wanted if s not in known]
    AppointmentSlot.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent run may have made some
    return len(new)


def appointment_slots_open_all(*, days_ahead: int | None = None) -> int:
    created = 0
    for service in PublicService.objects.filter(is_active=True, office__is_active=True).select_related(
            "office__merchant"):
        created += appointment_slots_open(service=service, days_ahead=days_ahead)
    return created


@retry_on_conflict
def appointment_book(*, user, slot_id: int, now: datetime | None = None) -> Appointment:
    """Book a place in a slot; a service with a fee is paid from the wallet to the office's merchant account in
    the same transaction. Errors (nothing written): `appointment_slot_not_found` (404), `appointment_in_past`,
    `appointment_exists` (409), `appointment_slot_full` (409), and the wallet's (`insufficient_funds`, ...)."""
    from payments import services as payment_services  # the wallet app

    now = now or timezone.now()
    with transaction.atomic():
        slot = (AppointmentSlot.objects.select_for_update(of=("self",))
                .select_related("service__office__merchant", "service__office__city")
                .filter(pk=slot_id, service__is_active=True, service__office__is_active=True,
                        service__office__kind=ServiceKind.OFFICE).first())
        if slot is None:
            raise NotFound("Appointment slot not found.", code="appointment_slot_not_found")
        if slot.starts_at <= now:
            raise AppointmentInPast(details={"starts_at": slot.starts_at.isoformat()})
        if Appointment.objects.filter(user=user, slot=slot, status=AppointmentStatus.BOOKED).exists():
            raise AppointmentExists()
        if slot.booked >= slot.capacity:
            raise AppointmentSlotFull(details={"capacity": slot.capacity})
        service, office = slot.service, slot.service.office
        # The slot lock serialises every booking of this slot, so the checks above cannot go stale before this.
        AppointmentSlot.objects.filter(pk=slot.pk).update(booked=F("booked") + 1)
        appointment = Appointment.objects.create(user=user, slot=slot, fee=service.fee,
                                                 currency=office.merchant.currency, created_at=now)
        if service.fee:
            local = slot.starts_at.astimezone(tz_for(office.merchant.time_zone))
            appointment.payment = payment_services.payment_create(
                payer=user, merchant=office.merchant, amount=Money(service.fee, office.merchant.currency),
                reference=f"appointment:{appointment.pk}",
                description=f"{service.name}, {office.name}, {local:%Y-%m-%d %H:%M}")
            appointment.save(update_fields=["payment"])
    return appointment


@retry_on_conflict
def appointment_cancel(*, user, appointment_id: int, now: datetime | None = None) -> Appointment:
    """Cancel a booked appointment before it starts: the place goes back to the slot and a paid fee is refunded
    in full through the wallet. Errors: `appointment_not_found` (404), `appointment_state_conflict` (409, already
    cancelled), `appointment_already_started` (409)."""
    from payments import services as payment_services  # the wallet app

    now = now or timezone.now()
    with transaction.atomic():
        appointment = (Appointment.objects.select_for_update(of=("self",))
                       .select_related("slot__service__office", "payment")
                       .filter(pk=appointment_id, user=user).first())
        if appointment is None:
            raise NotFound("Appointment not found.", code="appointment_not_found")
        if appointment.status != AppointmentStatus.BOOKED:
            raise AppointmentStateConflict(f"The appointment is {appointment.status}.",
                                           details={"status": appointment.status})
        if appointment.slot.starts_at <= now:
            raise AppointmentStateConflict("The appointment has already started.",
                                           code="appointment_already_started")
        list(AppointmentSlot.objects.select_for_update().filter(pk=appointment.slot_id))
        AppointmentSlot.objects.filter(pk=appointment.slot_id).update(booked=F("booked") - 1)
        if appointment.payment is not None:
            service = appointment.slot.service
            appointment.refund = payment_services.payment_refund(
                payment=appointment.payment, reason=f"Appointment {appointment.pk} cancelled ({service.name})",
                actor=user)
        appointment.status = AppointmentStatus.CANCELLED
        appointment.cancelled_at = now
        appointment.save(update_fields=["status", "cancelled_at", "refund"])
    return appointment


def appointment_reminders_send(*, within_hours: int | None = None, now: datetime | None = None) -> int:
    """Remind users of booked appointments starting within N hours. One reminder per appointment (safe to run
    twice); returns how many were created."""
    within = conf.APPOINTMENT_REMINDER_HOURS if within_hours is None else within_hours
    now = now or timezone.now()
    soon = (Appointment.objects.filter(status=AppointmentStatus.BOOKED, slot__starts_at__gt=now,
                                       slot__starts_at__lte=now + timedelta(hours=within))
            .select_related("slot__service__office__merchant"))
    sent = 0
    for appointment in soon.iterator(chunk_size=500):
        service, office = appointment.slot.service, appointment.slot.service.office
        local = appointment.slot.starts_at.astimezone(tz_for(office.merchant.time_zone))
        created = notification_create(
            user_id=appointment.user_id, kind="appointment_reminder",
            dedupe_key=f"appointment_reminder:{appointment.pk}",
            title=f"{service.name}: {local:%a %d %b, %H:%M}",
            body=f"Your appointment at {office.name} ({office.merchant.address}) is on {local:%A %d %B at %H:%M}. "
                 f"Bring your ID.",
            data={"appointment_id": appointment.pk, "service_id": service.pk,
                  "starts_at": appointment.slot.starts_at.isoformat(), "office_id": office.pk})
        sent += created is not None
    return sent
