"""The booking agency: quote -> hold -> pay (wallet) -> confirmed; expiry and cancellation release inventory.

Concurrency invariant: `InventorySlot.reserved` (held + confirmed units) never exceeds `capacity`. Every change
to it happens inside a transaction with the slot rows locked by `select_for_update()` in primary-key order, and
bookings are locked before their slots (booking -> slots), so holds, payments, expiries and cancellations
never deadlock and never overbook. A database CHECK constraint backs the invariant up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from bookings.exceptions import (
    BookingInPast,
    BookingStateConflict,
    HoldExpired,
    InvalidBookingDates,
    NoAvailability,
    PartySizeAboveCapacity,
    ProductUnavailable,
)
from bookings.models import Booking, BookingSlot, BookingStatus, InventorySlot, Product, ProductKind
from merchants.selectors import tz_for
from superapp.db import retry_on_conflict
from superapp.events import InteractionKind, interaction_on_commit
from superapp.exceptions import NotFound
from superapp.money import Money

MAX_NIGHTS = 30
MAX_DAYS_AHEAD = 730
MAX_UNITS = 20


@dataclass
class Quote:
    product: Product
    slots: list[InventorySlot]
    units: int
    party_size: int
    first_date: date
    last_date: date
    starts_at: datetime
    amount: Money
    available: bool

    @property
    def free_cancellation_until(self) -> datetime:
        return self.starts_at - timedelta(hours=self.product.free_cancellation_hours)


def local_now(product: Product, now: datetime) -> datetime:
    return now.astimezone(tz_for(product.merchant.time_zone))


def _request_shape(*, product: Product, day: date, check_out: date | None, at_time: time | None, party_size: int,
                   rooms: int | None, now: datetime) -> tuple[list[date], time, int]:
    """Validate the request against the product; returns (local dates, start time, units per slot)."""
    if not product.is_active or not product.merchant.is_active:
        raise ProductUnavailable()
    if party_size < 1:
        raise PartySizeAboveCapacity("The party needs at least one person.", code="invalid_party_size")
    today = local_now(product, now).date()
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidBookingDates(f"Bookings open at most {MAX_DAYS_AHEAD} days ahead.",
                                  code="booking_too_far_ahead", details={"date": str(day)})
    if product.kind == ProductKind.HOTEL_ROOM:
        check_out = check_out or day + timedelta(days=1)
        nights = (check_out - day).days
        if nights < 1 or nights > MAX_NIGHTS:
            raise InvalidBookingDates(f"Check-out must be 1 to {MAX_NIGHTS} nights after check-in.",
                                      details={"check_in": str(day), "check_out": str(check_out)})
        if day < today:
            raise BookingInPast(details={"check_in": str(day), "today": str(today)})
        units = rooms or 1
        if units > MAX_UNITS or party_size > product.max_party_size * units:
            raise PartySizeAboveCapacity(
                f"{units} room(s) sleep at most {product.max_party_size * units}.",
                details={"party_size": party_size, "max_party_size": product.max_party_size * units})
        return [day + timedelta(days=i) for i in range(nights)], product.start_time, units
    if check_out is not None:
        raise InvalidBookingDates("Only hotel rooms take a check-out date.")
    if party_size > product.max_party_size:
        raise PartySizeAboveCapacity(details={"party_size": party_size, "max_party_size": product.max_party_size})
    start = at_time if (product.kind == ProductKind.TABLE and at_time is not None) else product.start_time
    if product.kind == ProductKind.TABLE and at_time is None:
        raise InvalidBookingDates("A table booking needs a time slot.", code="time_required")
    starts_at = datetime.combine(day, start, tzinfo=tz_for(product.merchant.time_zone))
    if starts_at <= now:
        raise BookingInPast(details={"starts_at": starts_at.isoformat()})
    units = 1 if product.kind == ProductKind.TABLE else party_size
    return [day], start, units


def booking_quote(*, product: Product, day: date, check_out: date | None = None, at_time: time | None = None,
                  party_size: int = 1, rooms: int | None = None, now: datetime | None = None) -> Quote:
    """Price and availability for a request; writes nothing."""
    now = now or timezone.now()
    days, start, units = _request_shape(product=product, day=day, check_out=check_out, at_time=at_time,
                                        party_size=party_size, rooms=rooms, now=now)
    slots = {s.date: s for s in slots_with_availability(
        InventorySlot.objects.filter(product=product, date__in=days, start_time=start), now=now)}
    ordered = [slots[d] for d in days if d in slots]
    # Per night / table / person; a slot may override the product's price (weekends, high season).
    per_unit = sum((slots[d].price_amount if d in slots and slots[d].price_amount is not None
                    else product.price_amount) for d in days)
    amount = Money(per_unit * units, product.currency)
    available = len(ordered) == len(days) and all(s.free >= units for s in ordered)
    starts_at = datetime.combine(days[0], start, tzinfo=tz_for(product.merchant.time_zone))
    return Quote(product=product, slots=ordered, units=units, party_size=party_size, first_date=days[0],
                 last_date=days[-1], starts_at=starts_at, amount=amount, available=available)


@retry_on_conflict
def booking_hold(*, user, product: Product, day: date, check_out: date | None = None, at_time: time | None = None,
                 party_size: int = 1, rooms: int | None = None, now: datetime | None = None) -> Booking:
    """Reserve the inventory for `product.hold_minutes`; the user pays before the hold expires."""
    now = now or timezone.now()
    quote = booking_quote(product=product, day=day, check_out=check_out, at_time=at_time, party_size=party_size,
                          rooms=rooms, now=now)
    wanted = {s.pk for s in quote.slots}
    if len(wanted) != (quote.last_date - quote.first_date).days + 1:
        raise NoAvailability("Not on sale for these dates.", details={"first_date": str(quote.first_date),
                                                                      "last_date": str(quote.last_date)})
    # Holds that lapsed on these slots give their units back first, whether or not the expiry job has run.
    booking_holds_expire(now=now, slot_ids=wanted)
    with transaction.atomic():
        # Lock the slots in pk order; availability is decided on the locked rows, not on the quote.
        slots = list(InventorySlot.objects.select_for_update().filter(pk__in=wanted).order_by("pk"))
        short = [s for s in slots if s.capacity - s.reserved < quote.units]
        if short:
            raise NoAvailability(details={"sold_out_dates": sorted(str(s.date) for s in short)})
        InventorySlot.objects.filter(pk__in=wanted).update(reserved=F("reserved") + quote.units)
        booking = Booking.objects.create(
            user=user, product=product, status=BookingStatus.HELD, party_size=party_size, units=quote.units,
            first_date=quote.first_date, last_date=quote.last_date, starts_at=quote.starts_at,
            amount=quote.amount.amount, currency=quote.amount.currency,
            hold_expires_at=now + timedelta(minutes=product.hold_minutes), created_at=now)
        BookingSlot.objects.bulk_create(BookingSlot(booking=booking, slot=s, units=quote.units) for s in slots)
    return booking


def _release(booking: Booking) -> None:
    """Give the booking's units back to its slots (caller holds the booking row lock)."""
    links = list(BookingSlot.objects.filter(booking=booking).order_by("slot_id"))
    slot_ids = [link.slot_id for link in links]
    list(InventorySlot.objects.select_for_update().filter(pk__in=slot_ids).order_by("pk"))
    for link in links:
        InventorySlot.objects.filter(pk=link.slot_id).update(reserved=F("reserved") - link.units)


