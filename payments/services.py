"""Wallet writes: top-up, withdraw, pay, confirm/fail, refund, transfer, payment requests, FX rates,
coupons and tax-free VAT claims. Every function is keyword-only and moves money only through
`payments.ledger.ledger_post` inside one database transaction.

Lock order, everywhere (so no two operations can deadlock), the calling app's own row first:
booking / bill / transit card / appointment row (bookings/, cityservices/, appointments/) -> payment request row ->
payment row -> coupon row -> campaign row -> VAT claim row -> ledger accounts (ascending pk, all in one statement inside
`ledger_post`, always last). Every `select_for_update` that joins another table says `of=("self",)`, so
only the named row is locked (a joined merchant, user or budget account is never locked by accident),
and a deadlock or serialization failure that still happens re-runs the whole transaction
(`superapp.db.run_in_transaction`, used by `@idempotent` views and the jobs).
"""

from __future__ import annotations

import functools
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from merchants.exceptions import MerchantNotFound
from merchants.models import Merchant
from merchants.selectors import user_is_traveller
from payments import conf
from payments.exceptions import (
    CampaignNotFound,
    CouponAlreadyUsed,
    CouponExhausted,
    CouponExpired,
    CouponLimitReached,
    CouponMinSpendNotMet,
    CouponNotApplicable,
    CouponNotFound,
    CurrencyMismatch,
    FundingDeclined,
    FundingSourceInactive,
    FundingSourceNotFound,
    FxRateMissing,
    InvalidAmount,
    MerchantInactive,
    MerchantNotAcceptingWallet,
    PaymentRequestStateInvalid,
    PaymentStateInvalid,
    QrAmountMismatch,
    QrInvalid,
    RecipientNotFound,
    RefundExceedsRemaining,
    TaxFreeUnavailable,
    TransferToSelf,
    VatClaimInvalid,
    VatClaimStateInvalid,
)
from payments.ledger import (
    account_for_merchant,
    account_for_user,
    ledger_post,
    ledger_reverse,
    system_account,
    user_account_find,
)
from payments.models import (
    Account,
    AccountKind,
    Campaign,
    Coupon,
    CouponStatus,
    DiscountKind,
    FundingSource,
    FxRate,
    OperationStatus,
    Payment,
    PaymentRequest,
    PaymentRequestStatus,
    PaymentStatus,
    Refund,
    SystemAccount,
    TopUp,
    TransactionKind,
    Transfer,
    VatClaim,
    VatClaimItem,
    VatClaimStatus,
    Withdrawal,
)
from payments.providers import ProviderResult, provider_for
from superapp.accounts.models import User
from superapp.db import atomic_nested, retry_on_conflict, row_copy, rows_by_pk, run_in_transaction
from superapp.events import RECORD_ID, InteractionKind, interactions_in_transaction
from superapp.exceptions import ValidationFailed
from superapp.money import Money, MoneyError, currency_exponent
from superapp.process_cache import ProcessCacheMap
from superapp.publish import publish_on_commit

QR_SALT = "payments.merchant-qr.v1"


def _require_positive(money: Money, field: str = "amount") -> None:
    if money.amount <= 0:
        raise InvalidAmount(f"`{field}` must be greater than zero.", details={field: ["must be > 0"]})


def money_from_input(value: str, currency: str, *, field: str = "amount", positive: bool = True) -> Money:
    """A client's decimal string in `currency` as Money: `invalid_amount`, `too_many_decimals`,
    `amount_out_of_range` (naming `field` in the details) when it is not one; `positive`: more than zero.
    The serializers parse money input with it once the currency is known."""
    try:
        money = Money.from_decimal(value, currency)
    except MoneyError as exc:
        raise InvalidAmount(str(exc), code=exc.code, details={field: [str(exc)]}) from None
    if positive:
        _require_positive(money, field)
    return money


def _require_currency(money: Money, currency: str, field: str = "amount") -> None:
    if money.currency != currency:
        raise CurrencyMismatch(f"`{field}` must be in {currency}.",
                               details={field: [f"expected {currency}, got {money.currency}"]})


def _major(amount: int, currency: str) -> float:
    return float(Money(amount, currency).to_decimal())


def _proportional(total: int, part: int, whole: int) -> int:
    """total * part / whole rounded half-even, in integers (no float)."""
    return int((Decimal(total) * part / whole).quantize(Decimal(1)))


# --- Funding sources, top-up, withdrawal -------------------------------------------------------------

def funding_source_add(*, user: User, label: str, currency: str, kind: str = "card",
                       provider: str = "simulated") -> FundingSource:
    currency_exponent(currency)
    token = provider_for(provider).tokenize(label=label, user_id=user.pk)
    return FundingSource.objects.create(user=user, kind=kind, provider=provider, provider_reference=token,
                                        label=label, currency=currency)


def funding_source_remove(*, funding_source: FundingSource) -> FundingSource:
    funding_source.is_active = False
    funding_source.save(update_fields=["is_active"])
    return funding_source


def _usable_source(user: User, funding_source: FundingSource) -> FundingSource:
    if funding_source.user_id != user.pk:
        raise FundingSourceNotFound()
    if not funding_source.is_active:
        raise FundingSourceInactive()
    return funding_source


def _operation_open(model, *, user: User, funding_source: FundingSource, amount: Money, request_key: str,
                    post=None):
    """Step 1 of a provider-backed operation, in its own transaction: the pending row (and, for a
    withdrawal, the debit via `post`). With a `request_key` an earlier attempt's row is found and resumed."""
    request_key = request_key[:255]

    def open_once():
        if request_key:
            existing = model.objects.filter(user=user, request_key=request_key).first()
            if existing is not None:
                return existing
        operation = model.objects.create(user=user, funding_source=funding_source, amount=amount.amount,
                                         currency=amount.currency, status=OperationStatus.PENDING,
                                         request_key=request_key)
        if post is not None:
            operation.ledger_transaction = post(operation)
            operation.save(update_fields=["ledger_transaction"])
        return operation

    try:
        return run_in_transaction(open_once)
    except IntegrityError:
        if not request_key:
            raise
        # a concurrent attempt with the same key opened it first
        return model.objects.select_related("funding_source").get(user=user, request_key=request_key)


def _operation_result(operation) -> Any:
    if operation.status == OperationStatus.FAILED:
        verb = "charge" if isinstance(operation, TopUp) else "payout"
        raise FundingDeclined(f"The bank declined the {verb}.", details={"reason": operation.failure_reason})
    return operation


