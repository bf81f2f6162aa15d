"""Demo world for merchants, city services and bookings. Deterministic from `rng`, bulk inserts only."""

from __future__ import annotations

import math
from datetime import date, time, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from services.geo_index import geo_index_invalidate
from services.models import (
    AppointmentSlot,
    Category,
    City,
    InventorySlot,
    Merchant,
    MerchantStaff,
    OpeningException,
    OpeningHours,
    Product,
    ProductKind,
    PublicService,
    ServiceProvider,
    Trip,
)
from services.seed_data import (
    CATEGORIES,
    CITY_FLAVOUR,
    CITY_STREETS,
    COUNTRY_LANGUAGES,
    NAMES,
    PROVIDERS,
    PUBLIC_SERVICES,
)
from superapp.accounts.models import User
from superapp.money import Money

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
    users = {u.username: u for u in User.objects.filter(username__in=["bob", "dora", "chen"])}
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
    providers = seed_city_services(rng=rng, categories=categories)
    stdout.write(f"  city services: {providers} providers")
    products, slots = seed_products(rng=rng, merchants=merchants, leaves=leaves)
    stdout.write(f"  bookable products: {products} with {slots} inventory slots")


# Typical prices in CNY (major units), scaled by a rough rate to each city's currency.
_CNY_TO = {"CNY": 1, "CHF": 0.125, "EUR": 0.13, "GBP": 0.11, "USD": 0.14, "JPY": 21, "SGD": 0.19}
TABLE_TIMES = [T(12), T(12, 30), T(18), T(18, 30), T(19), T(19, 30), T(20)]


def _price(rng, cny: float, currency: str) -> int:
    """A plausible price in whole major units of `currency`, as minor units."""
    major = cny * rng.uniform(0.8, 1.3) * _CNY_TO.get(currency, 0.14)
    return Money.from_decimal(max(1, round(major)), currency).amount


def seed_products(*, rng, merchants: list[Merchant], leaves: list[str]) -> tuple[int, int]:
    """Rooms at hotels, tables at some restaurants, tours and tickets, with inventory for the coming weeks."""
    today = timezone.now().date()
    products: list[tuple[Product, list[tuple[date, time, int]]]] = []
    restaurants_per_city: dict[int, int] = {}
    for merchant, leaf in zip(merchants, leaves, strict=True):
        currency = merchant.currency
        if not merchant.accepts_wallet:
            continue  # the agency sells only what the wallet can pay
        if leaf in {"hotel", "hostel"}:
            for name, cny, guests in (("Double room", 650, 2), ("Family suite", 1400, 4)):
                if leaf == "hostel":
                    name, cny, guests = "Bed in a 6-bed dorm", 120, 1
                product = Product(merchant=merchant, kind=ProductKind.HOTEL_ROOM, name=name,
                                  description=f"{name} at {merchant.name}; check-in from 15:00.",
                                  price_amount=_price(rng, cny, currency), currency=currency, max_party_size=guests,
                                  start_time=T(15), free_cancellation_hours=48, cancellation_fee_percent=100)
                rooms = rng.randint(3, 12)
                products.append((product, [(today + timedelta(days=d), T(15), rooms) for d in range(45)]))
                if leaf == "hostel":
                    break
        elif leaf in _RESTAURANT_LEAVES and restaurants_per_city.get(merchant.city_id, 0) < 4:
            restaurants_per_city[merchant.city_id] = restaurants_per_city.get(merchant.city_id, 0) + 1
            product = Product(merchant=merchant, kind=ProductKind.TABLE, name="Table for up to 6",
                              description="Table reservation; the deposit is deducted from the bill.",
                              price_amount=_price(rng, 100, currency), currency=currency, max_party_size=6,
                              start_time=T(19), free_cancellation_hours=4, cancellation_fee_percent=50,
                              hold_minutes=10)
            tables = rng.randint(2, 5)
            products.append((product, [(today + timedelta(days=d), t, tables) for d in range(14)
                                       for t in TABLE_TIMES]))
        elif leaf in {"tour", "attraction-ticket", "ski"}:
            name = {"tour": "Guided tour (3 h)", "attraction-ticket": "Admission ticket",
                    "ski": "Day ski pass and rental"}[leaf]
            product = Product(merchant=merchant, kind=ProductKind.TOUR, name=name, description=f"{name}.",
                              price_amount=_price(rng, 260, currency), currency=currency, max_party_size=8,
                              start_time=T(9), free_cancellation_hours=24, cancellation_fee_percent=100)
            products.append((product, [(today + timedelta(days=d), T(9), rng.randint(15, 40)) for d in range(30)]))
    Product.objects.bulk_create([p for p, _ in products])
    slots = [InventorySlot(product=p, date=d, start_time=t, capacity=c) for p, rows in products for d, t, c in rows]
    InventorySlot.objects.bulk_create(slots, batch_size=2000)
    return len(products), len(slots)


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
    seed_public_services()
    return len(rows)


