"""The double-entry core: find accounts and post balanced transactions.

Every money movement in the wallet goes through `ledger_post`, which (in one database transaction):
1. checks the legs sum to zero per currency and match their accounts' currencies;
2. locks the accounts with SELECT ... FOR UPDATE in primary-key order (a fixed global order, so two
   concurrent postings touching the same accounts can never deadlock);
3. refuses to take an account that may not go negative below zero;
4. appends the entries (with each account's balance after the entry) and updates the cached balances.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from payments import conf
from payments.exceptions import (
    CouponExhausted,
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
from superapp.db import (
    bigint_array,
    postgresql_sql,
    row_copy,
    row_insert_sql,
    row_inserted,
    rows_by_pk,
    rows_by_pk_locked_with,
    rows_insert,
)
from superapp.events import events_for_record, interactions_in_transaction, interactions_insert_sql
from superapp.money import currency_exponent
from superapp.process_cache import ProcessCacheMap

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


# Which row is which account never changes once created (accounts are never deleted or re-keyed:
# entries PROTECT them), so every process remembers the rows it has looked up, keyed by identity.
# The cache is only a hint for *which* row to lock: `_post` re-reads every row under its lock and
# checks it is still the account it was asked for (a flushed test database or a restore may reuse
# a pk), and balances are always the locked rows', never the cached handles'.
_IDENTITY_FIELDS = ("kind", "user_id", "merchant_id", "system_code", "shard", "currency")
# Bounded, so a long-lived process serving many users does not grow without limit: when full it simply
# starts over (the system and busy merchant accounts come back on their next use).
ACCOUNT_CACHE_MAX = 20_000
_account_cache: ProcessCacheMap[tuple, Account] = ProcessCacheMap("payments.accounts", max_entries=ACCOUNT_CACHE_MAX)


def _identity(account: Account) -> tuple:
    return tuple(getattr(account, field) for field in _IDENTITY_FIELDS)


def account_cache_clear() -> None:
    _account_cache.reset()


def _cached_account(lookup: dict, defaults: dict, *, create: bool = True) -> Account | None:
    key = tuple(sorted(lookup.items()))
    account = _account_cache.lookup(key)
    if account is None:
        if create:
            account = _get_or_create(lookup, defaults)
        else:
            account = Account.objects.filter(**lookup).first()
            if account is None:
                return None
        _account_cache.put(key, account)
    return _handle(account)


def _handle(account: Account) -> Account:
    """A private copy of a cached row (callers may not share another thread's instance; its balance is
    stale anyway)."""
    return row_copy(account)


def _user_lookup(user_id: int, currency: str) -> dict:
    return {"kind": AccountKind.USER, "user_id": user_id, "currency": currency}


def account_for_user(*, user_id: int, currency: str) -> Account:
    """The user's wallet in `currency` (opened on first use). A handle for ledger legs: its `balance`
    may be stale; read balances through the selectors."""
    currency_exponent(currency)
    return _cached_account(_user_lookup(user_id, currency), {})


def user_account_find(*, user_id: int, currency: str) -> Account | None:
    """The user's wallet in `currency` if they hold one (never opens one)."""
    return _cached_account(_user_lookup(user_id, currency), {}, create=False)


def account_for_merchant(*, merchant_id: int, currency: str) -> Account:
    currency_exponent(currency)
    return _cached_account({"kind": AccountKind.MERCHANT, "merchant_id": merchant_id, "currency": currency}, {})


def system_account(*, code: str, currency: str, shard: int | None = None) -> Account:
    currency_exponent(currency)
    if shard is None:
        shard = random.randrange(conf.system_account_shards()) if code in _SHARDED else 0
    return _cached_account(
        {"kind": AccountKind.SYSTEM, "system_code": code, "currency": currency, "shard": shard},
        {"allow_negative": code in _MAY_GO_NEGATIVE},
    )


def _reresolve(account: Account) -> Account:
    """The row for this account's identity, read from the database (after a stale cache hit)."""
    if account.kind == AccountKind.CAMPAIGN:
        return account  # campaign budgets are never cached: their pk is their identity
    lookup = {"kind": account.kind, "currency": account.currency}
    if account.kind == AccountKind.USER:
        lookup["user_id"] = account.user_id
    elif account.kind == AccountKind.MERCHANT:
        lookup["merchant_id"] = account.merchant_id
    else:
        lookup.update(system_code=account.system_code, shard=account.shard)
    return _get_or_create(lookup, {"allow_negative": account.system_code in _MAY_GO_NEGATIVE})