def wallet_top_up(*, user: User, funding_source: FundingSource, amount: Money,
                  occurred_at: datetime | None = None, request_key: str = "") -> TopUp:
    """Charge the card/bank and credit the wallet (funding -A, user +A), the provider call OUTSIDE any
    database transaction and with no row locked:

    1. record a pending top-up (own transaction; a retry with the same `request_key` resumes it);
    2. charge the provider with the reference `topup:<id>` (providers are idempotent on the reference);
    3. settle in a second transaction: credit the wallet, or mark it failed (402 funding_declined).

    A crash between 1 and 3 leaves the top-up pending; the client's retry or `wallet_reconcile` (beat job)
    settles it. (Called inside a caller's transaction, e.g. the demo seeder, the steps share it.)
    `occurred_at` is for imports and demo data; it defaults to now."""
    _require_positive(amount)
    _usable_source(user, funding_source)
    top_up = _operation_open(TopUp, user=user, funding_source=funding_source, amount=amount,
                             request_key=request_key)
    if top_up.status == OperationStatus.PENDING:
        top_up = _top_up_settle(top_up=top_up, at=occurred_at)
    return _operation_result(top_up)


def _top_up_settle(*, top_up: TopUp, at: datetime | None = None) -> TopUp:
    source = top_up.funding_source
    result = provider_for(source.provider).charge(token=source.provider_reference,
                                                  amount=Money(top_up.amount, top_up.currency),
                                                  reference=f"topup:{top_up.pk}")
    return _top_up_apply(top_up_id=top_up.pk, result=result, at=at)


@retry_on_conflict
def _top_up_apply(*, top_up_id: int, result: ProviderResult, at: datetime | None) -> TopUp:
    top_up = TopUp.objects.select_for_update(of=("self",)).select_related("funding_source").get(pk=top_up_id)
    source, amount = top_up.funding_source, Money(top_up.amount, top_up.currency)
    if top_up.status != OperationStatus.PENDING:
        return top_up  # settled meanwhile (a concurrent retry or the reconcile job)
    top_up.provider_reference, top_up.settled_at = result.reference, timezone.now()
    if result.ok:
        top_up.ledger_transaction = ledger_post(
            kind=TransactionKind.TOP_UP,
            legs=[(system_account(code=SystemAccount.FUNDING, currency=amount.currency), -amount.amount),
                  (account_for_user(user_id=top_up.user_id, currency=amount.currency), amount.amount)],
            description=f"Top-up from {source.label}", at=at,
        )
        top_up.status, top_up.created_at = OperationStatus.SUCCEEDED, top_up.ledger_transaction.created_at
    else:
        top_up.status, top_up.failure_reason = OperationStatus.FAILED, result.decline_reason[:64]
    top_up.save(update_fields=["provider_reference", "settled_at", "ledger_transaction", "status",
                               "created_at", "failure_reason"])
    return top_up


def wallet_withdraw(*, user: User, funding_source: FundingSource, amount: Money, request_key: str = "") -> Withdrawal:
    """Pay out to the card/bank, the provider call OUTSIDE any database transaction:

    1. debit the wallet into suspense and record a pending withdrawal, in one transaction (so a concurrent
       spend cannot overdraw; `insufficient_funds` writes nothing): user -A, suspense +A;
    2. ask the provider to pay out (reference `withdrawal:<id>`, idempotent at the provider);
    3. settle: suspense -A, funding +A (succeeded), or reverse the debit (failed, 402 funding_declined).

    Crash recovery as for `wallet_top_up`."""
    _require_positive(amount)
    _usable_source(user, funding_source)

    def debit(withdrawal: Withdrawal):
        return ledger_post(
            kind=TransactionKind.WITHDRAWAL,
            legs=[(account_for_user(user_id=user.pk, currency=amount.currency), -amount.amount),
                  (system_account(code=SystemAccount.SUSPENSE, currency=amount.currency), amount.amount)],
            description=f"Withdrawal to {funding_source.label}",
        )

    withdrawal = _operation_open(Withdrawal, user=user, funding_source=funding_source, amount=amount,
                                 request_key=request_key, post=debit)
    if withdrawal.status == OperationStatus.PENDING:
        withdrawal = _withdrawal_settle(withdrawal=withdrawal)
    return _operation_result(withdrawal)


def _withdrawal_settle(*, withdrawal: Withdrawal) -> Withdrawal:
    source = withdrawal.funding_source
    result = provider_for(source.provider).payout(token=source.provider_reference,
                                                  amount=Money(withdrawal.amount, withdrawal.currency),
                                                  reference=f"withdrawal:{withdrawal.pk}")
    return _withdrawal_apply(withdrawal_id=withdrawal.pk, result=result)


@retry_on_conflict
def _withdrawal_apply(*, withdrawal_id: int, result: ProviderResult) -> Withdrawal:
    withdrawal = (Withdrawal.objects.select_for_update(of=("self",)).select_related("ledger_transaction")
                  .get(pk=withdrawal_id))
    amount = Money(withdrawal.amount, withdrawal.currency)
    if withdrawal.status != OperationStatus.PENDING:
        return withdrawal
    withdrawal.provider_reference, withdrawal.settled_at = result.reference, timezone.now()
    if result.ok:
        ledger_post(kind=TransactionKind.WITHDRAWAL,
                    legs=[(system_account(code=SystemAccount.SUSPENSE, currency=amount.currency), -amount.amount),
                          (system_account(code=SystemAccount.FUNDING, currency=amount.currency), amount.amount)],
                    description=f"Withdrawal #{withdrawal.pk} paid out")
        withdrawal.status = OperationStatus.SUCCEEDED
    else:
        ledger_reverse(ledger_transaction=withdrawal.ledger_transaction,
                       description=f"Withdrawal #{withdrawal.pk} declined: {result.decline_reason}")
        withdrawal.status, withdrawal.failure_reason = OperationStatus.FAILED, result.decline_reason[:64]
    withdrawal.save(update_fields=["provider_reference", "settled_at", "status", "failure_reason"])
    return withdrawal


def wallet_reconcile(*, older_than_s: float | None = None, now: datetime | None = None) -> dict[str, int]:
    """Settle top-ups and withdrawals left pending by a crash between the provider call and the settling
    transaction: ask the provider again with the same reference (idempotent there) and settle."""
    older_than_s = conf.sweep_after_s() if older_than_s is None else older_than_s
    cutoff = (now or timezone.now()) - timedelta(seconds=older_than_s)
    settled = {"top_ups": 0, "withdrawals": 0}
    for top_up in TopUp.objects.filter(status=OperationStatus.PENDING, created_at__lt=cutoff).select_related(
            "funding_source").order_by("pk"):
        _top_up_settle(top_up=top_up)
        settled["top_ups"] += 1
    for withdrawal in Withdrawal.objects.filter(status=OperationStatus.PENDING, created_at__lt=cutoff).select_related(
            "funding_source").order_by("pk"):
        _withdrawal_settle(withdrawal=withdrawal)
        settled["withdrawals"] += 1
    return settled


# --- FX ----------------------------------------------------------------------------------------------

