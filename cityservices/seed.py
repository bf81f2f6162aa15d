"""Demo world for city services: providers (each with its merchant account), linked bill accounts, a transit
card. Deterministic, bulk inserts for the catalogue; the accounts go through the services."""

from __future__ import annotations

from cityservices import services as city_services
from cityservices.models import ServiceProvider
from cityservices.seed_data import PROVIDERS
from merchants.models import City, Merchant, OpeningHours
from merchants.seed import T, categories_ensure
from merchants.seed_data import COUNTRY_LANGUAGES
from superapp.accounts.models import User
from superapp.money import Money


def seed(*, rng, stdout) -> None:
    providers = seed_city_services(rng=rng, categories=categories_ensure())
    stdout.write(f"  city services: {providers} providers")


def seed_city_services(*, rng, categories) -> int:
    """Utilities, telecoms, transit and parking operators, each with its merchant account for payments."""
    cities = {c.slug: c for c in City.objects.all()}
    rows = [(cities[slug], kind, code, name, category, pattern, rate)
            for slug, kind, code, name, category, pattern, rate in PROVIDERS if slug in cities]
    merchants = Merchant.objects.bulk_create([
        Merchant(name=name, vertical="city_service", city=city, address=f"{city.name}",
                 description=f"{categories[category].name} provider in {city.name}.", latitude=city.latitude,
                 longitude=city.longitude, time_zone=city.time_zone, currency=city.currency,
                 languages=COUNTRY_LANGUAGES.get(city.country_code, ["en"]), accepts_wallet=True)
        for city, kind, code, name, category, pattern, rate in rows])
    Merchant.categories.through.objects.bulk_create(
        Merchant.categories.through(merchant_id=m.pk, category_id=categories[row[4]].pk)
        for m, row in zip(merchants, rows, strict=True))
    OpeningHours.objects.bulk_create(OpeningHours(merchant=m, weekday=d, opens=T(8, 30), closes=T(17, 30))
                                     for m in merchants for d in range(5))
    ServiceProvider.objects.bulk_create(
        ServiceProvider(city=city, kind=kind, code=code, name=name, merchant=merchant, customer_number_pattern=pattern,
                        hourly_rate=Money.from_decimal(rate, city.currency).amount if rate else None)
        for merchant, (city, kind, code, name, category, pattern, rate) in zip(merchants, rows, strict=True))
    return len(rows)


def seed_accounts(*, rng, stdout) -> None:
    """bob links his electricity and water bills (pays the electricity) and a transit card (tops it up); dora
    links her Zurich electricity bill; reminders for bills due soon."""
    users = {u.username: u for u in User.objects.filter(username__in=["bob", "dora"])}
    if "bob" in users:
        bob = users["bob"]
        providers = {p.code: p for p in ServiceProvider.objects.select_related("city", "merchant")}
        electricity = city_services.bill_account_link(user=bob, provider=providers["hz-grid"],
                                                      customer_number="3301234567", nickname="Home")
        city_services.bill_account_link(user=bob, provider=providers["hz-water"], customer_number="33012345",
                                        nickname="Home")
        for bill in electricity.bills.all():
            city_services.bill_pay(bill_id=bill.pk, user=bob)
        card = city_services.transit_card_link(user=bob, provider=providers["hz-tong"], card_number="310012345678")
        city_services.transit_card_top_up(card_id=card.pk, user=bob, amount=Money.from_decimal(100, "CNY"))
    if "dora" in users:
        providers = {p.code: p for p in ServiceProvider.objects.select_related("city")}
        city_services.bill_account_link(user=users["dora"], provider=providers["ewz"], customer_number="80012345",
                                        nickname="Wohnung")
    reminders = city_services.bill_reminders_send()
    stdout.write(f"  bill reminders: {reminders}")