class _StaleAccount(Exception):
    pass


def _overdraft_error(account: Account) -> Exception:
    if account.kind == AccountKind.MERCHANT:
        return MerchantInsufficientFunds()
    if account.kind == AccountKind.CAMPAIGN:
        return CouponExhausted("The campaign's budget is used up.")
    if account.kind == AccountKind.USER:
        return InsufficientFunds(details={"currency": account.currency})
    return LedgerUnbalanced(f"System account {account} would go negative.")


def ledger_post(*, kind: str, legs: Sequence[Leg], description: str = "", merchant_id: int | None = None,
                reverses: LedgerTransaction | None = None, at: datetime | None = None,
                record: Model | None = None, record_events: Sequence[dict] = (),
                read_with_lock: tuple[type[Model], int, Callable[[Model | None], bool]] | None = None,
                ) -> LedgerTransaction | None:
    """Post one balanced transaction. Raises InsufficientFunds (and friends) before writing anything.

    `read_with_lock=(model, pk, check)`: that row (or None) is read in the statement that locks the accounts (one
    round trip less) and given to `check` before anything else is checked or written. If `check` answers False,
    nothing is written and the result is None (not an exception: the caller's transaction stays usable, with the
    accounts locked).

    `record`: an unsaved row with a `ledger_transaction` foreign key (a payment) to insert with the transaction,
    pointing at it; on PostgreSQL in the same statement (one round trip less while the accounts are locked).
    `record_events`: interaction events about the record (`superapp.events`; a `source` may end with `RECORD_ID`,
    the record's new id), stored with it: on PostgreSQL in the same statement too."""
    if record_events and record is None:
        raise ValueError("record_events need a record")
    if kind not in TransactionKind.values:
        raise ValueError(f"unknown transaction kind {kind!r}")
    totals: dict[str, int] = defaultdict(int)
    for account, amount in legs:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError("ledger amounts are integers in minor units")
        totals[account.currency] += amount
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        raise LedgerUnbalanced(details={"unbalanced": unbalanced})
    post = functools.partial(_post, kind=kind, description=description, merchant_id=merchant_id,
                             reverses=reverses, at=at, record=record, record_events=list(record_events),
                             read_with_lock=read_with_lock)
    # Inside the caller's transaction (the usual case) no savepoint is needed: nothing is written
    # before the overdraft checks, and a database error aborts the caller's transaction anyway.
    with transaction.atomic() if not transaction.get_connection().in_atomic_block else contextlib.nullcontext():
        try:
            return post(legs=legs)
        except _StaleAccount:
            # A cached handle named a row that is gone or is another account now (only after the
            # database was flushed or restored): forget the cache, find the rows again, and retry.
            account_cache_clear()
            return post(legs=[(_reresolve(account), amount) for account, amount in legs])


def _post(*, legs, kind, description, merchant_id, reverses, at, record, record_events,
          read_with_lock) -> LedgerTransaction | None:
    amounts: dict[int, int] = defaultdict(int)
    expected: dict[int, tuple] = {}
    for account, amount in legs:
        amounts[account.pk] += amount
        expected[account.pk] = _identity(account)
    amounts = {pk: amount for pk, amount in amounts.items() if amount}
    if len(amounts) < 2:
        raise LedgerUnbalanced("A ledger transaction needs at least two non-zero legs.")
    # Invariant: every posting locks its rows in ascending pk order, in this one query, so two
    # postings can never wait on each other in a cycle (no deadlocks), and balances are read locked.
    if read_with_lock is None:
        locked = rows_by_pk(Account, amounts, for_update=True)
    else:
        other_model, other_pk, check = read_with_lock
        locked, other = rows_by_pk_locked_with(Account, amounts, other=other_model, other_pk=other_pk)
    if len(locked) != len(amounts) or any(_identity(account) != expected[account.pk] for account in locked):
        raise _StaleAccount()
    if read_with_lock is not None and not check(other):
        return None
    for account in locked:
        new_balance = account.balance + amounts[account.pk]
        if new_balance < 0 and not account.allow_negative and amounts[account.pk] < 0:
            raise _overdraft_error(account)
        account.balance = new_balance
    ledger_transaction = LedgerTransaction(kind=kind, description=description[:255], merchant_id=merchant_id,
                                           reverses=reverses, created_at=at or timezone.now())
    if postgresql_sql():
        _write_in_one_statement(ledger_transaction, locked, amounts, record, record_events)
        return ledger_transaction
    ledger_transaction.save(force_insert=True)
    LedgerEntry.objects.bulk_create([
        LedgerEntry(transaction=ledger_transaction, account_id=account.pk, amount=amounts[account.pk],
                    currency=account.currency, balance_after=account.balance,
                    created_at=ledger_transaction.created_at)
        for account in locked
    ])
    _balances_write(locked)
    if record is not None:
        record.ledger_transaction = ledger_transaction
        rows_insert([record])
        interactions_in_transaction(events=events_for_record(record_events, record.pk))
    return ledger_transaction


