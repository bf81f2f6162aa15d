"""Built-in demo FX rates (approximate mid-market, per 1 USD), expanded to every pair by cross rates."""

from __future__ import annotations

from decimal import Decimal

PER_USD = {
    "USD": "1", "CNY": "7.20", "CHF": "0.88", "EUR": "0.92", "GBP": "0.79", "JPY": "150", "SGD": "1.34",
    "HKD": "7.80", "KRW": "1350", "THB": "35.5", "AUD": "1.52", "CAD": "1.37", "KWD": "0.307", "BHD": "0.376",
}


def demo_rates() -> list[tuple[str, str, Decimal]]:
    rows = []
    for base, base_per_usd in PER_USD.items():
        for quote, quote_per_usd in PER_USD.items():
            if base != quote:
                rate = (Decimal(quote_per_usd) / Decimal(base_per_usd)).quantize(Decimal("0.0000000001"))
                rows.append((base, quote, rate))
    return rows
