"""Traceable money: transaction ids on responses, statement lines that say what they were and with whom,
list endpoints for every kind of operation, refund status on payments, merchant balance for staff."""

import uuid

import pytest

from merchants.models import MerchantStaff
from payments import services
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.payments.factories import cny, funded_user, merchant
from tests.superapp.test_api_conventions import assert_error_shape


def post(client, url, body=None):
    return client.post(url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


@pytest.mark.django_db
def test_a_transfer_is_traceable_on_both_statements_with_the_counterparty(django_assert_num_queries):
    alice, bob = funded_user("100"), funded_user("100")
    sent = post(client_for(alice), "/api/v1/wallet/transfers",
                {"recipient_id": bob.pk, "amount": "12.50", "currency": "CNY", "message": "dinner"})
    assert sent.status_code == 201
    body = sent.json()
    assert body["transaction_id"] and body["direction"] == "sent"

    bobs = client_for(bob)
    with django_assert_num_queries(1):  # the page: one query with every join (object, counterparty)
        line = bobs.get("/api/v1/wallet/transactions").json()["results"][0]
    assert line["transaction_id"] == body["transaction_id"]
    assert line["object"] == {"type": "transfer", "id": body["id"]}
    assert line["counterparty"]["id"] == alice.pk and line["amount"]["amount"] == "12.50"
    alices = client_for(alice).get("/api/v1/wallet/transactions").json()["results"][0]
    assert alices["counterparty"]["id"] == bob.pk and alices["amount"]["amount"] == "-12.50"
    top_up_line = client_for(alice).get("/api/v1/wallet/transactions").json()["results"][-1]
    assert top_up_line["object"]["type"] == "top_up" and top_up_line["counterparty"] is None

    received = bobs.get("/api/v1/wallet/transfers").json()["results"]
    assert [(t["id"], t["direction"], t["sender"]["id"]) for t in received] == [(body["id"], "received", alice.pk)]
    assert bobs.get("/api/v1/wallet/transfers?direction=sent").json()["results"] == []
    assert client_for(UserFactory()).get("/api/v1/wallet/transfers").json()["results"] == []


@pytest.mark.django_db
def test_top_ups_and_withdrawals_are_listed_with_their_transaction():
    user = funded_user("100")
    client = client_for(user)
    source = client.get("/api/v1/wallet/funding-sources").json()["results"][0]
    withdrawal = post(client, "/api/v1/wallet/withdrawals",
                      {"funding_source_id": source["id"], "amount": "30", "currency": "CNY"}).json()
    assert withdrawal["status"] == "succeeded" and withdrawal["transaction_id"]
    top_ups = client.get("/api/v1/wallet/top-ups").json()["results"]
    assert len(top_ups) == 1 and top_ups[0]["transaction_id"] and top_ups[0]["status"] == "succeeded"
    assert [w["id"] for w in client.get("/api/v1/wallet/withdrawals").json()["results"]] == [withdrawal["id"]]
    assert client_for(UserFactory()).get("/api/v1/wallet/withdrawals").json()["results"] == []


@pytest.mark.django_db
def test_a_payments_refunds_and_its_refund_status():
    payer, shop = funded_user("100"), merchant()
    owner = UserFactory()
    MerchantStaff.objects.create(merchant=shop, user=owner, role="owner")
    payment = services.payment_create(payer=payer, merchant=shop, amount=cny("50"))
    client = client_for(payer)
    refund_url = f"/api/v1/wallet/merchants/{shop.pk}/payments/{payment.pk}/refunds"
    first = post(client_for(owner), refund_url, {"amount": "20"}).json()
    assert first["transaction_id"]
    assert client.get(f"/api/v1/wallet/payments/{payment.pk}").json()["status"] == "partially_refunded"
    post(client_for(owner), refund_url, {})
    assert client.get(f"/api/v1/wallet/payments/{payment.pk}").json()["status"] == "refunded"
    refunds = client.get(f"/api/v1/wallet/payments/{payment.pk}/refunds").json()["results"]
    assert [r["amount"]["amount"] for r in refunds] == ["30.00", "20.00"]
    assert_error_shape(client_for(UserFactory()).get(f"/api/v1/wallet/payments/{payment.pk}/refunds"), 404,
                       "payment_not_found")


@pytest.mark.django_db
def test_merchant_staff_read_their_merchants_balance():
    payer, shop = funded_user("100"), merchant()
    cashier = UserFactory()
    MerchantStaff.objects.create(merchant=shop, user=cashier, role="cashier")
    services.payment_create(payer=payer, merchant=shop, amount=cny("50"))
    balance = client_for(cashier).get(f"/api/v1/wallet/merchants/{shop.pk}/balance")
    assert balance.status_code == 200
    assert balance.json()["results"] == [{"currency": "CNY", "balance": {"amount": "49.70", "currency": "CNY"}}]  # fee
    assert_error_shape(client_for(payer).get(f"/api/v1/wallet/merchants/{shop.pk}/balance"), 404)