def _write_in_one_statement(ledger_transaction: LedgerTransaction, locked: list[Account],
                            amounts: dict[int, int], record: Model | None, record_events: list[dict]) -> None:
    """PostgreSQL: the transaction row, its entries, the new balances, the `record` (a payment) and its interaction
    events in ONE round trip (data-modifying CTEs), which keeps the window in which the account rows stay locked
    short. Same rows as the ORM path."""
    created_at = connection.ops.adapt_datetimefield_value(ledger_transaction.created_at)
    sql = _ledger_statement_head(connection.vendor)
    params = [bigint_array(account.pk for account in locked), bigint_array(amounts[account.pk] for account in locked),
              [account.currency for account in locked], bigint_array(account.balance for account in locked),
              ledger_transaction.kind, ledger_transaction.description, ledger_transaction.merchant_id,
              ledger_transaction.reverses_id, created_at, created_at]
    if record is None:
        sql += "SELECT id, NULL FROM txn"
    else:
        # The record's foreign key is the new transaction's id (a scalar subquery, so each parameter keeps its
        # column's type as in a plain INSERT ... VALUES).
        record_sql, record_params = row_insert_sql(record, computed={"ledger_transaction_id": "(SELECT id FROM txn)"})
        sql += f", record AS ({record_sql})"
        params += record_params
        # Every data-modifying CTE runs to completion whether or not the final SELECT reads it.
        events = interactions_insert_sql(events=record_events, record_id_sql="(SELECT id FROM record)")
        if events is not None:
            sql += f", events AS ({events[0]})"
            params += events[1]
        sql += " SELECT txn.id, record.id FROM txn, record"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ledger_transaction.pk, record_pk = cursor.fetchone()
    row_inserted(ledger_transaction)
    if record is not None:
        record.ledger_transaction = ledger_transaction
        record.pk = record_pk
        row_inserted(record)


@functools.cache
def _ledger_statement_head(vendor: str) -> str:
    """The CTEs of `_write_in_one_statement` that every posting has (legs, transaction, entries, balances)."""
    q = connection.ops.quote_name
    transactions, entries, accounts = (q(LedgerTransaction._meta.db_table), q(LedgerEntry._meta.db_table),
                                       q(Account._meta.db_table))
    # Every table name is a model's and every value is a parameter. The legs travel as four arrays, so the statement
    # is one text whatever the number of legs, with few parameters (psycopg caches the parsing of a statement of at
    # most 50 parameters; with a row of parameters per leg a payment's statement had more).
    return (
        "WITH legs AS (SELECT * FROM unnest(CAST(%s AS bigint[]), CAST(%s AS bigint[]), CAST(%s AS text[]), "  # noqa: S608
        "CAST(%s AS bigint[])) AS v(account_id, amount, currency, balance_after)), "
        f"txn AS (INSERT INTO {transactions} (kind, description, merchant_id, reverses_id, created_at) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id), "
        f"entries AS (INSERT INTO {entries} (transaction_id, account_id, amount, currency, balance_after, created_at) "
        "SELECT txn.id, legs.account_id, legs.amount, legs.currency, legs.balance_after, %s FROM txn, legs), "
        f"balances AS (UPDATE {accounts} SET balance = legs.balance_after FROM legs "
        f"WHERE {accounts}.id = legs.account_id) "
    )


def _balances_write(accounts: list[Account]) -> None:
    """Store the new cached balances of the locked rows in one statement (bulk_update's CASE is slow)."""
    table = connection.ops.quote_name(Account._meta.db_table)
    rows = ", ".join(["(%s, %s)"] * len(accounts))
    params = [value for account in accounts for value in (account.pk, account.balance)]
    # The table name is the model's and every value is a parameter.
    sql = f"UPDATE {table} SET balance = CAST(v.column2 AS bigint) FROM (VALUES {rows}) AS v WHERE {table}.id = v.column1"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


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