def fx_rate_get(*, base: str, quote: str) -> Decimal:
    """Newest mid rate for base->quote (1 base = rate quote), using the inverse pair if only it exists."""
    if base == quote:
        return Decimal(1)
    direct = FxRate.objects.filter(base=base, quote=quote).order_by("-as_of", "-pk").first()
    if direct is not None:
        return direct.rate
    inverse = FxRate.objects.filter(base=quote, quote=base).order_by("-as_of", "-pk").first()
    if inverse is not None:
        return (Decimal(1) / inverse.rate).quantize(Decimal("0.0000000001"))
    raise FxRateMissing(f"No exchange rate for {base}->{quote}.", details={"base": base, "quote": quote})


def fx_rates_load(*, rows: list[tuple[str, str, Decimal]], source: str, as_of: datetime | None = None) -> int:
    """Store a batch of mid rates (base, quote, rate); the newest row per pair wins."""
    when = as_of or timezone.now()
    objs = []
    for base, quote, rate in rows:
        currency_exponent(base)
        currency_exponent(quote)
        if rate <= 0:
            raise InvalidAmount(f"Rate for {base}/{quote} must be positive.")
        objs.append(FxRate(base=base, quote=quote, rate=rate, as_of=when, source=source))
    FxRate.objects.bulk_create(objs)
    return len(objs)


# --- Merchant QR -----------------------------------------------------------------------------------

def merchant_qr_payload(*, merchant: Merchant, amount: Money | None = None) -> str:
    """A signed string for the merchant's QR code, optionally fixing the amount."""
    data: dict[str, Any] = {"m": merchant.pk}
    if amount is not None:
        _require_positive(amount)
        _require_currency(amount, merchant.currency)
        data.update({"a": amount.amount, "c": amount.currency})
    return signing.dumps(data, salt=QR_SALT, compress=True)


@dataclass(frozen=True)
class QrContent:
    merchant_id: int
    amount: Money | None


def merchant_qr_decode(*, payload: str) -> QrContent:
    try:
        data = signing.loads(payload, salt=QR_SALT, max_age=conf.qr_max_age_s())
        merchant_id = int(data["m"])
        amount = Money(int(data["a"]), str(data["c"])) if "a" in data else None
    except (signing.BadSignature, KeyError, TypeError, ValueError, MoneyError):
        raise QrInvalid() from None
    return QrContent(merchant_id=merchant_id, amount=amount)


# --- Payments ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentOrder:
    """What a client asks to pay: the merchant, the amount and the tip, both in the merchant's currency."""

    merchant: Merchant
    amount: Money
    tip: Money | None
    # The merchant is this process's copy (`_payable_merchants`): `payment_create(merchant_unverified=True)`.
    merchant_unverified: bool = False


def payment_order_resolve(*, merchant_id: int | None = None, qr_payload: str | None = None,
                          amount: str | None = None, currency: str | None = None,
                          tip: str | None = None, hinted: bool = False) -> PaymentOrder:
    """The merchant (by id, or from its signed QR payload) and the amounts of a payment request, parsed in
    `currency` (default: the merchant's). A QR code that fixes an amount is paid exactly that: another amount
    is `qr_amount_mismatch`, no amount takes the QR's; without either, `amount` is required. `hinted`: the
    merchant may be this process's copy of a payable merchant, unverified (see `payment_pay`)."""
    fixed_amount = None
    if qr_payload is not None:
        content = merchant_qr_decode(payload=qr_payload)
        merchant_id, fixed_amount = content.merchant_id, content.amount
    merchant = _payable_merchant_copy(merchant_id) if hinted else None
    unverified = merchant is not None
    if merchant is None:
        merchant = merchant_get_payable(merchant_id=merchant_id)
    currency = currency or merchant.currency
    if amount is not None:
        money = money_from_input(amount, currency)
        if fixed_amount is not None and money != fixed_amount:
            raise QrAmountMismatch(details={"amount": [f"The QR code says {fixed_amount}."]})
    elif fixed_amount is not None:
        money = fixed_amount
    else:
        raise ValidationFailed("`amount` is required.", details={"amount": ["This field is required."]})
    # "0"/"-0" as a tip is refused: omit it instead
    return PaymentOrder(merchant, money, money_from_input(tip, currency, field="tip") if tip is not None else None,
                        merchant_unverified=unverified)


def payment_pay(*, payer: User, merchant_id: int | None = None, qr_payload: str | None = None,
                amount: str | None = None, currency: str | None = None, tip: str | None = None,
                coupon_id: int | None = None, tax_free: bool = False, reference: str = "", description: str = "",
                pay_currency: str | None = None) -> Payment:
    """A payment as the API asks for it (`POST wallet/payments`): `payment_order_resolve`, then `payment_create`.

    A merchant this process has read as payable before (`_payable_merchants`) is not read again first: the payment
    reads its row in the statement that locks the accounts (one statement less), and if that row differs in
    anything the payment depends on (`_PAYMENT_MERCHANT_FIELDS`), nothing has been written yet and the payment
    starts over with the merchant read from the database. Not for a coupon (its redemption, before the accounts,
    depends on the merchant) or tax-free shopping (which reads the merchant's city)."""
    order_of = functools.partial(payment_order_resolve, merchant_id=merchant_id, qr_payload=qr_payload,
                                 amount=amount, currency=currency, tip=tip)

    def pay(order: PaymentOrder) -> Payment:
        return payment_create(payer=payer, merchant=order.merchant, amount=order.amount, tip=order.tip,
                              coupon_id=coupon_id, tax_free=tax_free, reference=reference, description=description,
                              pay_currency=pay_currency, merchant_unverified=order.merchant_unverified)

    try:
        return pay(order_of(hinted=coupon_id is None and not tax_free))
    except _MerchantChanged:
        return pay(order_of())


# Merchants this process has read as payable (active, accepting the wallet), by id, for `payment_pay`. Only a hint:
# every use is checked against the row read with the account locks (`_merchant_unchanged`).
PAYABLE_MERCHANTS_MAX = 20_000
_payable_merchants: ProcessCacheMap[int, Merchant] = ProcessCacheMap("payments.payable_merchants",
                                                                     max_entries=PAYABLE_MERCHANTS_MAX)
# What a payment takes from its merchant before the accounts are locked (which accounts, how the amount reads, the
# checks, the ledger description): the row read with the locks must agree on all of them.
_PAYMENT_MERCHANT_FIELDS = ("id", "currency", "is_active", "accepts_wallet", "requires_confirmation", "name",
                            "tax_free", "city_id")


class _MerchantChanged(Exception):
    pass


def _payable_merchant_copy(merchant_id: int | None) -> Merchant | None:
    cached = _payable_merchants.lookup(merchant_id) if merchant_id is not None else None
    if cached is None:
        return None
    return row_copy(cached)  # a private copy: a caller may set attributes on it


def _merchant_unchanged(hint: Merchant):
    def check(current: Merchant | None) -> bool:
        if current is None or any(getattr(current, name) != getattr(hint, name) for name in _PAYMENT_MERCHANT_FIELDS):
            _payable_merchants.discard(hint.pk)
            return False
        return True
    return check


