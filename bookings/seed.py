"""Demo world for the booking agency: bookable products with their inventory, and a few bookings paid from the
wallet. Deterministic from `rng`, bulk inserts only (the bookings themselves go through the services)."""

from __future__ import annotations

from datetime import date, time, timedelta

from django.utils import timezone

from bookings import services as booking_services
from bookings.models import InventorySlot, Product, ProductKind
from merchants.models import Merchant
from merchants.seed import _RESTAURANT_LEAVES, T
from payments.seed import wallet_funds_ensure
from superapp.accounts.models import User
from superapp.money import Money

# Typical prices in CNY (major units), scaled by a rough rate to each city's currency.
_CNY_TO = {"CNY": 1, "CHF": 0.125, "EUR": 0.13, "GBP": 0.11, "USD": 0.14, "JPY": 21, "SGD": 0.19}
TABLE_TIMES = [T(12), T(12, 30), T(18), T(18, 30), T(19), T(19, 30), T(20)]


def _price(rng, cny: float, currency: str) -> int:
    """A plausible price in whole major units of `currency`, as minor units."""
    major = cny * rng.uniform(0.8, 1.3) * _CNY_TO.get(currency, 0.14)
    return Money.from_decimal(max(1, round(major)), currency).amount


def seed(*, rng, stdout) -> None:
    """Products at the demo merchants (the merchants' seeder ran first): each merchant's leaf category, in the
    order the merchants were created, decides what it sells."""
    merchants = list(Merchant.objects.exclude(vertical="city_service").select_related("city")
                     .prefetch_related("categories").order_by("pk"))
    leaves = [next(iter(m.categories.all())).slug for m in merchants]
    products, slots = seed_products(rng=rng, merchants=merchants, leaves=leaves)
    stdout.write(f"  bookable products: {products} with {slots} inventory slots")


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


def seed_bookings(*, rng, stdout) -> None:
    """Bookings paid from the wallet (alice in Davos, bob in Hangzhou, one cancelled and refunded)."""
    today = timezone.now().date()
    users = {u.username: u for u in User.objects.filter(username__in=["alice", "bob"])}
    bookings = 0
    alice, bob = users.get("alice"), users.get("bob")
    if alice:
        wallet_funds_ensure(user=alice, currency="CHF", major=3000)
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
        wallet_funds_ensure(user=bob, currency="CNY", major=5000)
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
    stdout.write(f"  bookings: {bookings}")
