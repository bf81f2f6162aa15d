"""Reads of public-service appointments: the services of a city, their slots, a user's appointments and where
each stands (`appointment_status`, and the same rule in SQL: `appointments_with_status`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from appointments.models import Appointment, AppointmentReadStatus, AppointmentSlot, AppointmentStatus, PublicService
from cityservices.models import ServiceKind
from merchants.models import City
from merchants.selectors import tz_for
from superapp.exceptions import NotFound


# --- Public-service appointments ----------------------------------------------------------------
def public_services_for_city(*, city: City | None) -> QuerySet[PublicService]:
    if city is None:
        return PublicService.objects.none()
    return (PublicService.objects.filter(office__city=city, office__kind=ServiceKind.OFFICE, office__is_active=True,
                                         is_active=True)
            .select_related("office__merchant", "office__city").order_by("office__name", "name", "pk"))


def public_service_bookable(*, service_id: int) -> PublicService:
    """An active service of an active office, else 404 `public_service_not_found`."""
    service = (PublicService.objects.select_related("office__merchant")
               .filter(pk=service_id, is_active=True, office__is_active=True).first())
    if service is None:
        raise NotFound("Public service not found.", code="public_service_not_found")
    return service


def appointment_slots_for_days(*, service: PublicService, first: date | None, days: int,
                               now: datetime | None = None) -> QuerySet[AppointmentSlot]:
    """The service's slots starting from now within `days` office-local days from `first` (default: today
    at the office)."""
    zone = tz_for(service.office.merchant.time_zone)
    now = (now or timezone.now()).astimezone(zone)
    first = first or now.date()
    starts = max(now, datetime.combine(first, time(0), tzinfo=zone))
    try:
        ends = datetime.combine(first + timedelta(days=days), time(0), tzinfo=zone)
    except OverflowError:  # a date near 9999-12-31
        ends = datetime.max.replace(tzinfo=zone)
    return appointment_slots_between(service=service, starts=starts, ends=ends)


def appointment_slots_between(*, service: PublicService, starts: datetime, ends: datetime) -> QuerySet[AppointmentSlot]:
    """The service's slots starting in [starts, ends), in time order (full ones too: `available` says so)."""
    return AppointmentSlot.objects.filter(service=service, starts_at__gte=starts, starts_at__lt=ends).order_by(
        "starts_at", "pk")


def appointment_status(appointment: Appointment, *, at: datetime | None = None) -> str:
    """The one rule for where an appointment stands at `at`: a booked one is `in_progress` from its start for
    the service's `duration_minutes`, `completed` after; `cancelled` stays. Nothing stores the first two:
    reads compute them, so they are right whether or not a job has run. `appointments_with_status` is the
    same rule in SQL."""
    if appointment.status == AppointmentStatus.CANCELLED:
        return AppointmentReadStatus.CANCELLED
    at = at or timezone.now()
    starts_at = appointment.slot.starts_at
    if at < starts_at:
        return AppointmentReadStatus.BOOKED
    ends_at = starts_at + timedelta(minutes=appointment.slot.service.duration_minutes)
    return AppointmentReadStatus.IN_PROGRESS if at < ends_at else AppointmentReadStatus.COMPLETED


def appointments_with_status(appointments: QuerySet[Appointment], status: str, *,
                             at: datetime | None = None) -> QuerySet[Appointment]:
    """`appointments` that `appointment_status` says have `status` at `at` (one condition per service duration)."""
    if status == AppointmentReadStatus.CANCELLED:
        return appointments.filter(status=AppointmentStatus.CANCELLED)
    at = at or timezone.now()
    booked = appointments.filter(status=AppointmentStatus.BOOKED)
    if status == AppointmentReadStatus.BOOKED:
        return booked.filter(slot__starts_at__gt=at)
    condition = Q(pk__in=[])
    for minutes in set(booked.filter(slot__starts_at__lte=at).values_list("slot__service__duration_minutes",
                                                                          flat=True)):
        ends_after = Q(slot__starts_at__gt=at - timedelta(minutes=minutes))
        condition |= Q(slot__service__duration_minutes=minutes) & (
            ends_after if status == AppointmentReadStatus.IN_PROGRESS else ~ends_after)
    return booked.filter(condition, slot__starts_at__lte=at)


def appointments_for_user(*, user, status: str | None = None) -> QuerySet[Appointment]:
    """The user's appointments; `status` as `appointment_status` reads it now."""
    queryset = Appointment.objects.filter(user=user).select_related("slot__service__office__merchant",
                                                                   "slot__service__office__city")
    return appointments_with_status(queryset, status) if status else queryset


def appointment_of_user(*, user, appointment_id: int) -> Appointment:
    """One of the user's appointments, else 404 `appointment_not_found` (others' ids too)."""
    appointment = appointments_for_user(user=user).filter(pk=appointment_id).first()
    if appointment is None:
        raise NotFound("Appointment not found.", code="appointment_not_found")
    return appointment
