"""Provider calls (card charge, payout) run outside any database transaction: pending -> call -> settle,
with recovery when the process dies between the call and the settling transaction; and the sweep job."""

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from payments import services
from payments.checks import ledger_check
from payments.models import Account, OperationStatus, TopUp, VatClaim, VatClaimStatus, Withdrawal
from payments.providers import SimulatedProvider
from superapp.money import Money
from tests.conftest import client_for
from tests.factories import UserFactory, city
from tests.payments.factories import fund, funded_user, merchant, rates
from tests.superapp.test_api_conventions import assert_error_shape


class Crash(BaseException):
    """The process dies here (not an Exception: nothing on the way may handle it)."""


def post(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def wallet(user):
    account = Account.objects.filter(kind="user", user=user, currency="CNY").first()
    return account.balance if account else 0


def _source(user, label="Visa 4242"):
    return services.funding_source_add(user=user, label=label, currency="CNY")


@pytest.mark.django_db(transaction=True)
def test_the_card_is_charged_outside_any_transaction_and_no_row_is_locked_meanwhile():
    user = UserFactory()
    source = _source(user)
    seen = []
    real = SimulatedProvider.charge

    def charge(self, **kwargs):
        seen.append(connection.in_atomic_block)
        return real(self, **kwargs)

    with mock.patch.object(SimulatedProvider, "charge", charge):
        response = post(client_for(user), "/api/v1/wallet/top-ups",
                        {"funding_source_id": source.pk, "amount": "25", "currency": "CNY"}, key="t1")
    assert response.status_code == 201, response.content
    assert seen == [False]
    assert response.json()["status"] == "succeeded" and response.json()["transaction_id"]
    assert wallet(user) == 2500


@pytest.mark.django_db(transaction=True)
def test_a_crash_after_the_charge_is_settled_by_the_clients_retry_exactly_once():
    user = UserFactory()
    source = _source(user)
    body = {"funding_source_id": source.pk, "amount": "40", "currency": "CNY"}
    charges = []
    real = SimulatedProvider.charge

    def charge(self, **kwargs):
        charges.append(kwargs["reference"])
        return real(self, **kwargs)

    with mock.patch.object(SimulatedProvider, "charge", charge):
        # Given the process dies between the card charge and the settling transaction
        with mock.patch.object(services, "_top_up_apply", side_effect=Crash), pytest.raises(Crash):
            post(client_for(user), "/api/v1/wallet/top-ups", body, key="crash-1")
        pending = TopUp.objects.get()
        assert pending.status == OperationStatus.PENDING and wallet(user) == 0
        # when the client retries with the same key
        response = post(client_for(user), "/api/v1/wallet/top-ups", body, key="crash-1")
    # then the same top-up is settled (the provider asked again with the same reference), credited once
    assert response.status_code == 201 and response.json()["id"] == pending.pk
    assert charges == [f"topup:{pending.pk}"] * 2
    assert TopUp.objects.count() == 1 and wallet(user) == 4000
    again = post(client_for(user), "/api/v1/wallet/top-ups", body, key="crash-1")
    assert again.json() == response.json() and again["Idempotent-Replayed"] == "true"
    assert ledger_check()["ok"]


@pytest.mark.django_db(transaction=True)
def test_the_reconcile_job_settles_operations_a_crash_left_pending():
    user = funded_user("100")
    source = _source(user)
    with mock.patch.object(services, "_top_up_apply", side_effect=Crash), pytest.raises(Crash):
        services.wallet_top_up(user=user, funding_source=source, amount=Money(5000, "CNY"), request_key="a")
    with mock.patch.object(services, "_withdrawal_apply", side_effect=Crash), pytest.raises(Crash):
        services.wallet_withdraw(user=user, funding_source=source, amount=Money(3000, "CNY"), request_key="b")
    # the withdrawal's debit is in suspense while it is pending: not spendable, not lost
    assert wallet(user) == 10000 - 3000
    assert services.wallet_reconcile(older_than_s=60) == {"top_ups": 0, "withdrawals": 0}  # too young
    assert services.wallet_reconcile(older_than_s=0) == {"top_ups": 1, "withdrawals": 1}
    assert wallet(user) == 10000 + 5000 - 3000
    assert {TopUp.objects.get(request_key="a").status, Withdrawal.objects.get().status} == {"succeeded"}
    assert services.wallet_reconcile(older_than_s=0) == {"top_ups": 0, "withdrawals": 0}
    report = ledger_check()
    assert report["ok"], report


@pytest.mark.django_db(transaction=True)
def test_a_declined_payout_gives_the_money_back_and_the_refusal_is_replayed():
    user = funded_user("100")
    declining = _source(user, label="decline me")
    body = {"funding_source_id": declining.pk, "amount": "30", "currency": "CNY"}
    first = post(client_for(user), "/api/v1/wallet/withdrawals", body, key="w1")
    assert_error_shape(first, 402, "funding_declined")
    assert wallet(user) == 10000
    assert Withdrawal.objects.get().status == OperationStatus.FAILED
    again = post(client_for(user), "/api/v1/wallet/withdrawals", body, key="w1")
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Withdrawal.objects.count() == 1 and ledger_check()["ok"]


@pytest.mark.django_db(transaction=True)
def test_validation_errors_free_the_key_of_a_provider_operation():
    user = UserFactory()
    source = _source(user)
    key = uuid.uuid4().hex
    bad = post(client_for(user), "/api/v1/wallet/top-ups",
               {"funding_source_id": source.pk, "amount": "1.001", "currency": "CNY"}, key=key)
    assert_error_shape(bad, 400, "too_many_decimals")
    ok = post(client_for(user), "/api/v1/wallet/top-ups",
              {"funding_source_id": source.pk, "amount": "1", "currency": "CNY"}, key=key)
    assert ok.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_the_sweep_pays_an_approved_claim_whose_task_was_lost(settings):
    rates(("CHF", "CNY", "8"))
    traveller = funded_user("10000", current_city=city("davos"))
    fund(traveller, "500", "CHF")
    shop = merchant(city=city("davos"), tax_free=True)
    payment = services.payment_create(payer=traveller, merchant=shop, amount=Money(32430, "CHF"), tax_free=True)
    claim = services.vat_claim_create(user=traveller, payment_ids=[payment.pk])
    # Given the claim was approved but its payout task never ran (the broker was down)
    VatClaim.objects.filter(pk=claim.pk).update(status=VatClaimStatus.APPROVED, validated_at=timezone.now())
    assert services.wallet_sweep()["vat_claims_paid"] == 0  # not yet: a live task may still be on it
    later = timezone.now() + timedelta(minutes=5)
    assert services.wallet_sweep(now=later)["vat_claims_paid"] == 1
    assert VatClaim.objects.get().status == VatClaimStatus.PAID
    assert services.wallet_sweep(now=later)["vat_claims_paid"] == 0
    assert ledger_check()["ok"]