def _payer_wallet(payer: User, merchant_currency: str, pay_currency: str | None) -> tuple[str, Account | None]:
    """Which wallet pays: `pay_currency` if given, else the merchant's currency if the payer holds it,
    else the home currency. Returns the currency and the wallet when already looked up."""
    if pay_currency:
        return pay_currency, None
    wallet = user_account_find(user_id=payer.pk, currency=merchant_currency)
    return (merchant_currency, wallet) if wallet else (payer.home_currency, None)


def _vat_for(*, payer: User, merchant: Merchant, amount: Money, now: datetime) -> int:
    city = merchant.city
    if not merchant.tax_free or city is None:
        raise TaxFreeUnavailable("This merchant does not offer tax-free shopping.")
    if not city.vat_rate:
        raise TaxFreeUnavailable(f"{city.country_code} has no VAT refund scheme for visitors.")
    # Where the payer is: an active trip's destination (issue 5: a trip makes you a traveller there
    # for its dates), else the profile's current city.
    # Residence from evidence only (issue #14): the operator-verified document country, not profile cities.
    if not payer.verified_country:
        raise TaxFreeUnavailable("Tax-free shopping needs an identity document verified by an operator.",
                                 details={"reason": "residence_unverified"})
    if not user_is_traveller(payer, now, in_countries={city.country_code}):
        raise TaxFreeUnavailable("Residents of the merchant's country cannot shop tax-free.",
                                 details={"reason": "resident"})
    # Prices include VAT: vat = amount * rate / (1 + rate), rounded once.
    return amount.multiply(city.vat_rate / (1 + city.vat_rate)).amount


def _emit(*events: dict) -> None:
    """Record recommender interactions inside the current transaction: they exist only if the money
    movement commits (the same guarantee as an after-commit hook, without a second transaction)."""
    interactions_in_transaction(events=list(events))


def _event(*, user_id: int, merchant_id: int, kind: str, value: float, source: str,
           occurred_at: datetime | None = None) -> dict:
    return {"user_id": user_id, "merchant_id": merchant_id, "kind": kind, "value": value, "source": source,
            "occurred_at": occurred_at}


def _payment_events(payment: Payment, *, payment_id: int | str) -> list[dict]:
    """The recommender's events of a succeeded payment (`payment_id`: its id, or `RECORD_ID` while unsaved)."""
    events = [_event(user_id=payment.payer_id, merchant_id=payment.merchant_id, kind=InteractionKind.PAYMENT,
                     value=_major(payment.gross, payment.currency), source=f"payment:{payment_id}",
                     occurred_at=payment.completed_at)]
    if payment.coupon_id:
        events.append(_event(user_id=payment.payer_id, merchant_id=payment.merchant_id, kind=InteractionKind.COUPON,
                             value=_major(payment.discount, payment.currency), source=f"coupon:{payment.coupon_id}",
                             occurred_at=payment.completed_at))
    return events


def merchant_get_payable(*, merchant_id: int) -> Merchant:
    # No select_related("city"): only a tax-free payment needs the city (then it is one more query).
    # `rows_by_pk`: read on every payment, where building the ORM query costs more than the round trip.
    found = rows_by_pk(Merchant, [merchant_id])
    if not found:
        _payable_merchants.discard(merchant_id)
        raise MerchantNotFound()
    if found[0].is_active and found[0].accepts_wallet:
        _payable_merchants.put(merchant_id, found[0])
    else:
        _payable_merchants.discard(merchant_id)
    return found[0]


def payment_create(*, payer: User, merchant: Merchant, amount: Money, tip: Money | None = None,
                   coupon_id: int | None = None, tax_free: bool = False, reference: str = "",
                   description: str = "", pay_currency: str | None = None,
                   occurred_at: datetime | None = None, merchant_unverified: bool = False) -> Payment:
    """Pay a merchant from the wallet, all in one transaction.

    `amount` and `tip` are in the merchant's currency. The payer pays from their wallet in
    `pay_currency` (default: the merchant's currency if they hold it, else their home currency),
    converted at the newest FX rate plus the configured spread. With `coupon_id` (one of the payer's
    collected coupons) the discount comes out of the campaign's budget account. Merchants that require
    confirmation get the money in suspense until `payment_confirm` (or back to the payer on `payment_fail`).

    Errors (nothing written): invalid_amount, currency_mismatch, merchant_inactive,
    merchant_not_accepting_wallet, fx_rate_missing, insufficient_funds, coupon_* errors, tax_free_unavailable.
    `merchant_unverified` (`payment_pay` only): `merchant` is this process's copy, checked against the row read
    with the account locks (`_MerchantChanged` before anything is written when they differ).
    """
    if merchant_unverified and (coupon_id is not None or tax_free):
        raise ValueError("an unverified merchant is only for payments without a coupon or tax-free shopping")
    _require_positive(amount)
    _require_currency(amount, merchant.currency)
    tip = tip or Money(0, merchant.currency)
    if tip.amount < 0:
        raise InvalidAmount("`tip` cannot be negative.", details={"tip": ["must be >= 0"]})
    _require_currency(tip, merchant.currency, "tip")
    if not merchant.is_active:
        raise MerchantInactive()
    if not merchant.accepts_wallet:
        raise MerchantNotAcceptingWallet()
    payer_currency, payer_wallet = _payer_wallet(payer, merchant.currency, pay_currency)
    try:
        currency_exponent(payer_currency)
    except MoneyError as exc:
        raise CurrencyMismatch(str(exc), code=exc.code) from None
    now = occurred_at or timezone.now()
    vat_amount = _vat_for(payer=payer, merchant=merchant, amount=amount, now=now) if tax_free else 0
    gross = amount.amount + tip.amount
    pending = merchant.requires_confirmation

    with atomic_nested():
        coupon, campaign, discount = None, None, 0
        if coupon_id is not None:
            coupon, campaign = _coupon_lock_for_redeem(coupon_id=coupon_id, user=payer)
            discount = _coupon_redeem(coupon=coupon, campaign=campaign, user=payer, merchant=merchant,
                                      amount=amount, now=now)
        paid = gross - discount

        fx_mid = fx_applied = None
        if payer_currency == merchant.currency:
            payer_amount = paid
        else:
            fx_mid = fx_rate_get(base=merchant.currency, quote=payer_currency)
            fx_applied = (fx_mid * (1 + conf.fx_spread())).quantize(Decimal("0.0000000001"))
            payer_amount = Money(paid, merchant.currency).convert(fx_applied, payer_currency).amount

        fee = Money(gross, merchant.currency).multiply(conf.merchant_fee_rate()).amount
        legs = [(payer_wallet or account_for_user(user_id=payer.pk, currency=payer_currency), -payer_amount)]
        if payer_currency != merchant.currency:
            # The FX account buys the payer's currency and sells the merchant's; the spread stays there.
            legs += [(system_account(code=SystemAccount.FX, currency=payer_currency), payer_amount),
                     (system_account(code=SystemAccount.FX, currency=merchant.currency), -paid)]
        if discount:
            legs.append((campaign.budget_account, -discount))
        if pending:
            legs.append((system_account(code=SystemAccount.SUSPENSE, currency=merchant.currency), gross))
        else:
            legs += [(account_for_merchant(merchant_id=merchant.pk, currency=merchant.currency), gross - fee),
                     (system_account(code=SystemAccount.FEES, currency=merchant.currency), fee)]
        payment = Payment(
            payer=payer, merchant=merchant, status=PaymentStatus.PENDING if pending else PaymentStatus.SUCCEEDED,
            currency=merchant.currency, amount=amount.amount, tip=tip.amount, discount=discount, fee=fee,
            payer_currency=payer_currency, payer_amount=payer_amount, fx_rate=fx_applied, fx_mid_rate=fx_mid,
            coupon=coupon, tax_free=tax_free, vat_amount=vat_amount, reference=reference[:64],
            description=description[:255], created_at=now, completed_at=None if pending else now,
        )
        # The payment row and, once succeeded, its interaction events go in with its ledger transaction (one
        # statement on PostgreSQL).
        posted = ledger_post(
            kind=TransactionKind.PAYMENT, legs=legs, merchant_id=merchant.pk, at=now,
            description=description or f"Payment to {merchant.name}", record=payment,
            record_events=() if pending else _payment_events(payment, payment_id=RECORD_ID),
            read_with_lock=(Merchant, merchant.pk, _merchant_unchanged(merchant)) if merchant_unverified else None)
    if posted is None:  # raised here, outside the atomic block, so the enclosing transaction stays usable
        raise _MerchantChanged()
    return payment


