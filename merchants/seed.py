"""Demo world for cities' merchants (categories, opening hours, exceptions, staff) and trips. Deterministic
from `rng`, bulk inserts only."""

from __future__ import annotations

import math
from datetime import date, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from merchants.geo_index import geo_index_invalidate
from merchants.models import Category, City, Merchant, MerchantStaff, OpeningException, OpeningHours, Trip
from merchants.seed_data import CATEGORIES, CITY_FLAVOUR, CITY_STREETS, COUNTRY_LANGUAGES, NAMES

MERCHANTS_PER_CITY = {"hangzhou": 60, "shanghai": 40, "davos": 36, "zurich": 30}


DEFAULT_PER_CITY = 24


WALLET_ABROAD_SHARE = 0.6  # the rest abroad are listed without accepting the wallet


T = time


def _hours_for(leaf: str, country: str) -> list[tuple[int, time, time]]:
    """A plausible weekly schedule for the category (closes <= opens crosses midnight)."""
    every = range(7)
    if leaf in {"hotel", "hostel", "car-rental"} or (leaf == "supermarket" and country in {"JP", "SG"}):
        return [(d, T(0), T(0)) for d in every]  # around the clock
    if leaf == "bar" or leaf == "karaoke":
        return [(d, T(18), T(2)) for d in every]
    if leaf == "cafe":
        return [(d, T(7), T(19)) for d in every]
    if leaf in {"museum", "attraction-ticket"}:
        return [(d, T(9), T(17)) for d in every if d != 0]  # closed on Mondays
    if leaf in {"tour", "ski"}:
        return [(d, T(8), T(18)) for d in every]
    if leaf in {"spa", "fitness", "cinema"}:
        return [(d, T(10), T(23)) for d in every]
    if NAMES.get(leaf) and leaf in _RESTAURANT_LEAVES:
        return [(d, o, c) for d in every for o, c in ((T(11), T(14, 30)), (T(17), T(22)))]
    if leaf in {"electricity", "water", "gas", "telecom", "transit", "parking", "public-office"}:
        return [(d, T(8, 30), T(17, 30)) for d in range(5)]
    # Shops; European shops close on Sundays.
    days = range(6) if country in {"CH", "FR"} else every
    return [(d, T(10), T(21)) for d in days]


_RESTAURANT_LEAVES = {"hotpot", "dim-sum", "zhejiang-cuisine", "noodles", "sushi", "ramen", "fondue", "swiss", "french",
                      "pizza", "italian", "british", "burger"}


_PRICE = {"luxury": 4, "watches": 4, "hotel": 3, "spa": 3, "french": 3, "swiss": 3, "fondue": 3, "sushi": 3,
          "hostel": 1, "noodles": 1, "cafe": 2, "burger": 1, "supermarket": 1, "souvenir": 1, "ramen": 1}


_TAX_FREE_LEAVES = {"luxury", "watches", "department-store", "electronics", "souvenir", "fashion", "tea"}


