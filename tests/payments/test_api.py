import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from merchants.models import Merchant, MerchantStaff
from payments import conf, ledger, services
from payments.checks import ledger_check
from payments.models import Account, LedgerEntry, LedgerTransaction, Payment, Refund
from tests.conftest import client_for
from tests.factories import UserFactory, city
from tests.payments.factories import campaign, cny, fund, funded_user, merchant, rates
from tests.schema_conformance import assert_conforms
from tests.superapp.test_api_conventions import assert_error_shape


def post(client, url, body=None, key=None):
    return client.post(url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def wallet(user, currency="CNY"):
    account = Account.objects.filter(kind="user", user=user, currency=currency).first()
    return account.balance if account else 0


@pytest.mark.django_db
def test_top_up_then_balances(auth_client, user):
    source = auth_client.post("/api/v1/wallet/funding-sources", {"label": "Visa 4242", "currency": "CNY"},
                              format="json").json()
    response = post(auth_client, "/api/v1/wallet/top-ups",
                    {"funding_source_id": source["id"], "amount": "250.50", "currency": "CNY"})
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == {"amount": "250.50", "currency": "CNY"}
    assert auth_client.get("/api/v1/wallet/balances").json()["results"] == [
        {"currency": "CNY", "balance": {"amount": "250.50", "currency": "CNY"}}]


@pytest.mark.django_db
def test_declined_card_is_402_and_writes_nothing(auth_client):
    source = auth_client.post("/api/v1/wallet/funding-sources", {"label": "decline me", "currency": "CNY"},
                              format="json").json()
    response = post(auth_client, "/api/v1/wallet/top-ups",
                    {"funding_source_id": source["id"], "amount": "10", "currency": "CNY"})
    assert_error_shape(response, 402, "funding_declined")
    assert LedgerEntry.objects.count() == 0


@pytest.mark.django_db
def test_pay_merchant_and_replay_moves_money_once():
    payer = funded_user("100")
    client, shop = client_for(payer), merchant()
    body = {"merchant_id": shop.pk, "amount": "12.34", "tip": "1.00"}
    first = post(client, "/api/v1/wallet/payments", body, key="pay-1")
    again = post(client, "/api/v1/wallet/payments", body, key="pay-1")
    assert first.status_code == again.status_code == 201, first.content
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert first.json()["charged"] == {"amount": "13.34", "currency": "CNY"}
    assert Payment.objects.count() == 1 and wallet(payer) == 10000 - 1334
    assert_error_shape(post(client, "/api/v1/wallet/payments", {**body, "amount": "1"}, key="pay-1"), 422,
                       "idempotency_key_reused")


@pytest.mark.django_db
@pytest.mark.parametrize("body, status, code", [
    ({"amount": "1.001"}, 400, "too_many_decimals"),
    ({"amount": "0"}, 400, "invalid_amount"),
    ({"amount": "-3"}, 400, "invalid_amount"),
    ({"amount": "abc"}, 400, "invalid_amount"),
    ({"amount": "1000.01"}, 409, "insufficient_funds"),
    ({"amount": "1", "currency": "EUR"}, 400, "currency_mismatch"),
    ({"amount": "1", "tip": "0.001"}, 400, "too_many_decimals"),
    ({"amount": "1", "merchant_id": 999999}, 404, "merchant_not_found"),
    ({"amount": "1", "coupon_id": 999999}, 404, "coupon_not_found"),
    ({"amount": "1", "tax_free": True}, 409, "tax_free_unavailable"),
    ({}, 400, "validation_error"),
])
def test_bad_payment_input_gets_its_code_and_writes_nothing(body, status, code):
    payer = funded_user("1000")
    shop = merchant()
    before = LedgerEntry.objects.count()
    response = post(client_for(payer), "/api/v1/wallet/payments", {"merchant_id": shop.pk, **body})
    assert_error_shape(response, status, code)
    assert LedgerEntry.objects.count() == before and Payment.objects.count() == 0


@pytest.mark.django_db
def test_inactive_merchants_are_refused():
    client = client_for(funded_user("10"))
    assert_error_shape(post(client, "/api/v1/wallet/payments",
                            {"merchant_id": merchant(is_active=False).pk, "amount": "1"}), 409, "merchant_inactive")
    assert_error_shape(post(client, "/api/v1/wallet/payments",
                            {"merchant_id": merchant(accepts_wallet=False).pk, "amount": "1"}), 409,
                       "merchant_not_accepting_wallet")


@pytest.mark.django_db
def test_missing_fx_rate_is_422():
    response = post(client_for(funded_user("10")), "/api/v1/wallet/payments",
                    {"merchant_id": merchant(city=city("tokyo")).pk, "amount": "100"})
    assert_error_shape(response, 422, "fx_rate_missing")


@pytest.mark.django_db
def test_pay_by_signed_qr_and_reject_tampering():
    payer, shop = funded_user("100"), merchant()
    owner = UserFactory()
    MerchantStaff.objects.create(merchant=shop, user=owner, role="owner")
    qr = client_for(owner).get(f"/api/v1/wallet/merchants/{shop.pk}/qr?amount=8.80").json()
    assert qr["amount"] == {"amount": "8.80", "currency": "CNY"}
    client = client_for(payer)
    assert_error_shape(post(client, "/api/v1/wallet/payments", {"qr_payload": qr["qr_payload"] + "x"}), 400,
                       "qr_invalid")
    assert_error_shape(post(client, "/api/v1/wallet/payments", {"qr_payload": "not-a-qr"}), 400, "qr_invalid")
    assert_error_shape(post(client, "/api/v1/wallet/payments", {"qr_payload": qr["qr_payload"], "amount": "9"}), 400,
                       "qr_amount_mismatch")
    assert Payment.objects.count() == 0
    response = post(client, "/api/v1/wallet/payments", {"qr_payload": qr["qr_payload"]})
    assert response.status_code == 201 and response.json()["amount"]["amount"] == "8.80"
    open_qr = client_for(owner).get(f"/api/v1/wallet/merchants/{shop.pk}/qr").json()
    paid = post(client, "/api/v1/wallet/payments", {"qr_payload": open_qr["qr_payload"], "amount": "3"})
    assert paid.status_code == 201


@pytest.mark.django_db
def test_the_old_qr_names_keep_working_for_one_release():
    payer, shop = funded_user("100"), merchant()
    owner = UserFactory()
    MerchantStaff.objects.create(merchant=shop, user=owner, role="owner")
    qr = client_for(owner).get(f"/api/v1/wallet/merchants/{shop.pk}/qr?amount=8.80").json()
    assert qr["payload"] == qr["qr_payload"]
    client = client_for(payer)
    response = post(client, "/api/v1/wallet/payments", {"qr": qr["payload"]})
    assert response.status_code == 201 and response.json()["paid"]["amount"] == "8.80"
    assert_error_shape(post(client, "/api/v1/wallet/payments", {"qr": qr["payload"], "qr_payload": qr["payload"]}),
                       400, "validation_error")


@pytest.mark.django_db
def test_a_receipt_says_gross_before_the_discount_and_paid_after(auth_client):
    payer, shop = funded_user("100"), merchant()
    coupon = services.coupon_collect(user=payer, campaign_id=campaign(fixed_off=300).pk)
    body = post(client_for(payer), "/api/v1/wallet/payments",
                {"merchant_id": shop.pk, "amount": "10", "tip": "2", "coupon_id": coupon.pk}).json()
    assert body["gross"] == {"amount": "12.00", "currency": "CNY"}
    assert body["discount"]["amount"] == "3.00" and body["paid"]["amount"] == "9.00"
    assert body["total"] == body["gross"]  # the old name, until 0.3.0


@pytest.mark.django_db
def test_cross_currency_receipt_shows_both_amounts_and_rate():
    rates(("CHF", "CNY", "8.0"))
    payer = funded_user("500")
    response = post(client_for(payer), "/api/v1/wallet/payments",
                    {"merchant_id": merchant(city=city("davos")).pk, "amount": "10.00"})
    body = response.json()
    assert body["amount"] == {"amount": "10.00", "currency": "CHF"}
    assert body["charged"] == {"amount": "80.40", "currency": "CNY"}  # 0.5% default spread
    assert Decimal(body["fx_rate"]) == Decimal("8.04") and Decimal(body["fx_mid_rate"]) == Decimal("8")


@pytest.mark.django_db
def test_merchant_confirmation_flow():
    payer = funded_user("100")
    shop = merchant(requires_confirmation=True)
    cashier = UserFactory()
    MerchantStaff.objects.create(merchant=shop, user=cashier, role="cashier")
    created = post(client_for(payer), "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "20"}).json()
    assert created["status"] == "pending"
    staff = client_for(cashier)
    url = f"/api/v1/wallet/merchants/{shop.pk}/payments/{created['id']}"
    confirmed = post(staff, f"{url}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded"
    assert_error_shape(post(staff, f"{url}/reject"), 409, "payment_state_invalid")
    second = post(client_for(payer), "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "30"}).json()
    rejected = post(staff, f"/api/v1/wallet/merchants/{shop.pk}/payments/{second['id']}/reject")
    assert rejected.json()["status"] == "failed"
    assert wallet(payer) == 10000 - 2000
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_staff_roles_for_refunds_and_settlements(django_assert_max_num_queries):
    payer, shop = funded_user("100"), merchant()
    owner, cashier, stranger = UserFactory(), UserFactory(), UserFactory()
    MerchantStaff.objects.create(merchant=shop, user=owner, role="owner")
    MerchantStaff.objects.create(merchant=shop, user=cashier, role="cashier")
    payment = services.payment_create(payer=payer, merchant=shop, amount=cny("50"))
    url = f"/api/v1/wallet/merchants/{shop.pk}/payments/{payment.pk}/refunds"
    assert_error_shape(post(client_for(cashier), url, {"amount": "5"}), 403, "staff_role_insufficient")
    assert_error_shape(post(client_for(stranger), url, {"amount": "5"}), 404)
    assert_error_shape(post(client_for(payer), url, {"amount": "5"}), 404)
    ok = post(client_for(owner), url, {"amount": "20", "reason": "cold soup"})
    assert ok.status_code == 201 and ok.json()["amount"] == {"amount": "20.00", "currency": "CNY"}
    assert_error_shape(post(client_for(owner), url, {"amount": "30.01"}), 409, "refund_exceeds_remaining")
    assert_error_shape(post(client_for(owner), url, {"amount": "1.001"}), 400, "too_many_decimals")
    assert post(client_for(owner), url, {}).json()["amount"]["amount"] == "30.00"
    assert Refund.objects.count() == 2 and wallet(payer) == 10000

    listing = client_for(cashier).get(f"/api/v1/wallet/merchants/{shop.pk}/payments")
    assert [p["id"] for p in listing.json()["results"]] == [payment.pk]
    assert_error_shape(client_for(stranger).get(f"/api/v1/wallet/merchants/{shop.pk}/payments"), 404)
    days = client_for(cashier).get(f"/api/v1/wallet/merchants/{shop.pk}/settlements").json()["results"]
    assert len(days) == 1
    day = days[0]
    assert day["count"] == 1 and day["gross"]["amount"] == "50.00" and day["refunds"]["amount"] == "50.00"
    assert day["fees"]["amount"] == "0.00" and day["net"]["amount"] == "0.00"
    assert_error_shape(client_for(stranger).get(f"/api/v1/wallet/merchants/{shop.pk}/settlements"), 404)


@pytest.mark.django_db
def test_statement_filters_pagination_and_query_count(django_assert_num_queries):
    rates(("CHF", "CNY", "8"))
    payer = funded_user("1000")
    shop, other_shop = merchant(), merchant()
    for i in range(5):
        services.payment_create(payer=payer, merchant=shop, amount=cny(f"{i + 1}"))
    services.payment_create(payer=payer, merchant=other_shop, amount=cny("7"))
    fund(payer, "10", "CHF")
    client = client_for(payer)
    with django_assert_num_queries(1):  # one SELECT with its joins, however many rows
        page = client.get("/api/v1/wallet/transactions?limit=3")
    body = page.json()
    assert len(body["results"]) == 3 and body["next"]
    assert body["results"][0]["kind"] == "top_up" and body["results"][0]["amount"]["currency"] == "CHF"
    rest = client.get(body["next"]).json()
    seen = [r["id"] for r in body["results"]] + [r["id"] for r in rest["results"]]
    assert len(seen) == len(set(seen)) == 3 + min(3, 5)
    by_merchant = client.get(f"/api/v1/wallet/transactions?merchant={other_shop.pk}").json()["results"]
    assert [r["amount"]["amount"] for r in by_merchant] == ["-7.00"]
    assert by_merchant[0]["merchant"]["id"] == other_shop.pk
    assert len(client.get("/api/v1/wallet/transactions?kind=payment").json()["results"]) == 6
    assert len(client.get("/api/v1/wallet/transactions?currency=CHF").json()["results"]) == 1
    assert client.get("/api/v1/wallet/transactions?date_from=2000-01-01&date_to=2000-01-02").json()["results"] == []
    assert_error_shape(client.get("/api/v1/wallet/transactions?kind=bogus"), 400, "validation_error")
    assert_error_shape(client.get("/api/v1/wallet/transactions?date_from=yesterday"), 400, "validation_error")


@pytest.mark.django_db
def test_transfers_and_split_the_bill():
    alice, bob, carol = funded_user("100"), funded_user("100"), funded_user("100")
    client = client_for(alice)
    sent = post(client, "/api/v1/wallet/transfers", {"recipient_username": bob.username, "amount": "10",
                                                     "currency": "CNY", "message": "lunch"})
    assert sent.status_code == 201 and wallet(bob) == 11000
    assert_error_shape(post(client, "/api/v1/wallet/transfers",
                            {"recipient_id": alice.pk, "amount": "1", "currency": "CNY"}), 400, "transfer_to_self")
    assert_error_shape(post(client, "/api/v1/wallet/transfers",
                            {"recipient_id": 999999, "amount": "1", "currency": "CNY"}), 404, "recipient_not_found")
    assert_error_shape(post(client, "/api/v1/wallet/transfers",
                            {"recipient_id": bob.pk, "amount": "500", "currency": "CNY"}), 409, "insufficient_funds")

    created = client.post("/api/v1/wallet/payment-requests", {"payer_ids": [bob.pk, carol.pk], "total": "90.01",
                                                              "currency": "CNY", "message": "hotpot"}, format="json")
    assert created.status_code == 201
    # A create answers the created object (the split), as the schema declares it.
    split = assert_conforms(created, "post", "/api/v1/wallet/payment-requests")
    assert {r["group"] for r in split["requests"]} == {split["group"]}
    requests = {r["payer"]["id"]: r for r in split["requests"]}
    assert requests[bob.pk]["amount"]["amount"] == "30.00"
    accepted = post(client_for(bob), f"/api/v1/wallet/payment-requests/{requests[bob.pk]['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert wallet(bob) == 11000 - 3000 and wallet(alice) == 9000 + 3000
    assert_error_shape(post(client_for(bob), f"/api/v1/wallet/payment-requests/{requests[bob.pk]['id']}/accept"),
                       409, "payment_request_state_invalid")
    # Only the payer may answer; the requester may cancel.
    carol_id = requests[carol.pk]["id"]
    assert_error_shape(post(client, f"/api/v1/wallet/payment-requests/{carol_id}/accept"), 404)
    assert client_for(carol).post(f"/api/v1/wallet/payment-requests/{carol_id}/decline").json()["status"] == "declined"
    assert wallet(carol) == 10000
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_coupons_collect_list_applicable_and_redeem():
    payer = funded_user("100")
    shop, elsewhere = merchant(), merchant(city=city("shanghai"))
    promo = campaign(fixed_off=300, cities=[city("hangzhou")], per_user_limit=1)
    travellers = campaign(name="Travellers", travellers_only=True)
    client = client_for(payer)
    offered = client.get(f"/api/v1/wallet/campaigns?merchant={shop.pk}").json()["results"]
    assert [c["id"] for c in offered] == [promo.pk]  # not a traveller
    assert_error_shape(client.post(f"/api/v1/wallet/campaigns/{travellers.pk}/collect"), 409,
                       "coupon_not_applicable")
    collected = client.post(f"/api/v1/wallet/campaigns/{promo.pk}/collect")
    assert collected.status_code == 201
    assert_error_shape(client.post(f"/api/v1/wallet/campaigns/{promo.pk}/collect"), 409, "coupon_limit_reached")
    assert_error_shape(client.post("/api/v1/wallet/campaigns/999999/collect"), 404, "campaign_not_found")
    coupon_id = collected.json()["id"]
    assert [c["id"] for c in client.get(f"/api/v1/wallet/coupons?merchant={shop.pk}").json()["results"]] == [coupon_id]
    assert client.get(f"/api/v1/wallet/coupons?merchant={elsewhere.pk}").json()["results"] == []
    assert_error_shape(client.get("/api/v1/wallet/coupons?merchant=999999"), 404, "merchant_not_found")
    paid = post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "10", "coupon_id": coupon_id})
    assert paid.json()["discount"]["amount"] == "3.00" and paid.json()["charged"]["amount"] == "7.00"
    assert client.get(f"/api/v1/wallet/coupons/{coupon_id}").json()["status"] == "redeemed"


@pytest.mark.django_db
def test_the_profiles_current_city_is_not_evidence_of_travel():
    # Issue #14: the profile is the user's to edit; only a trip under way (or where the money is spent) counts.
    payer = funded_user("100", current_city=city("davos"))
    travellers = campaign(name="Travellers", travellers_only=True)
    assert_error_shape(client_for(payer).post(f"/api/v1/wallet/campaigns/{travellers.pk}/collect"), 409,
                       "coupon_not_applicable")


@pytest.mark.django_db(transaction=True)
def test_tax_free_purchase_vat_claim_operator_approval_and_payout(settings):
    settings.PAYMENTS_VAT_SERVICE_FEE_RATE = "0.10"
    rates(("CHF", "CNY", "8"))
    traveller = funded_user("10000", current_city=city("davos"))
    shop = merchant(city=city("davos"), tax_free=True)
    client = client_for(traveller)
    big = post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "324.30", "tax_free": True})
    assert big.status_code == 201, big.content
    assert big.json()["vat"] == {"amount": "24.30", "currency": "CHF"}  # 324.30 * 0.081 / 1.081
    small = post(client, "/api/v1/wallet/payments", {"merchant_id": merchant(city=city("davos"), tax_free=True).pk,
                                                     "amount": "50", "tax_free": True}).json()
    plain = post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "5"}).json()
    assert_error_shape(client.post("/api/v1/wallet/vat-claims", {"payment_ids": [small["id"]]}, format="json"), 409,
                       "vat_minimum_not_met")
    assert_error_shape(client.post("/api/v1/wallet/vat-claims", {"payment_ids": [plain["id"]]}, format="json"), 409,
                       "vat_claim_invalid")
    claim = client.post("/api/v1/wallet/vat-claims", {"payment_ids": [big.json()["id"]]}, format="json")
    assert claim.status_code == 201
    body = claim.json()
    assert body["refund_gross"] == {"amount": "194.40", "currency": "CNY"}
    assert body["refund_net"]["amount"] == "174.96" and body["status"] == "submitted"
    assert_error_shape(client.post("/api/v1/wallet/vat-claims", {"payment_ids": [big.json()["id"]]}, format="json"),
                       409, "vat_claim_invalid")  # no double claims
    decision_url = f"/api/v1/wallet/operator/vat-claims/{body['id']}/decision"
    assert_error_shape(client.post(decision_url, {"approved": True}, format="json"), 403, "operator_only")
    operator = client_for(UserFactory(is_staff=True))
    assert len(operator.get("/api/v1/wallet/operator/vat-claims").json()["results"]) == 1
    before = wallet(traveller)
    decided = operator.post(decision_url, {"approved": True, "note": "goods seen"}, format="json")
    assert decided.status_code == 200
    assert client.get(f"/api/v1/wallet/vat-claims/{body['id']}").json()["status"] == "paid"
    assert wallet(traveller) == before + 17496
    assert_error_shape(operator.post(decision_url, {"approved": False}, format="json"), 409,
                       "vat_claim_state_invalid")
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_withdraw_and_unlink_funding_source(auth_client, user):
    fund(user, "50")
    source = auth_client.get("/api/v1/wallet/funding-sources").json()["results"][0]
    response = post(auth_client, "/api/v1/wallet/withdrawals",
                    {"funding_source_id": source["id"], "amount": "20", "currency": "CNY"})
    assert response.status_code == 201 and wallet(user) == 3000
    assert_error_shape(post(auth_client, "/api/v1/wallet/withdrawals",
                            {"funding_source_id": source["id"], "amount": "30.01", "currency": "CNY"}), 409,
                       "insufficient_funds")
    assert auth_client.delete(f"/api/v1/wallet/funding-sources/{source['id']}").status_code == 204
    assert_error_shape(post(auth_client, "/api/v1/wallet/top-ups",
                            {"funding_source_id": source["id"], "amount": "1", "currency": "CNY"}), 404,
                       "funding_source_not_found")


