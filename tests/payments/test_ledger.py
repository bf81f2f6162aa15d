import json
import random
import time

import pytest
from django.core.management import call_command

from payments import ledger
from payments.checks import ledger_check
from payments.exceptions import InsufficientFunds, LedgerUnbalanced
from payments.models import Account, AppendOnlyError, LedgerEntry, SystemAccount, TransactionKind
from payments.services import transfer_create
from superapp.money import Money
from tests.payments.factories import fund, funded_user, merchant


def _wallet(user, currency="CNY"):
    return Account.objects.get(kind="user", user=user, currency=currency)


@pytest.mark.django_db
def test_top_up_posts_balanced_entries_and_caches_the_balance(sql_branch):
    user = funded_user("100.50")
    wallet = _wallet(user)
    assert wallet.balance == 10050
    entries = LedgerEntry.objects.filter(transaction__kind=TransactionKind.TOP_UP)
    assert sum(e.amount for e in entries) == 0 and entries.count() == 2
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_unbalanced_posting_is_refused_and_writes_nothing():
    user = funded_user("10")
    wallet = _wallet(user)
    fees = ledger.system_account(code=SystemAccount.FEES, currency="CNY", shard=0)
    with pytest.raises(LedgerUnbalanced):
        ledger.ledger_post(kind=TransactionKind.TRANSFER, legs=[(wallet, -100), (fees, 99)])
    assert LedgerEntry.objects.count() == 2


@pytest.mark.django_db
def test_overdraft_is_refused_and_writes_nothing(other_user, sql_branch):
    user = funded_user("10")
    before = LedgerEntry.objects.count()
    with pytest.raises(InsufficientFunds):
        transfer_create(sender=user, recipient=other_user, amount=Money(1001, "CNY"))
    assert LedgerEntry.objects.count() == before
    assert _wallet(user).balance == 1000


@pytest.mark.django_db
def test_entries_are_append_only():
    funded_user("10")
    entry = LedgerEntry.objects.first()
    entry.amount = 5
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


@pytest.mark.django_db
def test_reversal_restores_balances(sql_branch):
    user = funded_user("10")
    txn = LedgerEntry.objects.get(account=_wallet(user)).transaction
    ledger.ledger_reverse(ledger_transaction=txn)
    assert _wallet(user).balance == 0
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_ledger_check_detects_drift_and_exits_non_zero(capsys):
    user = funded_user("10")
    call_command("ledger_check")
    assert json.loads(capsys.readouterr().out)["ok"] is True
    Account.objects.filter(pk=_wallet(user).pk).update(balance=999)  # corrupt the cache behind the ledger's back
    with pytest.raises(SystemExit) as exit_info:
        call_command("ledger_check")
    assert exit_info.value.code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["violation_counts"]["balance_mismatches"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_random_concurrent_transfers_keep_the_total_and_the_ledger_clean(concurrently, db_gate):
    users = [funded_user("100") for _ in range(10)]
    total_before = sum(_wallet(u).balance for u in users)

    def worker(i):
        rng = random.Random(i)
        done = failed = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            sender, recipient = rng.sample(users, 2)
            with db_gate.slot():  # all 50 threads interleave; at most DB_GATE_SIZE hold a connection
                try:
                    transfer_create(sender=sender, recipient=recipient, amount=Money(rng.randint(1, 5000), "CNY"))
                    done += 1
                except InsufficientFunds:
                    failed += 1
        return done, failed

    results = concurrently(worker, 50)
    assert all(not isinstance(r, Exception) for r in results), [r for r in results if isinstance(r, Exception)]
    assert sum(done for done, _ in results) > 100
    assert sum(_wallet(u).balance for u in users) == total_before
    assert all(_wallet(u).balance >= 0 for u in users)
    report = ledger_check()
    assert report["ok"], report["violations"]
    fund(users[0], "1")  # the ledger keeps working afterwards


@pytest.mark.django_db
def test_a_stale_cached_account_handle_never_moves_money_on_the_wrong_row(other_user):
    # Given the ledger has remembered which row is other_user's wallet...
    sender = funded_user("10")
    recipient_wallet = ledger.account_for_user(user_id=other_user.pk, currency="CNY")
    shop = merchant()
    # ...when that pk now belongs to another account (as after a flushed test database reuses pks),
    Account.objects.filter(pk=recipient_wallet.pk).update(kind="merchant", user=None, merchant=shop)
    transfer_create(sender=sender, recipient=other_user, amount=Money(300, "CNY"))
    # then the transfer still reaches other_user's real wallet and the reused row is untouched.
    assert _wallet(other_user).balance == 300 and _wallet(other_user).pk != recipient_wallet.pk
    assert Account.objects.get(pk=recipient_wallet.pk).balance == 0
    assert _wallet(sender).balance == 700
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_the_account_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(ledger._account_cache, "max_entries", 3)
    users = [funded_user("1") for _ in range(5)]
    assert len(ledger._account_cache) <= 3
    for user in users:  # still the right rows after the cache started over
        assert ledger.account_for_user(user_id=user.pk, currency="CNY").pk == _wallet(user).pk


@pytest.mark.django_db
def test_a_payment_row_is_written_with_its_ledger_transaction(sql_branch):
    # Given a payment (every kind of column: decimals, nulls, defaults) that PostgreSQL writes in the ledger's
    # own statement and the portable branch with a second INSERT
    from decimal import Decimal

    from django.utils import timezone

    from payments.models import Payment

    payer, shop = funded_user("10"), merchant()
    now = timezone.now()
    payment = Payment(payer=payer, merchant=shop, status="succeeded", currency="CNY", amount=700, fee=4,
                      payer_currency="CNY", payer_amount=700, fx_rate=Decimal("1.2345678901"), created_at=now,
                      completed_at=now, reference="ref:1")
    # when posted with it
    txn = ledger.ledger_post(kind=TransactionKind.PAYMENT, merchant_id=shop.pk, at=now, record=payment, legs=[
        (_wallet(payer), -700), (ledger.account_for_merchant(merchant_id=shop.pk, currency="CNY"), 696),
        (ledger.system_account(code=SystemAccount.FEES, currency="CNY", shard=0), 4)])
    # then the stored row is the instance (pk set), pointing at the transaction, as the ORM reads it
    stored = Payment.objects.get(pk=payment.pk)
    assert payment.ledger_transaction_id == txn.pk == stored.ledger_transaction_id and not payment._state.adding
    fields = [field.attname for field in Payment._meta.concrete_fields]
    assert {name: getattr(stored, name) for name in fields} == {name: getattr(payment, name) for name in fields}
    assert (stored.tip, stored.refunded, stored.coupon_id, stored.fx_mid_rate) == (0, 0, None, None)
    assert _wallet(payer).balance == 300 and ledger_check()["ok"]