def _point_near(rng, lat: float, lon: float, spread_km: float) -> tuple[float, float]:
    distance_m = abs(rng.gauss(0, spread_km * 1000 / 1.5))
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance_m * math.cos(bearing) / 111_320
    dlon = distance_m * math.sin(bearing) / (111_320 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def categories_ensure() -> dict[str, Category]:
    existing = {c.slug: c for c in Category.objects.all()}
    for slug, name, vertical, parent in CATEGORIES:
        if slug not in existing:
            existing[slug] = Category.objects.create(slug=slug, name=name, vertical=vertical,
                                                     parent=existing[parent] if parent else None)
    return existing


def _vertical_of(leaf: str) -> str:
    return next(v for s, _, v, _ in CATEGORIES if s == leaf)


@transaction.atomic
def seed(*, rng, stdout) -> None:
    categories = categories_ensure()
    cities = list(City.objects.all())
    merchants: list[Merchant] = []
    leaves: list[str] = []
    for city in cities:
        streets, spread_km = CITY_STREETS.get(city.slug, (["Main Street", "Market Square"], 3.0))
        flavour = CITY_FLAVOUR.get(city.country_code, CITY_FLAVOUR["US"])
        abroad = city.country_code != "CN"
        used: set[str] = set()
        count = MERCHANTS_PER_CITY.get(city.slug, DEFAULT_PER_CITY)
        for i in range(count):
            leaf = flavour[i % len(flavour)] if i < len(flavour) else rng.choice(flavour)
            base = rng.choice(NAMES[leaf])
            street = rng.choice(streets)
            name = f"{base} ({street})" if f"{base} ({street})" not in used else f"{base} ({street} {i})"
            used.add(name)
            lat, lon = _point_near(rng, city.latitude, city.longitude, spread_km)
            languages = list(COUNTRY_LANGUAGES.get(city.country_code, ["en"]))
            if abroad and rng.random() < 0.3:
                languages.append("zh")  # Chinese-speaking staff for travellers paying with the wallet
            merchants.append(Merchant(
                name=name, vertical=_vertical_of(leaf), city=city,
                address=f"{rng.randint(1, 400)} {street}, {city.name}",
                description=f"{categories[leaf].name} in {street}, {city.name}.",
                latitude=lat, longitude=lon, time_zone=city.time_zone,
                price_level=_PRICE.get(leaf, rng.choice([1, 2, 2, 3])),
                languages=sorted(set(languages)), currency=city.currency,
                photos=[f"https://images.superapp.example/merchants/{city.slug}/{len(merchants)}.jpg"],
                accepts_wallet=(not abroad) or rng.random() < WALLET_ABROAD_SHARE,
                tax_free=abroad and leaf in _TAX_FREE_LEAVES and rng.random() < 0.7,
                rating_count=(count_r := rng.randint(0, 400)), rating_sum=round(count_r * rng.uniform(3.2, 4.9)),
            ))
            leaves.append(leaf)
    # Davos: make sure several shops abroad take the wallet and are tax-free (the travel demo).
    first_hotel: set[int] = set()
    for merchant, leaf in zip(merchants, leaves, strict=True):
        if merchant.city.slug == "davos" and leaf in {"watches", "souvenir", "department-store"}:
            merchant.accepts_wallet = merchant.tax_free = True
        if leaf == "hotel" and merchant.city.pk not in first_hotel:  # every city has a bookable hotel
            first_hotel.add(merchant.city.pk)
            merchant.accepts_wallet = True
    Merchant.objects.bulk_create(merchants, batch_size=500)

    through = Merchant.categories.through
    links, hours = [], []
    for merchant, leaf in zip(merchants, leaves, strict=True):
        links.append(through(merchant_id=merchant.pk, category_id=categories[leaf].pk))
        for weekday, opens, closes in _hours_for(leaf, merchant.city.country_code):
            hours.append(OpeningHours(merchant=merchant, weekday=weekday, opens=opens, closes=closes))
    through.objects.bulk_create(links, batch_size=1000)
    OpeningHours.objects.bulk_create(hours, batch_size=2000)

    # Exceptions: Christmas closures in Europe, a private event in Hangzhou next week.
    exceptions = []
    year = timezone.now().year
    for merchant, leaf in zip(merchants, leaves, strict=True):
        if merchant.city.country_code in {"CH", "FR", "GB"} and leaf not in {"hotel", "hostel"}:
            exceptions.append(OpeningException(merchant=merchant, date=date(year, 12, 25), note="Christmas Day"))
            exceptions.append(OpeningException(merchant=merchant, date=date(year, 12, 24), opens=T(9), closes=T(16),
                                               note="Christmas Eve"))
    first_hz = next(m for m in merchants if m.city.slug == "hangzhou" and m.vertical == "restaurant")
    exceptions.append(OpeningException(merchant=first_hz, date=timezone.now().date() + timedelta(days=7),
                                       note="Private event"))
    OpeningException.objects.bulk_create(exceptions, batch_size=1000)

    # Staff: bob runs a Hangzhou restaurant, dora manages a Davos hotel, chen is a cashier in Shanghai.
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["bob", "dora", "chen"])}
    staff = []
    for username, city_slug, vertical, role in (("bob", "hangzhou", "restaurant", "owner"),
                                                 ("dora", "davos", "travel", "manager"),
                                                 ("chen", "shanghai", "shopping", "cashier")):
        merchant = next((m for m in merchants if m.city.slug == city_slug and m.vertical == vertical), None)
        if merchant and username in users:
            staff.append(MerchantStaff(merchant=merchant, user=users[username], role=role))
    MerchantStaff.objects.bulk_create(staff)
    stdout.write(f"  merchants: {len(merchants)} in {len(cities)} cities, {len(categories)} categories, "
                 f"{len(hours)} opening intervals, {len(exceptions)} exceptions")
    transaction.on_commit(geo_index_invalidate)


def seed_trips(*, rng, stdout) -> None:
    """Trips: alice and gina are travelling now, the others later."""
    today = timezone.now().date()
    cities = {c.slug: c for c in City.objects.all()}
    names = ["alice", "bob", "dora", "gina", "emma"]
    users = {u.username: u for u in get_user_model().objects.filter(username__in=names)}
    plans = [("alice", "davos", -2, 5, "Davos ski week"), ("bob", "tokyo", 20, 27, "Tokyo in spring"),
             ("dora", "hangzhou", 30, 36, "West Lake"), ("gina", "paris", -1, 3, "Paris weekend"),
             ("emma", "london", 60, 62, "London theatre")]
    trips = [Trip(user=users[u], destination=cities[c], starts_on=today + timedelta(days=a),
                  ends_on=today + timedelta(days=b), title=title)
             for u, c, a, b, title in plans if u in users]
    Trip.objects.bulk_create(trips)
    stdout.write(f"  trips: {len(trips)}")