@pytest.mark.django_db
def test_nobody_sees_or_moves_another_users_money():
    rates(("CHF", "CNY", "8"))
    owner = funded_user("10000", current_city=city("davos"))
    thief = funded_user("10")
    shop = merchant()
    payment = services.payment_create(payer=owner, merchant=shop, amount=cny("10"))
    tax_free = services.payment_create(payer=owner, merchant=merchant(city=city("davos"), tax_free=True),
                                       amount=Money_chf("400"), tax_free=True)
    claim = services.vat_claim_create(user=owner, payment_ids=[tax_free.pk])
    coupon = services.coupon_collect(user=owner, campaign_id=campaign().pk)
    source = owner.funding_sources.first()
    request = services.payment_requests_create(requester=thief, payer_ids=[owner.pk], total=cny("4"))[0]
    mine = services.payment_requests_create(requester=owner, payer_ids=[thief.pk], total=cny("4"),
                                            include_requester=False)[0]
    client = client_for(thief)
    for url in (f"/api/v1/wallet/payments/{payment.pk}", f"/api/v1/wallet/coupons/{coupon.pk}",
                f"/api/v1/wallet/vat-claims/{claim.pk}", f"/api/v1/wallet/merchants/{shop.pk}/payments",
                f"/api/v1/wallet/merchants/{shop.pk}/payments/{payment.pk}",
                f"/api/v1/wallet/merchants/{shop.pk}/settlements", f"/api/v1/wallet/merchants/{shop.pk}/qr"):
        assert_error_shape(client.get(url), 404)
    assert_error_shape(client.delete(f"/api/v1/wallet/funding-sources/{source.pk}"), 404)
    funds = {"funding_source_id": source.pk, "amount": "1", "currency": "CNY"}
    for url, body in (("/api/v1/wallet/top-ups", funds), ("/api/v1/wallet/withdrawals", funds),
                      ("/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "1", "coupon_id": coupon.pk}),
                      (f"/api/v1/wallet/merchants/{shop.pk}/payments/{payment.pk}/refunds", {"amount": "1"}),
                      (f"/api/v1/wallet/merchants/{shop.pk}/payments/{payment.pk}/confirm", {}),
                      (f"/api/v1/wallet/merchants/{shop.pk}/payments/{payment.pk}/reject", {}),
                      (f"/api/v1/wallet/payment-requests/{request.pk}/accept", {}),
                      (f"/api/v1/wallet/payment-requests/{request.pk}/decline", {}),
                      (f"/api/v1/wallet/payment-requests/{mine.pk}/cancel", {})):
        assert_error_shape(post(client, url, body), 404)
    assert_error_shape(client.post("/api/v1/wallet/vat-claims", {"payment_ids": [payment.pk]}, format="json"), 404)
    assert client.get("/api/v1/wallet/payments").json()["results"] == []
    assert [b["currency"] for b in client.get("/api/v1/wallet/balances").json()["results"]] == ["CNY"]
    assert all(e["amount"]["amount"] == "10.00" for e in client.get("/api/v1/wallet/transactions").json()["results"])
    owner.refresh_from_db()
    assert wallet(owner) == 1_000_000 - 1000 - 400 * 800 * 1005 // 1000
    assert ledger_check()["ok"]


def Money_chf(value):  # noqa: N802 - reads like a constructor
    from superapp.money import Money

    return Money.from_decimal(value, "CHF")


@pytest.mark.django_db
def test_a_payment_request_costs_a_fixed_small_number_of_queries(django_assert_num_queries):
    # The hot path (the test client is authenticated already): transaction, ONE locking read of all the accounts
    # (pk order) that also reads the merchant (this process read it as payable before: the first payment below),
    # ledger transaction + entries + balances + the payment row + its interaction (one statement on PostgreSQL,
    # five elsewhere), the idempotency key inserted with the receipt (claimed last), commit. Account ids are
    # cached per process, so no lookups. No savepoint around the payment: the @idempotent attempt is one unit
    # that any error rolls back whole (was 11 / 13 with SAVEPOINT + RELEASE; 9 / 11 before the payment row
    # joined the ledger statement and the key was claimed last; 7 / 10 before the interaction joined it too;
    # 6 / 10 before the merchant joined the lock).
    payer = funded_user("100")
    client, shop = client_for(payer), merchant()
    assert post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "1.00"}).status_code == 201
    for shard in range(conf.system_account_shards()):  # warm every fees shard the random pick may choose
        ledger.system_account(code="fees", currency="CNY", shard=shard)
    parameters = []

    def count_parameters(execute, sql, params, many, context):
        parameters.append(len(params or ()))
        return execute(sql, params, many, context)

    with django_assert_num_queries(5 if connection.vendor == "postgresql" else 9), \
            connection.execute_wrapper(count_parameters):
        response = post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "2.00"})
    assert response.status_code == 201, response.content
    # psycopg caches how it parses a statement of at most 50 parameters; past that it re-parses it on every payment
    assert max(parameters) <= 50, parameters
    assert wallet(payer) == 10000 - 300