def seed_public_services() -> int:
    """Public services of the seeded offices, and their appointment slots for the coming two weeks."""
    from services.appointments import appointment_slots_open_all

    offices = {p.code: p for p in ServiceProvider.objects.filter(kind="office").select_related("merchant")}
    PublicService.objects.bulk_create(
        PublicService(office=offices[office], code=code, name=name, description=description,
                      fee=Money.from_decimal(fee, offices[office].merchant.currency).amount,
                      duration_minutes=minutes, capacity_per_slot=capacity)
        for office, code, name, description, fee, minutes, capacity in PUBLIC_SERVICES if office in offices)
    return appointment_slots_open_all()


def seed_bookings(*, rng, stdout) -> None:
    """Trips, bookings paid from the wallet, linked bill accounts (one bill paid), a transit card, reminders."""
    from payments import services as payment_services
    from payments.selectors import wallet_balances
    from services import appointments, city_services
    from services import booking as booking_services

    today = timezone.now().date()
    cities = {c.slug: c for c in City.objects.all()}
    users = {u.username: u for u in User.objects.filter(username__in=["alice", "bob", "dora", "gina", "emma"])}
    plans = [("alice", "davos", -2, 5, "Davos ski week"), ("bob", "tokyo", 20, 27, "Tokyo in spring"),
             ("dora", "hangzhou", 30, 36, "West Lake"), ("gina", "paris", -1, 3, "Paris weekend"),
             ("emma", "london", 60, 62, "London theatre")]
    trips = [Trip(user=users[u], destination=cities[c], starts_on=today + timedelta(days=a),
                  ends_on=today + timedelta(days=b), title=title)
             for u, c, a, b, title in plans if u in users]
    Trip.objects.bulk_create(trips)

    def ensure_funds(user, currency: str, major: int) -> None:
        """Top up through the wallet's own service if the payments seed left too little."""
        account = wallet_balances(user=user).filter(currency=currency).first()
        if account is None or account.balance < Money.from_decimal(major, currency).amount:
            source = payment_services.funding_source_add(user=user, label=f"Demo card {currency}", currency=currency)
            payment_services.wallet_top_up(user=user, funding_source=source,
                                           amount=Money.from_decimal(major, currency))

    bookings = 0
    alice, bob = users.get("alice"), users.get("bob")
    if alice:
        ensure_funds(alice, "CHF", 3000)
        for kind in (ProductKind.HOTEL_ROOM, ProductKind.TOUR):
            product = (Product.objects.filter(merchant__city__slug="davos", kind=kind).select_related("merchant")
                       .order_by("pk").first())
            if product:
                held = booking_services.booking_hold(
                    user=alice, product=product, day=today + timedelta(days=1), party_size=1,
                    check_out=today + timedelta(days=4) if kind == ProductKind.HOTEL_ROOM else None)
                booking_services.booking_pay(booking_id=held.pk, user=alice)
                bookings += 1
    if bob:
        ensure_funds(bob, "CNY", 5000)
        table = (Product.objects.filter(merchant__city__slug="hangzhou", kind=ProductKind.TABLE)
                 .select_related("merchant").order_by("pk").first())
        if table:
            held = booking_services.booking_hold(user=bob, product=table, day=today + timedelta(days=2),
                                                 at_time=T(19), party_size=4)
            booking_services.booking_pay(booking_id=held.pk, user=bob)
            bookings += 1
        tour = (Product.objects.filter(merchant__city__slug="hangzhou", kind=ProductKind.TOUR)
                .select_related("merchant").order_by("pk").first())
        if tour:
            held = booking_services.booking_hold(user=bob, product=tour, day=today + timedelta(days=5), party_size=2)
            booking_services.booking_pay(booking_id=held.pk, user=bob)
            booking_services.booking_cancel(booking_id=held.pk, user=bob)  # free cancellation, refunded
            bookings += 1

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
    if "dora" in users:
        ensure_funds(users["dora"], "CHF", 200)
    booked = seed_appointments(users=users)
    reminders += appointments.appointment_reminders_send()
    stdout.write(f"  trips: {len(trips)}, bookings: {bookings}, appointments: {booked}, reminders: {reminders}")


def seed_appointments(*, users: dict) -> int:
    """bob renews his ID card in Hangzhou (fee paid from the wallet) and cancels a residence-permit appointment;
    dora registers her residence in Zurich (free) and gets a residence certificate (paid) first."""
    from services import appointments

    def first_free(office: str, service: str, days_from: int):
        starts = timezone.now() + timedelta(days=days_from)
        return (AppointmentSlot.objects.filter(service__office__code=office, service__code=service,
                                               starts_at__gte=starts, booked__lt=F("capacity"))
                .order_by("starts_at").first())

    plans = [("bob", "hz-citizen-centre", "id-card-renewal", 3, False),
             ("bob", "hz-citizen-centre", "residence-permit", 5, True),
             ("dora", "zh-stadthaus", "residence-registration", 6, False),
             ("dora", "zh-stadthaus", "residence-certificate", 1, False)]
    booked = 0
    for username, office, service, days_from, cancel in plans:
        slot = first_free(office, service, days_from)
        if username not in users or slot is None:
            continue
        appointment = appointments.appointment_book(user=users[username], slot_id=slot.pk)
        if cancel:
            appointments.appointment_cancel(user=users[username], appointment_id=appointment.pk)
        booked += 1
    return booked
