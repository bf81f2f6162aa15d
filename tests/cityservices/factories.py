"""Factories for the city services' tests."""

from tests.factories import MerchantFactory


def provider(*, city_slug="hangzhou", kind="electricity", pattern=r"^\d{10}$", hourly_rate=None, code=None):
    """A service provider with its merchant account."""
    from cityservices.models import ServiceProvider

    merchant = MerchantFactory(vertical="city_service", city=__import__("tests.factories").factories.city(city_slug))
    return ServiceProvider.objects.create(city=merchant.city, kind=kind, name=f"{kind} {city_slug}",
                                          code=code or f"{kind}-{city_slug}-{merchant.pk}", merchant=merchant,
                                          customer_number_pattern=pattern, hourly_rate=hourly_rate)
