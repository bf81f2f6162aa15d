"""Ledger integrity check, shared by `manage.py ledger_check` and the beat task."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from payments.models import Account, AccountKind, LedgerEntry, LedgerTransaction

SAMPLE = 20  # violations listed per kind in the report (the counts are complete)


def ledger_check() -> dict[str, Any]:
    """Verify the ledger invariants and return a JSON-able report with `ok`.

    - every transaction has >= 2 entries and sums to zero per currency;
    - every entry's currency is its account's currency;
    - every account's cached balance equals the sum of its entries;
    - no account that may not go negative (users, merchants, campaigns, suspense) is negative.
    """
    unbalanced = list(
        LedgerEntry.objects.values("transaction_id", "currency").annotate(total=Sum("amount"))
        .exclude(total=0).order_by("transaction_id")
    )
    too_few = list(
        LedgerTransaction.objects.annotate(n=Count("entries")).filter(n__lt=2).values_list("pk", flat=True)
    )
    wrong_currency = list(
        LedgerEntry.objects.exclude(currency=F("account__currency")).values_list("pk", flat=True)
    )
    drifted = list(
        Account.objects.annotate(entries_total=Coalesce(Sum("entries__amount"), 0))
        .exclude(balance=F("entries_total")).values("pk", "balance", "entries_total")
    )
    negative = list(
        Account.objects.filter(Q(allow_negative=False) & Q(balance__lt=0)).values("pk", "kind", "balance")
    )
    totals = {
        kind: dict(Account.objects.filter(kind=kind).values_list("currency").annotate(s=Sum("balance"))
                   .order_by("currency"))
        for kind in AccountKind.values
    }
    violations = {
        "unbalanced_transactions": unbalanced,
        "transactions_with_fewer_than_two_entries": too_few,
        "entries_in_wrong_currency": wrong_currency,
        "balance_mismatches": drifted,
        "negative_balances": negative,
    }
    return {
        "ok": not any(violations.values()),
        "checked": {
            "transactions": LedgerTransaction.objects.count(),
            "entries": LedgerEntry.objects.count(),
            "accounts": Account.objects.count(),
        },
        "violation_counts": {name: len(items) for name, items in violations.items()},
        "violations": {name: items[:SAMPLE] for name, items in violations.items()},
        "balances_by_kind": totals,
    }