def _lock_payment(payment: Payment) -> Payment:
    # Only the payment row (`of`): locking the joined merchant row too made concurrent payments' foreign-key
    # checks on that merchant wait on it, a deadlock with the account locks. `no_key`: rows that merely
    # reference the payment (refunds, claim items, bookings) may still be inserted meanwhile.
    return (Payment.objects.select_for_update(of=("self",), no_key=True).select_related("merchant")
            .get(pk=payment.pk))


@retry_on_conflict
def payment_confirm(*, payment: Payment) -> Payment:
    """Merchant confirms a pending payment: suspense -> merchant (minus fee)."""
    with transaction.atomic():
        payment = _lock_payment(payment)
        if payment.status != PaymentStatus.PENDING:
            raise PaymentStateInvalid(f"The payment is {payment.status}, not pending.")
        ledger_post(
            kind=TransactionKind.PAYMENT_CAPTURE, merchant_id=payment.merchant_id,
            legs=[(system_account(code=SystemAccount.SUSPENSE, currency=payment.currency), -payment.gross),
                  (account_for_merchant(merchant_id=payment.merchant_id, currency=payment.currency),
                   payment.gross - payment.fee),
                  (system_account(code=SystemAccount.FEES, currency=payment.currency), payment.fee)],
            description=f"Confirmed payment #{payment.pk}",
        )
        payment.status = PaymentStatus.SUCCEEDED
        payment.completed_at = timezone.now()
        payment.save(update_fields=["status", "completed_at"])
        _emit(*_payment_events(payment, payment_id=payment.pk))
    return payment


@retry_on_conflict
def payment_fail(*, payment: Payment, reason: str = "rejected_by_merchant") -> Payment:
    """A pending payment is rejected or expires: reverse its transaction and release the coupon."""
    with transaction.atomic():
        payment = _lock_payment(payment)
        if payment.status != PaymentStatus.PENDING:
            raise PaymentStateInvalid(f"The payment is {payment.status}, not pending.")
        if payment.coupon_id:
            coupon = Coupon.objects.select_for_update().get(pk=payment.coupon_id)
            campaign = Campaign.objects.select_for_update().get(pk=coupon.campaign_id)
            coupon.status, coupon.redeemed_at = CouponStatus.AVAILABLE, None
            coupon.save(update_fields=["status", "redeemed_at"])
            campaign.redemptions -= 1
            campaign.save(update_fields=["redemptions"])
        ledger_reverse(ledger_transaction=payment.ledger_transaction,
                       description=f"Payment #{payment.pk} failed: {reason}")
        payment.status = PaymentStatus.FAILED
        payment.failure_reason = reason[:64]
        payment.completed_at = timezone.now()
        payment.save(update_fields=["status", "failure_reason", "completed_at"])
    return payment


