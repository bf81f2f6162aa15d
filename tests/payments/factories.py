"""Wallet test helpers: funded users, merchants, rates and campaigns built through the real services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from payments import services
from payments.models import DiscountKind
from superapp.money import Money
from tests.factories import MerchantFactory, UserFactory


def fund(user, amount: str, currency: str = "CNY"):
    source = services.funding_source_add(user=user, label="Visa 4242", currency=currency)
    return services.wallet_top_up(user=user, funding_source=source, amount=Money.from_decimal(amount, currency))


def funded_user(amount: str = "1000", currency: str = "CNY", **kwargs):
    user = UserFactory(**kwargs)
    fund(user, amount, currency)
    return user


def merchant(**kwargs):
    return MerchantFactory(**kwargs)


def rates(*pairs: tuple[str, str, str]) -> None:
    services.fx_rates_load(rows=[(b, q, Decimal(r)) for b, q, r in pairs], source="test")


def campaign(*, budget: str = "1000", currency: str = "CNY", kind: str = DiscountKind.FIXED, fixed_off: int = 1000,
             percent_off: str = "0", days: int = 30, **kwargs):
    return services.campaign_create(
        name=kwargs.pop("name", "Test campaign"), currency=currency, budget=Money.from_decimal(budget, currency),
        discount_kind=kind, fixed_off=fixed_off, percent_off=percent_off,
        ends_at=timezone.now() + timedelta(days=days), **kwargs,
    )


def cny(value: str) -> Money:
    return Money.from_decimal(value, "CNY")
