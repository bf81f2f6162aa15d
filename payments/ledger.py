"""The double-entry core: find accounts and post balanced transactions.

Every money movement in the wallet goes through `ledger_post`, which (in one database transaction):
1. checks the legs sum to zero per currency and match their accounts' currencies;
2. locks the accounts with SELECT ... FOR UPDATE in primary-key order (a fixed global order, so two
   concurrent postings touching the same accounts can never deadlock);
3. refuses to take an account that may not go negative below zero;
4. appends the entries (with each account's balance after the entry) and updates the cached balances.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from payments import conf
from payments.exceptions import (
    CouponExhausted,
    CurrencyMismatch,
    InsufficientFunds,
    LedgerUnbalanced,
    MerchantInsufficientFunds,
)
from payments.models import (
    Account,
    AccountKind,
    LedgerEntry,
    LedgerTransaction,
    SystemAccount,
    TransactionKind,
)
from superapp.money import currency_exponent

Leg = tuple[Account, int]

# System accounts that may go negative (they mirror money outside the wallet, or the platform's own
# position) and are touched by most payments: spread over shards to avoid one hot row lock.
_SHARDED = {SystemAccount.FUNDING, SystemAccount.FEES, SystemAccount.FX, SystemAccount.MARKETING,
            SystemAccount.VAT}
# Only the sum over a sharded account's shards means anything, so a single shard may be negative.
_MAY_GO_NEGATIVE = _SHARDED


def _get_or_create(lookup: dict, defaults: dict) -> Account:
    # get_or_create retries the read on IntegrityError, so two first payments racing to open the same
    # wallet both end up with the one row.
    try:
        return Account.objects.get(**lookup)
    except Account.DoesNotExist:
        pass
    try:
        account, _ = Account.objects.get_or_create(**lookup, defaults=defaults)
    except IntegrityError:
        account = Account.objects.get(**lookup)
    return account


def account_for_user(*, user_id: int, currency: str) -> Account:
    currency_exponent(currency)
    return _get_or_create({"kind": AccountKind.USER, "user_id": user_id, "currency": currency}, {})


def account_for_merchant(*, merchant_id: int, currency: str) -> Account:
    currency_exponent(currency)
    return _get_or_create({"kind": AccountKind.MERCHANT, "merchant_id": merchant_id, "currency": currency}, {})


def system_account(*, code: str, currency: str, shard: int | None = None) -> Account:
    currency_exponent(currency)
    if shard is None:
        shard = random.randrange(conf.system_account_shards()) if code in _SHARDED else 0
    return _get_or_create(
        {"kind": AccountKind.SYSTEM, "system_code": code, "currency": currency, "shard": shard},
        {"allow_negative": code in _MAY_GO_NEGATIVE},
    )


def _overdraft_error(account: Account) -> Exception:
    if account.kind == AccountKind.MERCHANT:
        return MerchantInsufficientFunds()
    if account.kind == AccountKind.CAMPAIGN:
        return CouponExhausted("The campaign's budget is used up.")
    if account.kind == AccountKind.USER:
        return InsufficientFunds(details={"currency": account.currency})
    return LedgerUnbalanced(f"System account {account} would go negative.")


def ledger_post(*, kind: str, legs: Sequence[Leg], description: str = "", merchant_id: int | None = None,
                reverses: LedgerTransaction | None = None, at: datetime | None = None) -> LedgerTransaction:
    """Post one balanced transaction. Raises InsufficientFunds (and friends) before writing anything."""
    if kind not in TransactionKind.values:
        raise ValueError(f"unknown transaction kind {kind!r}")
    amounts: dict[int, int] = defaultdict(int)
    currency_of: dict[int, str] = {}
    totals: dict[str, int] = defaultdict(int)
    for account, amount in legs:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError("ledger amounts are integers in minor units")
        amounts[account.pk] += amount
        currency_of[account.pk] = account.currency
        totals[account.currency] += amount
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        raise LedgerUnbalanced(details={"unbalanced": unbalanced})
    amounts = {pk: amount for pk, amount in amounts.items() if amount}
    if len(amounts) < 2:
        raise LedgerUnbalanced("A ledger transaction needs at least two non-zero legs.")

    if transaction.get_connection().in_atomic_block:
        # Inside the caller's transaction (the usual case) no savepoint is needed: nothing is written
        # before the overdraft checks, and a database error aborts the caller's transaction anyway.
        return _post(kind=kind, amounts=amounts, currency_of=currency_of, description=description,
                     merchant_id=merchant_id, reverses=reverses, at=at)
    with transaction.atomic():
        return _post(kind=kind, amounts=amounts, currency_of=currency_of, description=description,
                     merchant_id=merchant_id, reverses=reverses, at=at)


def _post(*, kind, amounts, currency_of, description, merchant_id, reverses, at) -> LedgerTransaction:
    # Invariant: rows are locked in ascending pk order by every posting, so no deadlock cycles.
    locked = list(Account.objects.select_for_update().filter(pk__in=amounts).order_by("pk"))
    if len(locked) != len(amounts):
        raise LedgerUnbalanced("A leg names an account that does not exist.")
    for account in locked:
        if account.currency != currency_of[account.pk]:
            raise CurrencyMismatch("Account currency changed under the posting.")
        new_balance = account.balance + amounts[account.pk]
        if new_balance < 0 and not account.allow_negative and amounts[account.pk] < 0:
            raise _overdraft_error(account)
        account.balance = new_balance
    ledger_transaction = LedgerTransaction.objects.create(
        kind=kind, description=description[:255], merchant_id=merchant_id, reverses=reverses,
        created_at=at or timezone.now(),
    )
    LedgerEntry.objects.bulk_create([
        LedgerEntry(transaction=ledger_transaction, account_id=account.pk, amount=amounts[account.pk],
                    currency=account.currency, balance_after=account.balance,
                    created_at=ledger_transaction.created_at)
        for account in locked
    ])
    Account.objects.bulk_update(locked, ["balance"])
    return ledger_transaction


def ledger_reverse(*, ledger_transaction: LedgerTransaction, description: str = "") -> LedgerTransaction:
    """Correct a transaction by posting its exact opposite (entries are never edited)."""
    entries = list(ledger_transaction.entries.select_related("account"))
    return ledger_post(
        kind=TransactionKind.REVERSAL,
        legs=[(entry.account, -entry.amount) for entry in entries],
        description=description or f"Reversal of #{ledger_transaction.pk}",
        merchant_id=ledger_transaction.merchant_id,
        reverses=ledger_transaction,
    )


def total_by_currency(accounts: Iterable[Account]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for account in accounts:
        totals[account.currency] += account.balance
    return dict(totals)
