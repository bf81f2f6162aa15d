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
