"""Factories for the booking agency's tests."""

from datetime import time

from tests.factories import MerchantFactory


def product_with_slots(*, merchant=None, kind="tour", days=(), capacity=10, price=5000, start=time(9), **extra):
    """A product and one slot per local date in `days` (start time `start`)."""
    from bookings.models import InventorySlot, Product

    merchant = merchant or MerchantFactory(vertical="travel")
    product = Product.objects.create(merchant=merchant, kind=kind, name=f"{kind} product", price_amount=price,
                                     currency=merchant.currency, start_time=start, **extra)
    InventorySlot.objects.bulk_create(InventorySlot(product=product, date=d, start_time=start, capacity=capacity)
                                      for d in days)
    return product
