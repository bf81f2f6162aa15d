"""Paying city services from the wallet: bills (once), transit top-ups, parking."""

from datetime import date
from decimal import Decimal
from unittest import mock

import pytest

from cityservices.exceptions import BillAlreadyPaid
from cityservices.models import Bill, BillAccount, ParkingSession, TransitCard, TransitTopUp
from cityservices.services import bill_pay
from payments.checks import ledger_check
from payments.models import Payment
from tests.cityservices.factories import provider
from tests.conftest import client_for
from tests.payments.factories import funded_user
from tests.superapp.test_api_conventions import assert_error_shape


def _bill(user, amount=12345, reference="GRID-3301234567-202610"):
    account = BillAccount.objects.filter(user=user).first() or BillAccount.objects.create(
        user=user, provider=provider(), customer_number="3301234567")
    return Bill.objects.create(account=account, reference=reference, period=reference[-6:-2] + "-" + reference[-2:],
                               amount=amount, currency="CNY", due_on=date(2026, 11, 20))


@pytest.mark.django_db
def test_pay_a_bill_once_with_a_receipt():
    user = funded_user("500")
    bill = _bill(user)
    client = client_for(user)
    response = client.post(f"/api/v1/bills/{bill.pk}/pay", HTTP_IDEMPOTENCY_KEY="b1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "paid" and body["receipt_number"].startswith("RCPT-") and body["paid_at"]
    payment = Payment.objects.get(pk=body["payment_id"])
    assert payment.merchant_id == bill.account.provider.merchant_id and payment.amount == 12345
    assert payment.reference == f"bill:{bill.pk}"
    # The same key replays; a new key is a 409 and moves no money.
    assert client.post(f"/api/v1/bills/{bill.pk}/pay", HTTP_IDEMPOTENCY_KEY="b1").json() == body
    assert_error_shape(client.post(f"/api/v1/bills/{bill.pk}/pay", HTTP_IDEMPOTENCY_KEY="b2"), 409,
                       "bill_already_paid")
    assert Payment.objects.count() == 1
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_unpaid_bill_stays_due_when_the_wallet_is_short():
    user = funded_user("10")
    bill = _bill(user)
    assert_error_shape(client_for(user).post(f"/api/v1/bills/{bill.pk}/pay", HTTP_IDEMPOTENCY_KEY="b"), 409,
                       "insufficient_funds")
    bill.refresh_from_db()
    assert bill.status == "due" and not bill.receipt_number and not Payment.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_payments_of_one_bill_pay_it_once(concurrently):
    user = funded_user("500")
    bill = _bill(user)

    def attempt(_):
        return bill_pay(bill_id=bill.pk, user=user).status

    results = concurrently(attempt, 8)
    # The first charges the wallet; the others either find the bill paid (409) or, while the first is between
    # the wallet payment and the provider's receipt, finish that same payment: never a second one.
    assert results.count("paid") >= 1
    assert all(r == "paid" or isinstance(r, BillAlreadyPaid) for r in results), results
    assert Payment.objects.count() == 1
    bill.refresh_from_db()
    assert bill.status == "paid" and bill.receipt_number
    assert ledger_check()["ok"]


# --- the bill provider is called outside any database transaction (issue 13) ---------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_bill_provider_is_called_outside_any_transaction():
    from django.db import connection

    from cityservices.providers import SimulatedProvider

    user = funded_user("500")
    bill = _bill(user)
    seen = []
    real = SimulatedProvider.confirm_payment

    def confirm(self, reference, amount):
        seen.append(connection.in_atomic_block)
        # the wallet payment is committed before the provider is asked
        seen.append(Payment.objects.filter(reference=f"bill:{bill.pk}").exists())
        return real(self, reference, amount)

    with mock.patch.object(SimulatedProvider, "confirm_payment", confirm):
        response = client_for(user).post(f"/api/v1/bills/{bill.pk}/pay", HTTP_IDEMPOTENCY_KEY="out")
    assert response.status_code == 200 and response.json()["status"] == "paid", response.content
    assert seen == [False, True]


@pytest.mark.django_db
def test_a_crash_between_the_wallet_payment_and_the_receipt_is_finished_by_a_retry_or_the_sweep():
    from cityservices.providers import SimulatedProvider
    from cityservices.services import _bill_charge, bills_settle_processing

    user = funded_user("500")
    bill, other = _bill(user), _bill(user, reference="GRID-3301234567-202609")
    client = client_for(user)
    # Given the provider is unreachable: the wallet pays, the bill reads `processing`, nothing is lost
    with mock.patch.object(SimulatedProvider, "confirm_payment", side_effect=ConnectionError("provider down")):
        response = client.post(f"/api/v1/bills/{bill.pk}/pay", HTTP_IDEMPOTENCY_KEY="p1")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "processing" and not response.json()["receipt_number"]
    assert [b["id"] for b in client.get("/api/v1/bills?status=processing").json()["results"]] == [bill.pk]
    assert bill.pk not in [b["id"] for b in client.get("/api/v1/bills?status=overdue").json()["results"]]
    # and a process that died right after step 1 (the wallet payment committed, no provider call)
    _bill_charge(bill_id=other.pk, user=user)
    assert Payment.objects.count() == 2
    # When the user retries with another key, the same payment is finished (no second charge)
    again = client.post(f"/api/v1/bills/{bill.pk}/pay", HTTP_IDEMPOTENCY_KEY="p2")
    assert again.status_code == 200 and again.json()["status"] == "paid" and again.json()["receipt_number"]
    assert again.json()["payment_id"] == response.json()["payment_id"]
    # and the sweep settles the other one (not before it is old enough)
    assert bills_settle_processing(older_than_s=3600) == 0
    assert bills_settle_processing(older_than_s=0) == 1
    other.refresh_from_db()
    assert other.status == "paid" and other.receipt_number.startswith("RCPT-")
    # Then each bill was paid exactly once, and paying again is a 409
    assert Payment.objects.count() == 2 and bills_settle_processing(older_than_s=0) == 0
    assert_error_shape(client.post(f"/api/v1/bills/{other.pk}/pay", HTTP_IDEMPOTENCY_KEY="p3"), 409,
                       "bill_already_paid")
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_transit_top_up_credits_the_card():
    user = funded_user("500")
    metro = provider(kind="transit", pattern=r"^\d{10,12}$")
    client = client_for(user)
    card = client.post("/api/v1/transit-cards", {"provider_id": metro.pk, "card_number": "3100123456"},
                       format="json")
    assert card.status_code == 201, card.content
    card_id = card.json()["id"]
    top_up = client.post(f"/api/v1/transit-cards/{card_id}/top-up", {"amount": "50.00", "currency": "CNY"},
                         format="json", HTTP_IDEMPOTENCY_KEY="t1")
    assert top_up.status_code == 201, top_up.content
    assert top_up.json()["balance_after"] == {"amount": "50.00", "currency": "CNY"}
    assert TransitCard.objects.get(pk=card_id).balance == 5000
    assert Payment.objects.get(pk=top_up.json()["payment_id"]).merchant_id == metro.merchant_id


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "status", "code"), [
    ({"amount": "0", "currency": "CNY"}, 400, "invalid_amount"),
    ({"amount": "-5", "currency": "CNY"}, 400, "invalid_amount"),
    ({"amount": "10.001", "currency": "CNY"}, 400, "too_many_decimals"),
    ({"amount": "abc", "currency": "CNY"}, 400, "invalid_amount"),
    ({"amount": "10", "currency": "CHF"}, 400, "currency_mismatch"),
    ({"amount": "10", "currency": "XXX"}, 400, "unsupported_currency"),
    ({"amount": "5000", "currency": "CNY"}, 400, "invalid_amount"),
    ({"amount": "999", "currency": "CNY"}, 409, "insufficient_funds"),
])
def test_bad_top_ups_write_nothing(body, status, code):
    user = funded_user("500")
    card = TransitCard.objects.create(user=user, provider=provider(kind="transit"), card_number="3100123456",
                                      currency="CNY")
    response = client_for(user).post(f"/api/v1/transit-cards/{card.pk}/top-up", body, format="json",
                                     HTTP_IDEMPOTENCY_KEY="bad")
    assert_error_shape(response, status, code)
    assert TransitCard.objects.get(pk=card.pk).balance == 0
    assert not TransitTopUp.objects.exists() and not Payment.objects.exists()


