"""Factories for the services app's tests."""

from datetime import time

import factory

from services.models import Category, MerchantStaff, OpeningHours, StaffRole
from tests.factories import MerchantFactory, UserFactory


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    vertical = "restaurant"


class MerchantStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MerchantStaff

    merchant = factory.SubFactory(MerchantFactory)
    user = factory.SubFactory(UserFactory)
    role = StaffRole.OWNER


def hours(merchant, opens: time, closes: time, weekdays=range(7)) -> None:
    OpeningHours.objects.bulk_create(
        OpeningHours(merchant=merchant, weekday=d, opens=opens, closes=closes) for d in weekdays)


def product_with_slots(*, merchant=None, kind="tour", days=(), capacity=10, price=5000, start=time(9), **extra):
    """A product and one slot per local date in `days` (start time `start`)."""
    from services.models import InventorySlot, Product

    merchant = merchant or MerchantFactory(vertical="travel")
    product = Product.objects.create(merchant=merchant, kind=kind, name=f"{kind} product", price_amount=price,
                                     currency=merchant.currency, start_time=start, **extra)
    InventorySlot.objects.bulk_create(InventorySlot(product=product, date=d, start_time=start, capacity=capacity)
                                      for d in days)
    return product


def connect_with_backoff(attempts: int = 100) -> None:
    """Open this thread's database connection, waiting while the server is at max_connections (200 racing
    threads exceed PostgreSQL's default of 100). Nothing has run yet, so retrying is safe."""
    import time as time_module

    from django.db import OperationalError, connection

    for _ in range(attempts):
        try:
            connection.ensure_connection()
            return
        except OperationalError:
            time_module.sleep(0.05)
    connection.ensure_connection()


def provider(*, city_slug="hangzhou", kind="electricity", pattern=r"^\d{10}$", hourly_rate=None, code=None):
    """A service provider with its merchant account."""
    from services.models import ServiceProvider

    merchant = MerchantFactory(vertical="city_service", city=__import__("tests.factories").factories.city(city_slug))
    return ServiceProvider.objects.create(city=merchant.city, kind=kind, name=f"{kind} {city_slug}",
                                          code=code or f"{kind}-{city_slug}-{merchant.pk}", merchant=merchant,
                                          customer_number_pattern=pattern, hourly_rate=hourly_rate)