def payments_expire_pending(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(seconds=conf.pending_ttl_s())
    expired = 0
    for payment in Payment.objects.filter(status=PaymentStatus.PENDING, created_at__lt=cutoff).order_by("pk"):
        try:
            payment_fail(payment=payment, reason="confirmation_timeout")
            expired += 1
        except PaymentStateInvalid:
            continue  # confirmed or failed meanwhile
    return expired


def payment_refund(*, payment: Payment, amount: Money | None = None, reason: str = "",
                   actor: User | None = None, occurred_at: datetime | None = None) -> Refund:
    """Refund all (amount=None) or part of what the payer paid. Partials never exceed the total: the
    payment row is locked and `refunded` checked and bumped in the same transaction.

    The merchant gives back the amount plus the matching share of any coupon discount (to the campaign
    budget) and gets the matching share of its fee back; the payer gets the matching share of what they
    were charged, in their own currency, so a full refund returns exactly what they paid."""
    with transaction.atomic():
        payment = _lock_payment(payment)
        if payment.status != PaymentStatus.SUCCEEDED:
            raise PaymentStateInvalid(f"Only succeeded payments can be refunded (this one is {payment.status}).")
        remaining = payment.paid - payment.refunded
        if amount is None:
            amount = Money(remaining, payment.currency)
        _require_currency(amount, payment.currency)
        if amount.amount <= 0 and remaining > 0:
            _require_positive(amount)
        if amount.amount > remaining or remaining <= 0:
            raise RefundExceedsRemaining(details={"remaining": str(Money(remaining, payment.currency).to_decimal()),
                                                  "currency": payment.currency})
        is_last = amount.amount == remaining
        so_far = payment.refunds.aggregate(discount=Sum("discount_returned"), fee=Sum("fee_returned"))
        if is_last:
            discount_returned = payment.discount - (so_far["discount"] or 0)
            fee_returned = payment.fee - (so_far["fee"] or 0)
            payer_amount = payment.payer_amount - payment.payer_refunded
        else:
            discount_returned = _proportional(payment.discount, amount.amount, payment.paid)
            fee_returned = _proportional(payment.fee, amount.amount, payment.paid)
            payer_amount = _proportional(payment.payer_amount, amount.amount, payment.paid)

        legs = [(account_for_merchant(merchant_id=payment.merchant_id, currency=payment.currency),
                 -(amount.amount + discount_returned - fee_returned)),
                (system_account(code=SystemAccount.FEES, currency=payment.currency), -fee_returned),
                (account_for_user(user_id=payment.payer_id, currency=payment.payer_currency), payer_amount)]
        if discount_returned:
            legs.append((Campaign.objects.select_related("budget_account").get(
                coupons__pk=payment.coupon_id).budget_account, discount_returned))
        if payment.payer_currency != payment.currency:
            legs += [(system_account(code=SystemAccount.FX, currency=payment.currency), amount.amount),
                     (system_account(code=SystemAccount.FX, currency=payment.payer_currency), -payer_amount)]
        ledger_transaction = ledger_post(kind=TransactionKind.REFUND, legs=legs, merchant_id=payment.merchant_id,
                                         description=f"Refund of payment #{payment.pk}", at=occurred_at)
        payment.refunded += amount.amount
        payment.payer_refunded += payer_amount
        payment.save(update_fields=["refunded", "payer_refunded"])
        refund = Refund.objects.create(payment=payment, amount=amount.amount, currency=payment.currency,
                                       payer_amount=payer_amount, discount_returned=discount_returned,
                                       fee_returned=fee_returned, created_at=ledger_transaction.created_at,
                                       reason=reason[:255], actor=actor, ledger_transaction=ledger_transaction)
        _emit(_event(user_id=payment.payer_id, merchant_id=payment.merchant_id, kind=InteractionKind.REFUND,
                     value=_major(amount.amount, payment.currency), source=f"refund:{refund.pk}",
                     occurred_at=refund.created_at))
    return refund


# --- Transfers and payment requests ----------------------------------------------------------------

def transfer_create(*, sender: User, recipient: User, amount: Money, message: str = "",
                    occurred_at: datetime | None = None) -> Transfer:
    """Person-to-person transfer in one currency: sender -A, recipient +A."""
    _require_positive(amount)
    if sender.pk == recipient.pk:
        raise TransferToSelf()
    if not recipient.is_active:
        raise RecipientNotFound()
    with transaction.atomic():
        ledger_transaction = ledger_post(
            kind=TransactionKind.TRANSFER,
            legs=[(account_for_user(user_id=sender.pk, currency=amount.currency), -amount.amount),
                  (account_for_user(user_id=recipient.pk, currency=amount.currency), amount.amount)],
            description=message or "Transfer", at=occurred_at,
        )
        return Transfer.objects.create(sender=sender, recipient=recipient, amount=amount.amount,
                                       currency=amount.currency, message=message[:140],
                                       ledger_transaction=ledger_transaction, created_at=ledger_transaction.created_at)


def payment_requests_create(*, requester: User, payer_ids: list[int], total: Money, message: str = "",
                            include_requester: bool = True) -> list[PaymentRequest]:
    """Split a bill: the total is shared equally among the payers (and the requester unless
    include_requester is false); any remainder in minor units stays with the requester's share, or
    with the first payers when the requester is not sharing."""
    _require_positive(total, "total")
    ids = list(dict.fromkeys(payer_ids))
    if not ids or requester.pk in ids:
        raise TransferToSelf("Ask other people: the payer list is empty or contains yourself.")
    payers = {u.pk: u for u in User.objects.filter(pk__in=ids, is_active=True)}
    missing = [pk for pk in ids if pk not in payers]
    if missing:
        raise RecipientNotFound(details={"payer_ids": missing})
    shares = len(ids) + (1 if include_requester else 0)
    each, remainder = divmod(total.amount, shares)
    if each <= 0:
        raise InvalidAmount("The total is too small to split among this many people.")
    group = secrets.token_hex(8)
    requests = []
    for index, pk in enumerate(ids):
        extra = 1 if (not include_requester and index < remainder) else 0
        requests.append(PaymentRequest(requester=requester, payer=payers[pk], amount=each + extra,
                                       currency=total.currency, message=message[:140], group=group))
    return PaymentRequest.objects.bulk_create(requests)


def payment_request_accept(*, payment_request: PaymentRequest, user: User) -> PaymentRequest:
    with transaction.atomic():
        locked = PaymentRequest.objects.select_for_update(of=("self",), no_key=True).select_related(
            "requester").get(pk=payment_request.pk, payer=user)
        if locked.status != PaymentRequestStatus.PENDING:
            raise PaymentRequestStateInvalid()
        locked.transfer = transfer_create(sender=user, recipient=locked.requester,
                                          amount=Money(locked.amount, locked.currency),
                                          message=locked.message or f"Payment request #{locked.pk}")
        locked.status = PaymentRequestStatus.ACCEPTED
        locked.answered_at = timezone.now()
        locked.save(update_fields=["transfer", "status", "answered_at"])
    return locked


@retry_on_conflict
def payment_request_answer(*, payment_request: PaymentRequest, user: User, status: str) -> PaymentRequest:
    """Decline (by the payer) or cancel (by the requester) a pending request."""
    with transaction.atomic():
        locked = PaymentRequest.objects.select_for_update().get(pk=payment_request.pk)
        if locked.status != PaymentRequestStatus.PENDING:
            raise PaymentRequestStateInvalid()
        locked.status = status
        locked.answered_at = timezone.now()
        locked.save(update_fields=["status", "answered_at"])
    return locked


# --- Coupons -------------------------------------------------------------------------------------------

def campaign_create(*, name: str, currency: str, budget: Money, discount_kind: str, ends_at: datetime,
                    percent_off: Decimal | str = "0", fixed_off: int = 0, max_discount: int | None = None,
                    min_spend: int = 0, per_user_limit: int = 1, max_redemptions: int | None = None,
                    starts_at: datetime | None = None, funded_by_merchant: Merchant | None = None,
                    cities: list | None = None, verticals: list[str] | None = None,
                    merchants: list | None = None, new_users_only: bool = False, travellers_only: bool = False,
                    description: str = "") -> Campaign:
    """Create a campaign and fund its budget account from the platform's marketing account or the
    funding merchant's balance (merchant_insufficient_funds if it cannot cover the budget)."""
    _require_positive(budget, "budget")
    _require_currency(budget, currency, "budget")
    if discount_kind == DiscountKind.PERCENT and not (0 < Decimal(str(percent_off)) <= 100):
        raise InvalidAmount("percent_off must be in (0, 100].")
    if discount_kind == DiscountKind.FIXED and fixed_off <= 0:
        raise InvalidAmount("fixed_off must be positive.")
    with transaction.atomic():
        account = Account.objects.create(kind=AccountKind.CAMPAIGN, currency=currency)
        campaign = Campaign.objects.create(
            name=name, description=description, funded_by_merchant=funded_by_merchant, currency=currency,
            budget_account=account, discount_kind=discount_kind, percent_off=Decimal(str(percent_off)),
            fixed_off=fixed_off, max_discount=max_discount, min_spend=min_spend, per_user_limit=per_user_limit,
            max_redemptions=max_redemptions, starts_at=starts_at or timezone.now(), ends_at=ends_at,
            verticals=list(verticals or []), new_users_only=new_users_only, travellers_only=travellers_only,
        )
        if cities:
            campaign.cities.set(cities)
        if merchants:
            campaign.merchants.set(merchants)
        campaign_fund(campaign=campaign, amount=budget)
    return campaign


def campaign_fund(*, campaign: Campaign, amount: Money) -> Campaign:
    _require_positive(amount)
    _require_currency(amount, campaign.currency)
    with transaction.atomic():
        campaign = (Campaign.objects.select_for_update(of=("self",)).select_related("budget_account")
                    .get(pk=campaign.pk))
        if campaign.funded_by_merchant_id:
            source = account_for_merchant(merchant_id=campaign.funded_by_merchant_id, currency=campaign.currency)
        else:
            source = system_account(code=SystemAccount.MARKETING, currency=campaign.currency)
        ledger_post(kind=TransactionKind.CAMPAIGN_FUNDING,
                    legs=[(source, -amount.amount), (campaign.budget_account, amount.amount)],
                    merchant_id=campaign.funded_by_merchant_id, description=f"Budget for {campaign.name}")
        campaign.budget_total += amount.amount
        campaign.save(update_fields=["budget_total"])
    return campaign


def _succeeded_payments(user: User) -> int:
    return Payment.objects.filter(payer=user, status=PaymentStatus.SUCCEEDED).count()


def _campaign_traveller(*, campaign: Campaign, user: User, now: datetime, is_traveller: bool | None) -> bool:
    """A campaign limited to cities is spent in their countries: a traveller there is a verified resident of
    another country; otherwise the trip under way decides (`is_traveller` precomputed by list callers)."""
    countries = {c.country_code for c in campaign.cities.all()}
    if countries:
        return user_is_traveller(user, now, in_countries=countries)
    return user_is_traveller(user, now) if is_traveller is None else is_traveller


def campaign_is_running(campaign: Campaign, now: datetime) -> bool:
    """The one rule for a running campaign: switched on, started, not ended. `campaign_running_q` is the same
    rule in SQL (a test holds the two equal)."""
    return campaign.is_active and campaign.starts_at <= now < campaign.ends_at


def campaign_running_q(now: datetime, prefix: str = "") -> Q:
    """`campaign_is_running` as a filter; `prefix` is the path to the campaign (`"campaign__"` from a coupon)."""
    return Q(**{f"{prefix}is_active": True, f"{prefix}starts_at__lte": now, f"{prefix}ends_at__gt": now})


def campaign_user_problem(*, campaign: Campaign, user: User, now: datetime | None = None,
                          is_traveller: bool | None = None) -> str | None:
    """Why this user may not use this campaign at all (None: they may). A traveller is away from their
    home city: on an active trip, or by their profile's current city. Callers checking many campaigns
    pass `is_traveller` (from `user_is_traveller`) once instead of one trip lookup per campaign."""
    now = now or timezone.now()
    if not campaign_is_running(campaign, now):
        return "expired"
    if campaign.travellers_only and not _campaign_traveller(campaign=campaign, user=user, now=now,
                                                            is_traveller=is_traveller):
        return "travellers_only"
    if campaign.new_users_only and _succeeded_payments(user) > conf.new_user_max_payments():
        return "new_users_only"
    return None


def campaign_merchant_problem(*, campaign: Campaign, merchant: Merchant) -> str | None:
    """Why this campaign does not apply at this merchant (None: it does). Uses prefetched M2Ms if any."""
    if merchant.currency != campaign.currency:
        return "currency"
    city_ids = {c.pk for c in campaign.cities.all()}
    if city_ids and merchant.city_id not in city_ids:
        return "city"
    if campaign.verticals and merchant.vertical not in campaign.verticals:
        return "vertical"
    merchant_ids = {m.pk for m in campaign.merchants.all()}
    if merchant_ids and merchant.pk not in merchant_ids:
        return "merchant"
    if campaign.funded_by_merchant_id and not merchant_ids and campaign.funded_by_merchant_id != merchant.pk:
        return "merchant"
    return None


def campaign_discount(*, campaign: Campaign, amount: Money) -> int:
    """The discount on `amount` (tips are never discounted), capped and never above the amount."""
    if campaign.discount_kind == DiscountKind.PERCENT:
        discount = amount.multiply(campaign.percent_off / 100).amount
    else:
        discount = campaign.fixed_off
    if campaign.max_discount is not None:
        discount = min(discount, campaign.max_discount)
    return max(0, min(discount, amount.amount))


@retry_on_conflict
def coupon_collect(*, user: User, campaign_id: int) -> Coupon:
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id, is_active=True).first()
        if campaign is None:
            raise CampaignNotFound()
        problem = campaign_user_problem(campaign=campaign, user=user)
        if problem == "expired":
            raise CouponExpired("This campaign is not running.")
        if problem:
            raise CouponNotApplicable(f"This campaign is for other users ({problem}).", details={"reason": problem})
        # The campaign row lock serialises collections, so the per-user count cannot be raced.
        if Coupon.objects.filter(campaign=campaign, user=user).count() >= campaign.per_user_limit:
            raise CouponLimitReached()
        if campaign.max_redemptions is not None and campaign.redemptions >= campaign.max_redemptions:
            raise CouponExhausted()
        return Coupon.objects.create(campaign=campaign, user=user)