@pytest.mark.django_db
def test_parking_is_charged_in_quarter_hours():
    user = funded_user("500")
    parking = provider(kind="parking", pattern=r"^.*$", hourly_rate=800)
    response = client_for(user).post("/api/v1/parking-sessions", {"provider_id": parking.pk, "plate": "zhe-a12345",
                                                                  "minutes": 50}, format="json",
                                     HTTP_IDEMPOTENCY_KEY="park")
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == {"amount": "8.00", "currency": "CNY"}  # 4 quarters of 8 CNY/h
    session = ParkingSession.objects.get()
    assert session.plate == "ZHE-A12345" and (session.ends_at - session.starts_at).seconds == 3600
    wrong = client_for(user).post("/api/v1/parking-sessions", {"provider_id": provider().pk, "plate": "AB12",
                                                               "minutes": 30}, format="json",
                                  HTTP_IDEMPOTENCY_KEY="park2")
    assert_error_shape(wrong, 400, "wrong_service_kind")
    assert Decimal(Payment.objects.get().amount) == 800


@pytest.mark.django_db
def test_a_transit_top_up_amount_is_parsed_before_the_card_is_looked_up():
    # The serializer parses the money (payments.services.money_from_input): a malformed amount is refused
    # naming the field, whatever the card, and nothing is paid.
    client = client_for(funded_user("500"))
    for amount, code in (("1.234", "too_many_decimals"), ("abc", "invalid_amount")):
        error = assert_error_shape(client.post("/api/v1/transit-cards/999999/top-up",
                                               {"amount": amount, "currency": "CNY"}, format="json",
                                               HTTP_IDEMPOTENCY_KEY=f"bad-{code}"), 400, code)
        assert set(error["details"]) == {"amount"}
    assert not Payment.objects.exists()