def _locked_booking(*, booking_id: int, user) -> Booking:
    booking = (Booking.objects.select_for_update(of=("self",)).select_related("product__merchant")
               .filter(pk=booking_id, user=user).first())
    if booking is None:
        raise NotFound("Booking not found.", code="booking_not_found")
    return booking


@retry_on_conflict
def booking_pay(*, booking_id: int, user, now: datetime | None = None) -> Booking:
    """Pay a held booking through the wallet; it becomes confirmed. An expired hold is `hold_expired` (409)
    and nothing is written (the expiry job releases the inventory)."""
    from payments import services as payment_services  # the wallet app

    now = now or timezone.now()
    with transaction.atomic():
        booking = _locked_booking(booking_id=booking_id, user=user)
        if booking_status(booking, now=now) == BookingStatus.EXPIRED:
            raise HoldExpired(details={"hold_expired_at": booking.hold_expires_at.isoformat()})
        if booking.status != BookingStatus.HELD:
            raise BookingStateConflict(f"The booking is {booking.status}.", details={"status": booking.status})
        payment = payment_services.payment_create(
            payer=user, merchant=booking.product.merchant, amount=Money(booking.amount, booking.currency),
            reference=f"booking:{booking.pk}", description=f"Booking {booking.pk}: {booking.product.name}")
        booking.status = BookingStatus.CONFIRMED
        booking.payment = payment
        booking.confirmed_at = now
        booking.save(update_fields=["status", "payment", "confirmed_at"])
        interaction_on_commit(user_id=user.pk, merchant_id=booking.product.merchant_id,
                              kind=InteractionKind.BOOKING, value=float(Money(booking.amount,
                                                                              booking.currency).to_decimal()),
                              source=f"booking:{booking.pk}")
    return booking


