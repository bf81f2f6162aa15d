"""Reads of the booking agency: bookable products, their availability, and bookings (a user's, a merchant's).
The views call these; each owns its `select_related`, so a list page is a fixed number of queries."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import QuerySet

from bookings.models import Booking, InventorySlot, Product
from bookings.services import MAX_DAYS_AHEAD, local_now, slots_with_availability
from merchants.models import Merchant
from superapp.exceptions import NotFound

MAX_AVAILABILITY_DAYS = 60


def product_bookable(*, product_id: int) -> Product:
    """An active product of an active merchant, else 404 `product_not_found`."""
    product = Product.objects.select_related("merchant").filter(pk=product_id, is_active=True,
                                                                merchant__is_active=True).first()
    if product is None:
        raise NotFound("Product not found.", code="product_not_found")
    return product


def products_of_merchant(*, merchant: Merchant) -> QuerySet[Product]:
    return merchant.products.filter(is_active=True)


def product_availability(*, product: Product, date_from: date | None, date_to: date | None,
                         now: datetime) -> QuerySet[InventorySlot]:
    """The product's slots from `date_from` (default: today at the merchant, never before it) to `date_to`
    (default and limit: `MAX_AVAILABILITY_DAYS` later), annotated with `free` (lapsed holds do not count);
    none beyond `MAX_DAYS_AHEAD`, where nothing is on sale."""
    today = local_now(product, now).date()
    date_from = date_from or today
    if date_from > today + timedelta(days=MAX_DAYS_AHEAD):
        slots = InventorySlot.objects.none()
    else:
        date_to = min(date_to or date_from + timedelta(days=MAX_AVAILABILITY_DAYS),
                      date_from + timedelta(days=MAX_AVAILABILITY_DAYS))
        slots = InventorySlot.objects.filter(product=product, date__gte=max(date_from, today),
                                             date__lte=date_to).select_related("product")
    return slots_with_availability(slots, now=now)


def bookings_for_user(*, user) -> QuerySet[Booking]:
    return Booking.objects.filter(user=user).select_related("product__merchant")


def booking_of_user(*, user, booking_id: int) -> Booking:
    """One of the user's bookings, else 404 `booking_not_found` (others' ids too)."""
    found = bookings_for_user(user=user).filter(pk=booking_id).first()
    if found is None:
        raise NotFound("Booking not found.", code="booking_not_found")
    return found


def bookings_of_merchant(*, merchant: Merchant) -> QuerySet[Booking]:
    return Booking.objects.filter(product__merchant=merchant).select_related("product__merchant")
