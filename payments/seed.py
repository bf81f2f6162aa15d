"""Demo wallets: FX rates, funding sources and top-ups for everyone, ~60 days of payments at the demo
merchants (the crowd mostly at home, travellers abroad), refunds, transfers and split bills, coupon
campaigns (one for travellers in Davos) and alice's tax-free shopping in Davos with VAT claims.

Everything goes through the real services, so the ledger of the demo world checks clean. Without
merchants (services seeder not run) only the wallets are created."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from merchants.models import City, Merchant
from payments import services
from payments.checks import ledger_check
from payments.exceptions import PaymentsError
from payments.fx_demo import demo_rates
from payments.models import DiscountKind, VatClaimStatus
from payments.selectors import wallet_balances
from superapp.accounts.models import User
from superapp.money import Money

DAYS = 60
NAMED_TOP_UP = {"alice": "40000", "bob": "8000", "chen": "6000", "dora": "3000", "emma": "2500",
                "frank": "2500", "gina": "300000", "hugo": "3000"}


def _amount(rng, merchant: Merchant, low: int, high: int) -> Money:
    """A plausible bill in the merchant's currency: `low..high` CNY-equivalent scaled by price level."""
    level = merchant.price_level or 2
    cny = Decimal(rng.randint(low, high)) * level / 2
    per_cny = {"CNY": 1, "CHF": Decimal("0.122"), "EUR": Decimal("0.128"), "GBP": Decimal("0.11"),
               "JPY": Decimal("20.8"), "USD": Decimal("0.139"), "SGD": Decimal("0.186")}.get(merchant.currency, 1)
    return Money.from_decimal(cny * Decimal(per_cny), merchant.currency, rounding=True)


def wallet_funds_ensure(*, user, currency: str, major: int) -> None:
    """Top up `user`'s `currency` wallet through the wallet's own services if it holds less than `major` (the
    bookings', city services' and appointments' demo seeders pay from it)."""
    account = wallet_balances(user=user).filter(currency=currency).first()
    if account is None or account.balance < Money.from_decimal(major, currency).amount:
        source = services.funding_source_add(user=user, label=f"Demo card {currency}", currency=currency)
        services.wallet_top_up(user=user, funding_source=source, amount=Money.from_decimal(major, currency))


def seed(*, rng, stdout) -> None:
    # One database transaction: a commit per payment would make SQLite fsync a thousand times.
    with transaction.atomic():
        _seed(rng=rng, stdout=stdout)


