"""Reads of merchants, opening hours and trips. Other apps (the recommender, the wallet) call these.

- `merchants_search(...)`: a filtered queryset (text, city, vertical, category and its descendants,
  wallet, tax-free, price level, open now in each merchant's own time zone).
- `merchants_nearby(...)`: the same filters around a point, sorted by great-circle distance; a bounding box
  on the indexed latitude/longitude columns narrows the candidates, the exact haversine decides.
- `merchant_is_open(merchant, at)`, `merchants_open_now_ids(ids, at)`: opening-hours checks.
- `active_trip(user, at)`, `user_current_city(user, at)`: where a user is, for travellers' features.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from appointments.models import Appointment, AppointmentReadStatus, AppointmentSlot, AppointmentStatus, PublicService
from cityservices.models import ServiceKind
from merchants.models import City


# --- Public-service appointments ----------------------------------------------------------------
def public_services_for_city(*, city: City) -> QuerySet[PublicService]:
    return (PublicService.objects.filter(office__city=city, office__kind=ServiceKind.OFFICE, office__is_active=True,
                                         is_active=True)
            .select_related("office__merchant", "office__city").order_by("office__name", "name", "pk"))


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