def _trip(user, *, destination: str, days_from_now: int, length: int = 3):
    from merchants.models import Trip

    starts = timezone.now().date() + timedelta(days=days_from_now)
    return Trip.objects.create(user=user, destination=city(destination), starts_on=starts,
                               ends_on=starts + timedelta(days=length))


@pytest.mark.django_db
def test_an_active_trip_makes_a_traveller_for_coupons_and_tax_free_shopping():
    # Given a Hangzhou user whose profile still says Hangzhou, but who is on a trip to Davos right now
    rates(("CHF", "CNY", "8"))
    home = city("hangzhou")
    payer = funded_user("500", currency="CHF", home_city=home, current_city=home)
    _trip(payer, destination="davos", days_from_now=-1)
    travellers = campaign(name="Welcome to Davos", currency="CHF", travellers_only=True, fixed_off=500)
    client = client_for(payer)
    # then the traveller offers are theirs, and tax-free shopping in Davos records the VAT
    assert [c["id"] for c in client.get("/api/v1/wallet/campaigns").json()["results"]] == [travellers.pk]
    assert client.post(f"/api/v1/wallet/campaigns/{travellers.pk}/collect").status_code == 201
    shop = merchant(city=city("davos"), tax_free=True)
    paid = post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "108.10", "tax_free": True})
    assert paid.status_code == 201, paid.content
    assert paid.json()["vat"] == {"amount": "8.10", "currency": "CHF"}


