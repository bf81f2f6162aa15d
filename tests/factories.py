"""Factories for the shared kernel; each app's tests add theirs in tests/<app>/factories.py."""

import factory

from merchants.models import City, Merchant, Vertical
from superapp.accounts.models import User

TEST_PASSWORD = "correct-horse-battery-9"


def city(slug: str = "hangzhou") -> City:
    """Cities are reference data loaded by a migration; tests use the real rows (restored if a
    transactional test flushed them)."""
    try:
        return City.objects.get(slug=slug)
    except City.DoesNotExist:
        from merchants.reference import load_reference_cities

        load_reference_cities(City)
        return City.objects.get(slug=slug)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.LazyAttribute(lambda o: o.username.title())
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    home_city = factory.LazyFunction(lambda: city("hangzhou"))
    current_city = factory.SelfAttribute("home_city")
    home_currency = "CNY"
    # As if an operator had checked the user's passport from their home country (evidence of residence).
    verified_country = factory.LazyAttribute(lambda o: o.home_city.country_code if o.home_city else "")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    vertical = Vertical.RESTAURANT
    city = factory.LazyFunction(lambda: city("hangzhou"))
    latitude = factory.LazyAttribute(lambda o: o.city.latitude)
    longitude = factory.LazyAttribute(lambda o: o.city.longitude)
    time_zone = factory.LazyAttribute(lambda o: o.city.time_zone)
    currency = factory.LazyAttribute(lambda o: o.city.currency)
