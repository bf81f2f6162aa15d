"""The interface to city service providers (utilities, telecoms, transit, parking) and a simulator.

A real integration implements `ProviderBackend` and is named in `ServiceProvider.backend`; the app only calls
these three methods. The simulator is deterministic: a customer's bills depend on the customer number and
the month, so a demo or a test sees the same bills every time.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from django.utils.module_loading import import_string

from cityservices.exceptions import InvalidCustomerNumber
from cityservices.models import ServiceKind, ServiceProvider
from superapp.money import Money, currency_exponent

# Typical monthly bill range per kind, in major units of CNY; scaled to other currencies below.
_BILL_RANGE_CNY = {ServiceKind.ELECTRICITY: (60, 420), ServiceKind.WATER: (20, 120), ServiceKind.GAS: (30, 260),
                   ServiceKind.PHONE: (50, 220)}
_CNY_TO = {"CNY": 1, "CHF": 0.125, "EUR": 0.13, "GBP": 0.11, "USD": 0.14, "JPY": 21, "SGD": 0.19}
BILL_DUE_DAY = 20  # bills for a month are issued on the 1st of the next month, due on the 20th
MONTHS_SHOWN = 1  # the latest bill; earlier ones were settled before the account was linked


@dataclass(frozen=True)
class ProviderBill:
    reference: str
    period: str
    amount: Money
    due_on: date


class ProviderBackend(Protocol):
    def validate_customer(self, customer_number: str) -> None: ...

    def due_bills(self, customer_number: str, today: date) -> list[ProviderBill]: ...

    def confirm_payment(self, reference: str, amount: Money) -> str: ...


class SimulatedProvider:
    def __init__(self, provider: ServiceProvider) -> None:
        self.provider = provider

    def validate_customer(self, customer_number: str) -> None:
        if not re.fullmatch(self.provider.customer_number_pattern, customer_number or ""):
            raise InvalidCustomerNumber(details={"customer_number": customer_number,
                                                 "pattern": self.provider.customer_number_pattern})
        # Like a real provider, some well-formed numbers are not customers: those ending in 0000.
        if customer_number.endswith("0000"):
            raise InvalidCustomerNumber(f"{self.provider.name} has no customer {customer_number}.",
                                        details={"customer_number": customer_number})

    def _amount(self, customer_number: str, period: str) -> Money:
        low, high = _BILL_RANGE_CNY[self.provider.kind]
        digest = int(hashlib.sha256(f"{self.provider.code}:{customer_number}:{period}".encode()).hexdigest(), 16)
        major_cny = low + (digest % ((high - low) * 100)) / 100
        currency = self.provider.city.currency
        rate = _CNY_TO.get(currency, 0.14)
        return Money.from_decimal(f"{major_cny * rate:.{currency_exponent(currency)}f}", currency)

    def due_bills(self, customer_number: str, today: date) -> list[ProviderBill]:
        """The bills of the last months (issued on the 1st for the previous month)."""
        if self.provider.kind not in _BILL_RANGE_CNY:
            return []
        bills = []
        month_start = today.replace(day=1)
        for _ in range(MONTHS_SHOWN):
            period_end = month_start - timedelta(days=1)
            period = f"{period_end:%Y-%m}"
            bills.append(ProviderBill(
                reference=f"{self.provider.code.upper()}-{customer_number}-{period_end:%Y%m}", period=period,
                amount=self._amount(customer_number, period), due_on=month_start.replace(day=BILL_DUE_DAY)))
            month_start = period_end.replace(day=1)
        return bills

    def confirm_payment(self, reference: str, amount: Money) -> str:
        digest = hashlib.sha256(f"{reference}:{amount.amount}:{amount.currency}".encode()).hexdigest()[:10]
        return f"RCPT-{digest.upper()}"


def backend_for(provider: ServiceProvider) -> ProviderBackend:
    return import_string(provider.backend)(provider)