@pytest.mark.django_db
def test_a_past_or_future_trip_does_not_make_a_traveller():
    home = city("hangzhou")
    payer = funded_user("500", currency="CHF", home_city=home, current_city=home)
    _trip(payer, destination="davos", days_from_now=-10)
    _trip(payer, destination="davos", days_from_now=5)
    travellers = campaign(name="Welcome to Davos", currency="CHF", travellers_only=True)
    client = client_for(payer)
    assert client.get("/api/v1/wallet/campaigns").json()["results"] == []
    assert_error_shape(client.post(f"/api/v1/wallet/campaigns/{travellers.pk}/collect"), 409,
                       "coupon_not_applicable")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_payment_move_money_once(concurrently, db_gate):
    # Given 12 clients sending the same payment with the same Idempotency-Key at once
    payer = funded_user("100")
    shop = merchant()
    body = {"merchant_id": shop.pk, "amount": "12.00"}

    def attempt(_):
        with db_gate.slot():
            response = post(client_for(payer), "/api/v1/wallet/payments", body, key="double-tap")
            return response.status_code, response.json()

    results = concurrently(attempt, 12)
    # then every client gets the one receipt, and the money moved once
    assert all(not isinstance(r, Exception) for r in results), results
    assert {status for status, _ in results} == {201}
    assert len({receipt["id"] for _, receipt in results}) == 1
    assert Payment.objects.count() == 1 and wallet(payer) == 10000 - 1200
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_a_merchant_changed_since_this_process_read_it_is_paid_as_it_is_now():
    # The payment reads a merchant this process has seen payable in the statement that locks the accounts
    # (services.payment_pay); if the row changed meanwhile (raw updates here: no signal, as from another process),
    # the payment starts over from the database within the same transaction, and pays or refuses as the row is now.
    payer = funded_user("100")
    client, shop = client_for(payer), merchant(name="Old name")
    assert post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "1.00"}).status_code == 201

    Merchant.objects.filter(pk=shop.pk).update(name="New name")
    renamed = post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "1.00"})
    assert renamed.status_code == 201 and renamed.json()["merchant"]["name"] == "New name"
    assert LedgerTransaction.objects.order_by("-pk").first().description == "Payment to New name"

    Merchant.objects.filter(pk=shop.pk).update(requires_confirmation=True)
    held = post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "1.00"})
    assert held.status_code == 201 and held.json()["status"] == "pending"

    Merchant.objects.filter(pk=shop.pk).update(is_active=False)
    assert_error_shape(post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "1.00"}), 409,
                       "merchant_inactive")
    rates(("CHF", "CNY", "8"))
    Merchant.objects.filter(pk=shop.pk).update(is_active=True, requires_confirmation=False, currency="CHF")
    swiss = post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "1.00"})
    assert swiss.status_code == 201, swiss.content
    assert swiss.json()["amount"]["currency"] == "CHF" and swiss.json()["charged"]["currency"] == "CNY"

    assert Payment.objects.filter(payer=payer).count() == 4  # each payment once, the refused one never
    charged = Payment.objects.get(pk=swiss.json()["id"]).payer_amount
    assert wallet(payer) == 10000 - 300 - charged
    assert ledger_check()["ok"]