def _seed(*, rng, stdout) -> None:
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    services.fx_rates_load(rows=demo_rates(), source="demo", as_of=start)

    users = list(User.objects.filter(is_active=True, is_superuser=False).select_related("home_city", "current_city")
                 .order_by("pk"))
    by_name = {u.username: u for u in users}
    for user in users:
        source = services.funding_source_add(user=user, label=f"Visa {rng.randint(1000, 9999)}",
                                             currency=user.home_currency)
        amount = NAMED_TOP_UP.get(user.username) or str(rng.choice([500, 800, 1000, 2000, 3000]))
        services.wallet_top_up(user=user, funding_source=source, amount=Money.from_decimal(amount, user.home_currency),
                               occurred_at=start)
    top_ups = len(users)

    merchants = list(Merchant.objects.filter(is_active=True, accepts_wallet=True, is_placeholder=False)
                     .select_related("city").order_by("pk"))
    if not merchants:
        stdout.write(f"  wallets: {top_ups} topped up; no merchants yet, so no payments")
        return
    by_city: dict[int, list[Merchant]] = {}
    for merchant in merchants:
        by_city.setdefault(merchant.city_id, []).append(merchant)

    campaigns = _campaigns(rng=rng, now=now, start=start)
    davos_promo = campaigns.get("davos")
    if davos_promo and "alice" in by_name:
        services.coupon_collect(user=by_name["alice"], campaign_id=davos_promo.pk)

    hangzhou_promo = campaigns.get("hangzhou")
    coupon_of: dict[int, int] = {}
    if hangzhou_promo:
        locals_ = [u for u in users if u.home_city and u.home_city.slug == "hangzhou"]
        for user in rng.sample(locals_, k=min(40, len(locals_))):
            coupon_of[user.pk] = services.coupon_collect(user=user, campaign_id=hangzhou_promo.pk).pk

    # Payments in time order, so balances after each entry read like a real statement.
    plan = []
    for user in users:
        n = rng.randint(1, 3) if user.username.startswith("user") else rng.randint(5, 8)
        for _ in range(n):
            city_id = user.current_city_id if rng.random() < 0.75 else user.home_city_id
            options = by_city.get(city_id) or by_city.get(user.home_city_id) or merchants
            plan.append((start + timedelta(seconds=rng.randint(3600, DAYS * 86400 - 3600)), user, rng.choice(options)))
    plan.sort(key=lambda item: item[0])
    payments, failed = [], 0
    for when, user, merchant in plan:
        tip = Money(0, merchant.currency)
        if merchant.vertical == "restaurant" and merchant.currency in {"USD", "GBP", "EUR", "CHF"}:
            tip = Money.from_decimal(rng.choice(["0", "1", "2", "5"]), merchant.currency)
        amount = _amount(rng, merchant, 20, 260)
        coupon_id = None
        if (user.pk in coupon_of and merchant.city.slug == "hangzhou" and merchant.vertical == "restaurant"
                and amount.amount >= hangzhou_promo.min_spend):
            coupon_id = coupon_of.pop(user.pk)
        try:
            payments.append(services.payment_create(payer=user, merchant=merchant, amount=amount, tip=tip,
                                                    coupon_id=coupon_id, occurred_at=when))
        except PaymentsError:
            failed += 1  # e.g. a crowd wallet ran dry: the app refuses, as it would for real

    # Some refunds by the merchants (partial and full).
    refunds = 0
    for payment in rng.sample(payments, k=min(12, len(payments))):
        if payment.status != "succeeded":
            continue
        part = None if rng.random() < 0.4 else Money(max(1, payment.paid // 3), payment.currency)
        try:
            services.payment_refund(payment=payment, amount=part, reason="demo: returned item",
                                    occurred_at=payment.created_at + timedelta(hours=2))
            refunds += 1
        except PaymentsError:
            pass

    transfers = _social_money(rng=rng, by_name=by_name, now=now)
    claims = _tax_free(rng=rng, by_name=by_name, by_city=by_city, now=now, davos_promo=davos_promo)
    report = ledger_check()
    stdout.write(f"  wallets: {top_ups} top-ups, {len(payments)} payments ({failed} refused), {refunds} refunds, "
                 f"{transfers} transfers, {len(campaigns)} campaigns, {claims} VAT claims; "
                 f"ledger {'OK' if report['ok'] else 'BROKEN'}")


def _campaigns(*, rng, now, start) -> dict:
    cities = {c.slug: c for c in City.objects.all()}
    out = {}
    if "davos" in cities:
        out["davos"] = services.campaign_create(
            name="Welcome to Davos: 10% off, up to CHF 20", currency="CHF", budget=Money.from_decimal("5000", "CHF"),
            discount_kind=DiscountKind.PERCENT, percent_off="10", max_discount=2000, min_spend=3000,
            per_user_limit=2, travellers_only=True, cities=[cities["davos"]], starts_at=start,
            ends_at=now + timedelta(days=60),
            description="For travellers paying with the wallet in Davos.")
    if "hangzhou" in cities:
        out["hangzhou"] = services.campaign_create(
            name="Hangzhou restaurants: CNY 15 off CNY 100", currency="CNY", budget=Money.from_decimal("20000", "CNY"),
            discount_kind=DiscountKind.FIXED, fixed_off=1500, min_spend=10000, per_user_limit=3, max_redemptions=500,
            cities=[cities["hangzhou"]], verticals=["restaurant"], starts_at=start, ends_at=now + timedelta(days=30))
    out["welcome"] = services.campaign_create(
        name="First payment: CNY 8 off", currency="CNY", budget=Money.from_decimal("5000", "CNY"),
        discount_kind=DiscountKind.FIXED, fixed_off=800, new_users_only=True, starts_at=start,
        ends_at=now + timedelta(days=90))
    return out


def _social_money(*, rng, by_name, now) -> int:
    pairs = [("alice", "bob", "88.00", "hotpot"), ("bob", "chen", "45.50", "movie tickets"),
             ("chen", "alice", "120.00", "birthday gift"), ("bob", "alice", "30.00", "taxi")]
    done = 0
    for sender, recipient, amount, message in pairs:
        if sender in by_name and recipient in by_name:
            services.transfer_create(sender=by_name[sender], recipient=by_name[recipient], message=message,
                                     amount=Money.from_decimal(amount, by_name[sender].home_currency),
                                     occurred_at=now - timedelta(days=rng.randint(1, 20)))
            done += 1
    if all(name in by_name for name in ("alice", "bob", "chen")):
        requests = services.payment_requests_create(
            requester=by_name["alice"], payer_ids=[by_name["bob"].pk, by_name["chen"].pk],
            total=Money.from_decimal("360.00", "CNY"), message="West Lake dinner")
        services.payment_request_accept(payment_request=requests[0], user=by_name["bob"])
        done += 1
    return done


def _tax_free(*, rng, by_name, by_city, now, davos_promo) -> int:
    alice = by_name.get("alice")
    davos = City.objects.filter(slug="davos").first()
    if alice is None or davos is None:
        return 0
    shops = [m for m in by_city.get(davos.pk, []) if m.tax_free]
    if not shops:
        return 0
    tax_free_payments = []
    for days_ago, amount in ((6, "1450.00"), (4, "385.00"), (2, "620.00")):
        shop = shops[len(tax_free_payments) % len(shops)]
        tax_free_payments.append(services.payment_create(
            payer=alice, merchant=shop, amount=Money.from_decimal(amount, "CHF"), tax_free=True,
            description="Tax-free purchase", occurred_at=now - timedelta(days=days_ago, hours=rng.randint(0, 5))))
    coupon = alice.coupons.filter(campaign=davos_promo, status="available").first() if davos_promo else None
    if coupon is not None:
        services.payment_create(payer=alice, merchant=rng.choice(by_city[davos.pk]), amount=Money(8400, "CHF"),
                                coupon_id=coupon.pk, occurred_at=now - timedelta(days=1))
    paid = services.vat_claim_create(user=alice, payment_ids=[tax_free_payments[0].pk], now=now)
    admin = User.objects.filter(is_superuser=True).first() or alice
    services.vat_claim_validate(claim=paid, operator=admin, approved=True, note="demo: goods presented at customs")
    paid.refresh_from_db()
    if paid.status != VatClaimStatus.PAID:  # with a real Celery worker the task pays it; do it here for the demo
        services.vat_claim_pay(claim=paid)
    services.vat_claim_create(user=alice, payment_ids=[p.pk for p in tax_free_payments[1:]], now=now)
    return 2