def _coupon_lock_for_redeem(*, coupon_id: int, user: User) -> tuple[Coupon, Campaign]:
    coupon = Coupon.objects.select_for_update().filter(pk=coupon_id, user=user).first()
    if coupon is None:
        raise CouponNotFound()
    # Not the budget account (`of`): accounts are locked only by `ledger_post`, in pk order, last.
    campaign = (Campaign.objects.select_for_update(of=("self",)).select_related("budget_account")
                .get(pk=coupon.campaign_id))
    return coupon, campaign


def _coupon_redeem(*, coupon: Coupon, campaign: Campaign, user: User, merchant: Merchant, amount: Money,
                   now: datetime) -> int:
    """Mark the coupon redeemed and count it on the campaign; the caller posts the discount entry from
    the budget account in the same transaction (which fails with coupon_exhausted if the budget is short).
    Invariant: campaign.redemptions <= max_redemptions, guarded by the campaign row lock and a DB check."""
    if coupon.status != CouponStatus.AVAILABLE:
        raise CouponAlreadyUsed()
    problem = campaign_user_problem(campaign=campaign, user=user, now=now)
    if problem == "expired":
        raise CouponExpired()
    if problem:
        raise CouponNotApplicable(details={"reason": problem})
    problem = campaign_merchant_problem(campaign=campaign, merchant=merchant)
    if problem:
        raise CouponNotApplicable(details={"reason": problem})
    if amount.amount < campaign.min_spend:
        raise CouponMinSpendNotMet(details={"min_spend": str(Money(campaign.min_spend, campaign.currency)
                                                             .to_decimal())})
    if campaign.max_redemptions is not None and campaign.redemptions >= campaign.max_redemptions:
        raise CouponExhausted()
    discount = campaign_discount(campaign=campaign, amount=amount)
    if discount > campaign.budget_account.balance:
        raise CouponExhausted("The campaign's budget is used up.")
    coupon.status, coupon.redeemed_at = CouponStatus.REDEEMED, now
    coupon.save(update_fields=["status", "redeemed_at"])
    campaign.redemptions += 1
    campaign.save(update_fields=["redemptions"])
    return discount