def cancellation_fee(*, booking: Booking, now: datetime) -> Money:
    """Free until `free_cancellation_hours` before the start, then `cancellation_fee_percent` of the amount."""
    product = booking.product
    if now <= booking.starts_at - timedelta(hours=product.free_cancellation_hours):
        return Money(0, booking.currency)
    return Money(booking.amount, booking.currency).multiply(f"{product.cancellation_fee_percent / 100:.4f}")


@retry_on_conflict
def booking_cancel(*, booking_id: int, user, now: datetime | None = None, reason: str = "") -> Booking:
    """Cancel a held or confirmed booking. A confirmed one is refunded through the wallet, minus the fee.
    A lapsed hold (`booking_status` says `expired`, whether or not the expiry job has run) is `hold_expired`
    (409) and nothing is written: there is nothing left to cancel."""
    now = now or timezone.now()
    with transaction.atomic():
        booking = _locked_booking(booking_id=booking_id, user=user)
        if booking_status(booking, now=now) == BookingStatus.EXPIRED:
            raise HoldExpired("The hold on this booking has already expired; there is nothing to cancel.",
                              details={"hold_expired_at": booking.hold_expires_at.isoformat()})
        if booking.status == BookingStatus.HELD:
            _release(booking)
        elif booking.status == BookingStatus.CONFIRMED:
            from payments import services as payment_services

            if now >= booking.starts_at:
                raise BookingStateConflict("The booking has already started.", code="booking_already_started")
            fee = cancellation_fee(booking=booking, now=now)
            refund_amount = Money(booking.amount, booking.currency) - fee
            if refund_amount.amount > 0:
                refund = payment_services.payment_refund(
                    payment=booking.payment, amount=refund_amount,
                                        reason=reason or f"Booking {booking.pk} cancelled", actor=user)
                booking.refund = refund
            booking.cancellation_fee = fee.amount
            booking.refunded_amount = refund_amount.amount
            _release(booking)
        else:
            raise BookingStateConflict(f"The booking is {booking.status}.", details={"status": booking.status})
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = now
        booking.save(update_fields=["status", "cancelled_at", "refund", "cancellation_fee", "refunded_amount"])
    return booking


def hold_lapsed(booking: Booking, now: datetime) -> bool:
    """The one rule for a lapsed hold: held, unpaid, and its time is up (whether or not the job has run)."""
    return booking.status == BookingStatus.HELD and booking.hold_expires_at <= now


def booking_status(booking: Booking, *, now: datetime | None = None) -> str:
    """The status as of `now`: a lapsed hold reads `expired` before the expiry job has written it."""
    return BookingStatus.EXPIRED if hold_lapsed(booking, now or timezone.now()) else booking.status


def slots_with_availability(queryset: QuerySet[InventorySlot], *, now: datetime) -> QuerySet[InventorySlot]:
    """Annotate `free`: capacity minus what held and confirmed bookings take, not counting lapsed holds
    (`hold_lapsed`, in SQL) that the expiry job has not released yet."""
    lapsed = (BookingSlot.objects.filter(slot=OuterRef("pk"), booking__status=BookingStatus.HELD,
                                         booking__hold_expires_at__lte=now)
              .values("slot").annotate(units=Sum("units")).values("units"))
    return queryset.annotate(free=F("capacity") - F("reserved") + Coalesce(
        Subquery(lapsed, output_field=IntegerField()), Value(0)))


def booking_holds_expire(*, now: datetime | None = None, batch: int = 500, slot_ids=None) -> int:
    """Expire unpaid holds past their time and release their inventory (all of them, or those on `slot_ids`).
    Safe to run twice or concurrently: each booking is re-checked under its row lock, and locked ones are
    skipped (a payment is in progress). Reads do not wait for this: see `booking_status`,
    `slots_with_availability`."""
    now = now or timezone.now()
    expired = 0
    candidates = Booking.objects.filter(status=BookingStatus.HELD, hold_expires_at__lte=now)
    if slot_ids is not None:
        candidates = candidates.filter(booking_slots__slot_id__in=slot_ids).distinct()
    candidates = list(candidates.order_by("hold_expires_at").values_list("pk", flat=True)[:batch])
    for booking_id in candidates:
        with transaction.atomic():
            booking = (Booking.objects.select_for_update(skip_locked=True)
                       .filter(pk=booking_id, status=BookingStatus.HELD, hold_expires_at__lte=now).first())
            if booking is None:
                continue
            _release(booking)
            booking.status = BookingStatus.EXPIRED
            booking.save(update_fields=["status"])
            expired += 1
    return expired
