"""Public-service appointments: services of an office, their slots, appointments.

The tables keep the Django app label `services` (and so their names, `services_*`, and their migrations in
`merchants/migrations/`): the area moved out of the old `services/` package without a schema change."""


from django.db import models
from django.utils import timezone

from cityservices.models import ServiceProvider


class PublicService(models.Model):
    """A service a public office (a `ServiceProvider` of kind `office`) gives by appointment: an ID card, a residence
    registration... `fee` (minor units of the office's currency, 0 = free) is paid through the wallet to the office's
    merchant account when booking. Slots are opened from the office's opening hours (`appointment_slots_open`)."""

    office = models.ForeignKey(ServiceProvider, on_delete=models.PROTECT, related_name="public_services")
    code = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    fee = models.BigIntegerField(default=0, help_text="Minor units of the office's currency; 0 = free")
    duration_minutes = models.PositiveSmallIntegerField(default=15)
    capacity_per_slot = models.PositiveSmallIntegerField(default=1, help_text="Counters serving it at once")
    is_active = models.BooleanField(default=True)

    class Meta:
        app_label = "services"
        ordering = ["office", "name"]
        constraints = [models.UniqueConstraint(fields=["office", "code"], name="public_service_code_unique"),
                       models.CheckConstraint(condition=models.Q(fee__gte=0), name="public_service_fee_gte_0"),
                       models.CheckConstraint(condition=models.Q(duration_minutes__gte=5),
                                              name="public_service_duration_gte_5")]

    def __str__(self) -> str:
        return f"{self.name} ({self.office_id})"


class AppointmentSlot(models.Model):
    """A time at an office for one service, for up to `capacity` people. Invariant: `booked` (appointments not
    cancelled) never exceeds `capacity`; changed only under the row lock, backed by a CHECK constraint."""

    service = models.ForeignKey(PublicService, on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField(db_index=True)
    capacity = models.PositiveSmallIntegerField()
    booked = models.PositiveSmallIntegerField(default=0)

    class Meta:
        app_label = "services"
        ordering = ["starts_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["service", "starts_at"], name="appointment_slot_unique"),
                       models.CheckConstraint(condition=models.Q(booked__lte=models.F("capacity")),
                                              name="appointment_slot_not_overbooked")]

    def __str__(self) -> str:
        return f"{self.service_id} @ {self.starts_at:%Y-%m-%d %H:%M}"


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CANCELLED = "cancelled", "Cancelled"


class AppointmentReadStatus(models.TextChoices):
    """What an appointment is as of now (`selectors.appointment_status`): a stored `booked` appointment reads
    `in_progress` from its start for the service's duration and `completed` after it, with no job writing it."""

    BOOKED = "booked", "Booked"
    IN_PROGRESS = "in_progress", "Under way"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Appointment(models.Model):
    """A user's appointment in a slot. The fee, if any, was paid with `payment` and refunded with `refund` on
    cancellation (full refund until the start)."""

    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="appointments")
    slot = models.ForeignKey(AppointmentSlot, on_delete=models.PROTECT, related_name="appointments")
    status = models.CharField(max_length=10, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED)
    fee = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="appointments")
    refund = models.ForeignKey("payments.Refund", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="appointments")
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "services"
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "slot"], condition=models.Q(status="booked"),
                                               name="appointment_one_per_user_and_slot")]

    def __str__(self) -> str:
        return f"appointment {self.pk} {self.status}"