# --- Tax-free VAT claims ------------------------------------------------------------------------------

@retry_on_conflict
def vat_claim_create(*, user: User, payment_ids: list[int], now: datetime | None = None) -> VatClaim:
    """Claim the VAT of one or more tax-free payments. Rules: the user's own succeeded, unrefunded
    tax-free payments, within the claim window, never claimed before, and at least the minimum purchase
    per merchant per day. The refund is quoted now, in the user's home currency, minus the service fee."""
    now = now or timezone.now()
    ids = sorted(set(payment_ids))
    if not ids:
        raise VatClaimInvalid("Name at least one payment.")
    with transaction.atomic():
        # Locking the payments (pk order) serialises two claims racing for the same purchase.
        payments = list(Payment.objects.select_for_update().filter(pk__in=ids, payer=user).order_by("pk"))
        found = {p.pk for p in payments}
        problems: dict[str, list[str]] = {}
        missing = [pk for pk in ids if pk not in found]
        if missing:
            problems["not_found"] = [str(pk) for pk in missing]
        window = timedelta(days=conf.vat_claim_window_days())
        claimed = set(VatClaimItem.objects.filter(payment_id__in=found).values_list("payment_id", flat=True))
        for p in payments:
            reason = None
            if p.status != PaymentStatus.SUCCEEDED or not p.tax_free or not p.vat_amount:
                reason = "not_tax_free"
            elif p.refunded:
                reason = "refunded"
            elif p.created_at < now - window:
                reason = "claim_window_passed"
            elif p.pk in claimed:
                reason = "already_claimed"
            if reason:
                problems.setdefault(reason, []).append(str(p.pk))
        if problems.get("not_found"):
            raise VatClaimInvalid("Some payments do not exist.", details=problems, status_code=404,
                                  code="payment_not_found")
        if problems:
            raise VatClaimInvalid(details=problems)
        minimums = conf.vat_min_purchase()
        per_merchant_day: dict[tuple[int, Any, str], int] = defaultdict(int)
        for p in payments:
            per_merchant_day[(p.merchant_id, p.created_at.date(), p.currency)] += p.amount
        below = [f"merchant {m} on {d}" for (m, d, c), total in per_merchant_day.items()
                 if Money(total, c).to_decimal() < minimums.get(c, Decimal(0))]
        if below:
            raise VatClaimInvalid("Below the minimum tax-free purchase per merchant per day.",
                                  code="vat_minimum_not_met", details={"below_minimum": below})
        home = user.home_currency
        items = []
        for p in payments:
            rate = fx_rate_get(base=p.currency, quote=home)
            home_amount = Money(p.vat_amount, p.currency).convert(rate, home).amount
            items.append(VatClaimItem(payment=p, vat_amount=p.vat_amount, currency=p.currency,
                                      home_amount=home_amount))
        gross = sum(item.home_amount for item in items)
        fee = Money(gross, home).multiply(conf.vat_service_fee_rate()).amount
        claim = VatClaim.objects.create(user=user, refund_currency=home, refund_gross=gross, service_fee=fee,
                                        refund_net=gross - fee)
        for item in items:
            item.claim = claim
        try:
            with transaction.atomic():
                VatClaimItem.objects.bulk_create(items)
        except IntegrityError:
            raise VatClaimInvalid(details={"already_claimed": [str(pk) for pk in ids]}) from None
    return claim


@retry_on_conflict
def vat_claim_validate(*, claim: VatClaim, operator: User, approved: bool, note: str = "") -> VatClaim:
    """Customs decision. An approved claim is paid right after commit (Celery task, safe to run twice)."""
    from payments.tasks import vat_claim_pay_task

    with transaction.atomic():
        claim = VatClaim.objects.select_for_update().get(pk=claim.pk)
        if claim.status != VatClaimStatus.SUBMITTED:
            raise VatClaimStateInvalid(f"The claim is {claim.status}.")
        claim.status = VatClaimStatus.APPROVED if approved else VatClaimStatus.REJECTED
        claim.operator, claim.operator_note, claim.validated_at = operator, note[:255], timezone.now()
        claim.save(update_fields=["status", "operator", "operator_note", "validated_at"])
        if approved:
            # If the broker is down the publish is dropped: `wallet_sweep` pays approved claims left unpaid.
            publish_on_commit(vat_claim_pay_task, claim.pk)
    return claim


@retry_on_conflict
def vat_claim_pay(*, claim: VatClaim) -> VatClaim:
    """Pay an approved claim: the VAT account pays the VAT in each merchant currency, FX converts it to
    the home currency, the user gets the net and the fees account the service fee."""
    with transaction.atomic():
        claim = VatClaim.objects.select_for_update().get(pk=claim.pk)
        if claim.status == VatClaimStatus.PAID:
            return claim  # paid already (task ran twice)
        if claim.status != VatClaimStatus.APPROVED:
            raise VatClaimStateInvalid(f"The claim is {claim.status}, not approved.")
        home = claim.refund_currency
        legs = []
        for item in claim.items.all():
            if item.currency == home:
                legs.append((system_account(code=SystemAccount.VAT, currency=home), -item.home_amount))
            else:
                legs += [(system_account(code=SystemAccount.VAT, currency=item.currency), -item.vat_amount),
                         (system_account(code=SystemAccount.FX, currency=item.currency), item.vat_amount),
                         (system_account(code=SystemAccount.FX, currency=home), -item.home_amount)]
        legs += [(account_for_user(user_id=claim.user_id, currency=home), claim.refund_net),
                 (system_account(code=SystemAccount.FEES, currency=home), claim.service_fee)]
        claim.ledger_transaction = ledger_post(kind=TransactionKind.VAT_REFUND, legs=legs,
                                               description=f"VAT refund, claim #{claim.pk}")
        claim.status, claim.paid_at = VatClaimStatus.PAID, timezone.now()
        claim.save(update_fields=["ledger_transaction", "status", "paid_at"])
    return claim


def wallet_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic catch-up for work whose request or task was lost (a crash, a dropped publish while
    Redis was down): settle pending provider operations, pay approved VAT claims left unpaid, fail pending
    payments past their confirmation window. Every step is safe to run twice and concurrently."""
    now = now or timezone.now()
    done = wallet_reconcile(now=now)
    cutoff = now - timedelta(seconds=conf.sweep_after_s())
    done["vat_claims_paid"] = 0
    for claim in VatClaim.objects.filter(status=VatClaimStatus.APPROVED, validated_at__lt=cutoff).order_by("pk"):
        try:
            vat_claim_pay(claim=claim)
            done["vat_claims_paid"] += 1
        except VatClaimStateInvalid:
            continue  # paid or changed meanwhile
    done["payments_expired"] = payments_expire_pending(now=now)
    return done
