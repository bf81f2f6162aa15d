"""The booking agency's tables: products, their inventory slots, bookings.

The tables keep the Django app label `services` (and so their names, `services_*`, and their migrations in
`merchants/migrations/`): the area moved out of the old `services/` package without a schema change."""

import datetime

from django.db import models
from django.utils import timezone

from merchants.models import Merchant


# --- Booking agency -----------------------------------------------------------------------------
class ProductKind(models.TextChoices):
    HOTEL_ROOM = "hotel_room", "Hotel room (per night)"
    TABLE = "table", "Restaurant table (per time slot)"
    TOUR = "tour", "Tour or ticket (per date, per person)"


class Product(models.Model):
    """Something a merchant sells by date: a room type, a table, a tour. Prices are per night (rooms), per
    table (tables, a deposit) or per person (tours), in minor units of `currency`."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="products")
    kind = models.CharField(max_length=12, choices=ProductKind.choices)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price_amount = models.BigIntegerField(help_text="Default price in minor units (per night/table/person)")
    currency = models.CharField(max_length=3)
    max_party_size = models.PositiveSmallIntegerField(default=2, help_text="Guests per room, seats per table, "
                                                                           "tickets per booking")
    start_time = models.TimeField(default=datetime.time(15), help_text="Local check-in / start time (tables: per slot)")
    free_cancellation_hours = models.PositiveIntegerField(default=24, help_text="Free cancellation until this "
                                                                                "many hours before the start")
    cancellation_fee_percent = models.PositiveSmallIntegerField(default=100, help_text="Fee after that, 0-100 %")
    hold_minutes = models.PositiveSmallIntegerField(default=15)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "services"
        ordering = ["merchant", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price_amount__gt=0), name="product_price_positive"),
            models.CheckConstraint(condition=models.Q(cancellation_fee_percent__lte=100), name="product_fee_percent"),
            models.CheckConstraint(condition=models.Q(max_party_size__gte=1), name="product_party_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.merchant_id}"


class InventorySlot(models.Model):
    """Units of a product on one local date and start time (rooms for a night, tables at 19:30, tickets).
    Invariant: 0 <= reserved <= capacity, where reserved counts held and confirmed units; it is only changed
    with the row locked (select_for_update), so two holds can never take the same last unit."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="slots")
    date = models.DateField()
    start_time = models.TimeField()
    capacity = models.PositiveIntegerField()
    reserved = models.PositiveIntegerField(default=0)
    price_amount = models.BigIntegerField(null=True, blank=True, help_text="Overrides the product's price")

    class Meta:
        app_label = "services"
        ordering = ["product", "date", "start_time"]
        constraints = [
            models.UniqueConstraint(fields=["product", "date", "start_time"], name="inventory_slot_unique"),
            models.CheckConstraint(condition=models.Q(reserved__lte=models.F("capacity")),
                                   name="inventory_not_overbooked"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.date} {self.start_time} {self.reserved}/{self.capacity}"

    @property
    def available(self) -> int:
        return self.capacity - self.reserved


class BookingStatus(models.TextChoices):
    HELD = "held", "Held (unpaid)"
    CONFIRMED = "confirmed", "Confirmed (paid)"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Hold expired"


class Booking(models.Model):
    """quote -> hold (inventory reserved until `hold_expires_at`) -> pay -> confirmed; or expired/cancelled,
    which release the inventory. Amounts in minor units of `currency`."""

    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="bookings")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="bookings")
    status = models.CharField(max_length=10, choices=BookingStatus.choices, default=BookingStatus.HELD)
    party_size = models.PositiveSmallIntegerField()
    units = models.PositiveSmallIntegerField(help_text="Rooms, tables or tickets taken from each slot")
    first_date = models.DateField()
    last_date = models.DateField(help_text="Last night for rooms (check-out is the day after)")
    starts_at = models.DateTimeField(help_text="Local start (check-in, table time, tour start) as an instant")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    hold_expires_at = models.DateTimeField(db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="bookings")
    refund = models.ForeignKey("payments.Refund", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="bookings")
    cancellation_fee = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    slots = models.ManyToManyField(InventorySlot, through="BookingSlot", related_name="bookings")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "services"
        ordering = ["-pk"]
        indexes = [models.Index(fields=["status", "hold_expires_at"], name="booking_hold_expiry"),
                   models.Index(fields=["user", "status"], name="booking_user_status")]

    def __str__(self) -> str:
        return f"booking {self.pk} {self.status}"


class BookingSlot(models.Model):
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="booking_slots")
    slot = models.ForeignKey(InventorySlot, on_delete=models.PROTECT, related_name="booking_slots")
    units = models.PositiveSmallIntegerField()

    class Meta:
        app_label = "services"
        constraints = [models.UniqueConstraint(fields=["booking", "slot"], name="booking_slot_unique")]
