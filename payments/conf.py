"""Wallet settings (`PAYMENTS_*`): defined in `superapp/settings.py` (defaults, environment), read from
`django.conf.settings` when used (`superapp.conf.setting`), so `override_settings` applies."""

from __future__ import annotations

from decimal import Decimal

from superapp.conf import setting


def _get(name: str):
    return setting(f"PAYMENTS_{name}")


def fx_spread() -> Decimal:
    """Markup over the mid rate on cross-currency payments, booked to the FX account (0.005 = 0.5%)."""
    return Decimal(str(_get("FX_SPREAD")))


def merchant_fee_rate() -> Decimal:
    """Merchant discount rate taken on every succeeded payment and booked to the fees account."""
    return Decimal(str(_get("MERCHANT_FEE_RATE")))


def pending_ttl_s() -> int:
    """Payments awaiting merchant confirmation fail (and release the money) after this many seconds."""
    return int(_get("PENDING_TTL_S"))


def sweep_after_s() -> int:
    """`wallet_sweep` picks up provider operations still pending, and approved VAT claims still unpaid,
    this many seconds after they started (a live request or task normally finishes them long before)."""
    return int(_get("SWEEP_AFTER_S"))


def system_account_shards() -> int:
    """Hot system accounts (fees, FX, funding) are split into N rows so payments do not queue on one lock."""
    return int(_get("SYSTEM_ACCOUNT_SHARDS"))


def vat_claim_window_days() -> int:
    return int(_get("VAT_CLAIM_WINDOW_DAYS"))


def vat_service_fee_rate() -> Decimal:
    """Share of the VAT refund kept by the platform as its service fee."""
    return Decimal(str(_get("VAT_SERVICE_FEE_RATE")))


def vat_min_purchase() -> dict[str, Decimal]:
    """Minimum tax-free purchase per merchant per day, in major units of the merchant's currency."""
    return {k: Decimal(str(v)) for k, v in _get("VAT_MIN_PURCHASE").items()}


def new_user_max_payments() -> int:
    """'New user' coupons target users with at most this many succeeded payments (first order = 0)."""
    return int(_get("NEW_USER_MAX_PAYMENTS"))


def qr_max_age_s() -> int | None:
    """Signed QR payloads older than this are rejected (None: printed QR codes never expire)."""
    value = _get("QR_MAX_AGE_S")
    return int(value) if value not in (None, "") else None
