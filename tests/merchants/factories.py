"""Factories for the merchants area's tests (also used by the areas above it)."""

from datetime import time

import factory

from merchants.models import Category, MerchantStaff, OpeningHours, StaffRole
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
