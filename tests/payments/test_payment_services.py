from decimal import Decimal

import pytest
from django.utils import timezone

from payments import services
from payments.checks import ledger_check
from payments.exceptions import (
    CouponAlreadyUsed,
    CouponExhausted,
    CouponMinSpendNotMet,
    CouponNotApplicable,
    CurrencyMismatch,
    FxRateMissing,
    InsufficientFunds,
    InvalidAmount,
    MerchantInactive,
    MerchantNotAcceptingWallet,
    PaymentStateInvalid,
    RefundExceedsRemaining,
)
from payments.models import Account, Campaign, Coupon, CouponStatus, DiscountKind, LedgerEntry, PaymentStatus
from recommender.models import Interaction
from superapp.money import Money
from tests.factories import city
from tests.payments.factories import campaign, cny, funded_user, merchant, rates


def balance(user=None, merchant_=None, currency="CNY"):
    if user is not None:
        return Account.objects.get(kind="user", user=user, currency=currency).balance
    return Account.objects.get(kind="merchant", merchant=merchant_, currency=currency).balance


@pytest.mark.django_db
def test_payment_moves_money_payer_to_merchant_minus_fee(settings):
    settings.PAYMENTS_MERCHANT_FEE_RATE = "0.01"
    payer, shop = funded_user("100"), merchant()
    payment = services.payment_create(payer=payer, merchant=shop, amount=cny("40"), tip=cny("2"))
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.payer_amount == 4200 and payment.fee == 42
    assert balance(payer) == 5800
    assert balance(merchant_=shop) == 4200 - 42
    assert ledger_check()["ok"]


@pytest.mark.django_db(transaction=True)
def test_payment_emits_interaction_after_commit():
    payer, shop = funded_user("100"), merchant()
    payment = services.payment_create(payer=payer, merchant=shop, amount=cny("12.50"))
    interaction = Interaction.objects.get(source=f"payment:{payment.pk}")
    assert interaction.kind == "payment" and interaction.value == 12.5 and interaction.merchant_id == shop.pk


@pytest.mark.django_db
def test_a_payment_stores_its_interactions_with_it_and_a_pending_one_only_when_confirmed():
    # Given a coupon payment (its interactions go in with the ledger statement on PostgreSQL)
    payer, shop, held = funded_user("100"), merchant(), merchant(requires_confirmation=True)
    coupon = services.coupon_collect(user=payer, campaign_id=campaign(budget="100", fixed_off=500).pk)
    paid = services.payment_create(payer=payer, merchant=shop, amount=cny("30"), coupon_id=coupon.pk)
    # then both events are stored, named after the new payment and the coupon, at the payment's time
    stored = {(i.kind, i.source, i.value, i.occurred_at, i.client_event_id)
              for i in Interaction.objects.filter(user=payer)}
    assert stored == {("payment", f"payment:{paid.pk}", 30.0, paid.completed_at, None),
                      ("coupon", f"coupon:{coupon.pk}", 5.0, paid.completed_at, None)}
    # and a payment held for confirmation has none until it is confirmed, then one
    pending = services.payment_create(payer=payer, merchant=held, amount=cny("10"))
    assert not Interaction.objects.filter(source=f"payment:{pending.pk}").exists()
    services.payment_confirm(payment=pending)
    assert Interaction.objects.get(source=f"payment:{pending.pk}").merchant_id == held.pk


@pytest.mark.django_db
@pytest.mark.parametrize("kwargs, error", [
    ({"amount": Money(0, "CNY")}, InvalidAmount),
    ({"amount": Money(-5, "CNY")}, InvalidAmount),
    ({"amount": Money(100, "EUR")}, CurrencyMismatch),
    ({"amount": Money(100, "CNY"), "tip": Money(-1, "CNY")}, InvalidAmount),
    ({"amount": Money(100_001, "CNY")}, InsufficientFunds),
])
def test_bad_payments_write_nothing(kwargs, error):
    payer, shop = funded_user("1000"), merchant()
    before = LedgerEntry.objects.count()
    with pytest.raises(error):
        services.payment_create(payer=payer, merchant=shop, **kwargs)
    assert LedgerEntry.objects.count() == before and balance(payer) == 100000


@pytest.mark.django_db
def test_inactive_and_non_wallet_merchants_are_refused():
    payer = funded_user("10")
    with pytest.raises(MerchantInactive):
        services.payment_create(payer=payer, merchant=merchant(is_active=False), amount=cny("1"))
    with pytest.raises(MerchantNotAcceptingWallet):
        services.payment_create(payer=payer, merchant=merchant(accepts_wallet=False), amount=cny("1"))


@pytest.mark.django_db
def test_cross_currency_payment_converts_with_spread_to_fx_account(settings):
    settings.PAYMENTS_FX_SPREAD = "0.01"
    settings.PAYMENTS_MERCHANT_FEE_RATE = "0"
    rates(("CHF", "CNY", "8.00"))
    payer = funded_user("1000")
    shop = merchant(city=city("davos"))
    payment = services.payment_create(payer=payer, merchant=shop, amount=Money.from_decimal("10.00", "CHF"))
    assert payment.payer_currency == "CNY" and payment.fx_mid_rate == Decimal("8")
    assert payment.fx_rate == Decimal("8.08") and payment.payer_amount == 8080
    assert balance(payer) == 100000 - 8080
    assert balance(merchant_=shop, currency="CHF") == 1000
    fx = {c: sum(a.balance for a in Account.objects.filter(system_code="fx", currency=c)) for c in ("CNY", "CHF")}
    assert fx == {"CNY": 8080, "CHF": -1000}  # bought 10 CHF for 80.80 CNY: 0.80 CNY spread
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_missing_fx_rate_is_refused():
    payer = funded_user("1000")
    with pytest.raises(FxRateMissing):
        services.payment_create(payer=payer, merchant=merchant(city=city("tokyo")), amount=Money(500, "JPY"))
    assert balance(payer) == 100000


@pytest.mark.django_db
def test_pending_payment_is_held_until_confirmed():
    payer, shop = funded_user("100"), merchant(requires_confirmation=True)
    payment = services.payment_create(payer=payer, merchant=shop, amount=cny("30"))
    assert payment.status == PaymentStatus.PENDING and balance(payer) == 7000
    assert not Account.objects.filter(kind="merchant", merchant=shop).exists()
    services.payment_confirm(payment=payment)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and balance(merchant_=shop) == 3000 - payment.fee
    with pytest.raises(PaymentStateInvalid):
        services.payment_fail(payment=payment)
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_rejected_pending_payment_returns_money_and_coupon():
    payer, shop = funded_user("100"), merchant(requires_confirmation=True)
    promo = campaign(budget="100", fixed_off=500)
    coupon = services.coupon_collect(user=payer, campaign_id=promo.pk)
    payment = services.payment_create(payer=payer, merchant=shop, amount=cny("30"), coupon_id=coupon.pk)
    assert balance(payer) == 7500
    services.payment_fail(payment=payment, reason="rejected_by_merchant")
    assert balance(payer) == 10000
    coupon.refresh_from_db()
    promo.refresh_from_db()
    assert coupon.status == CouponStatus.AVAILABLE and promo.redemptions == 0
    assert promo.budget_account.balance == 10000
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_partial_refunds_never_exceed_what_was_paid():
    payer, shop = funded_user("100"), merchant()
    payment = services.payment_create(payer=payer, merchant=shop, amount=cny("50"))
    services.payment_refund(payment=payment, amount=cny("20"))
    services.payment_refund(payment=payment, amount=cny("20"))
    with pytest.raises(RefundExceedsRemaining):
        services.payment_refund(payment=payment, amount=cny("10.01"))
    services.payment_refund(payment=payment, amount=None)  # the rest
    payment.refresh_from_db()
    assert payment.refunded == 5000 and balance(payer) == 10000
    with pytest.raises(RefundExceedsRemaining):
        services.payment_refund(payment=payment, amount=cny("0.01"))
    with pytest.raises(InvalidAmount):
        services.payment_refund(payment=services.payment_create(payer=payer, merchant=shop, amount=cny("1")),
                                amount=cny("0"))
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_refund_of_fx_and_coupon_payment_returns_exactly_what_was_charged(settings):
    rates(("CHF", "CNY", "7.9"))
    payer = funded_user("1000")
    shop = merchant(city=city("zurich"))
    promo = campaign(currency="CHF", budget="50", kind=DiscountKind.PERCENT, percent_off="10", max_discount=300)
    coupon = services.coupon_collect(user=payer, campaign_id=promo.pk)
    payment = services.payment_create(payer=payer, merchant=shop, amount=Money(3333, "CHF"), coupon_id=coupon.pk)
    assert payment.discount == 300  # 10% of 33.33 capped at 3.00
    charged = payment.payer_amount
    for part in (1000, 777):
        services.payment_refund(payment=payment, amount=Money(part, "CHF"))
    services.payment_refund(payment=payment, amount=None)
    assert balance(payer) == 100000
    promo.budget_account.refresh_from_db()
    assert promo.budget_account.balance == 5000
    assert charged > 0 and ledger_check()["ok"]


@pytest.mark.django_db
def test_coupon_rules():
    payer, shop = funded_user("100"), merchant()
    promo = campaign(fixed_off=500, min_spend=2000)
    coupon = services.coupon_collect(user=payer, campaign_id=promo.pk)
    with pytest.raises(CouponMinSpendNotMet):
        services.payment_create(payer=payer, merchant=shop, amount=cny("19.99"), coupon_id=coupon.pk)
    payment = services.payment_create(payer=payer, merchant=shop, amount=cny("20"), coupon_id=coupon.pk)
    assert payment.discount == 500 and balance(payer) == 10000 - 1500
    assert balance(merchant_=shop) == 2000 - payment.fee
    with pytest.raises(CouponAlreadyUsed):
        services.payment_create(payer=payer, merchant=shop, amount=cny("20"), coupon_id=coupon.pk)
    elsewhere = campaign(merchants=[merchant()])
    other_coupon = services.coupon_collect(user=payer, campaign_id=elsewhere.pk)
    with pytest.raises(CouponNotApplicable):
        services.payment_create(payer=payer, merchant=shop, amount=cny("20"), coupon_id=other_coupon.pk)
    expired = campaign()
    late = services.coupon_collect(user=payer, campaign_id=expired.pk)
    Campaign.objects.filter(pk=expired.pk).update(ends_at=timezone.now())
    with pytest.raises(Exception) as exc_info:
        services.payment_create(payer=payer, merchant=shop, amount=cny("20"), coupon_id=late.pk)
    assert exc_info.value.code == "coupon_expired"
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_budget_runs_out():
    promo = campaign(budget="10", fixed_off=600)
    shop = merchant()
    first, second = funded_user("100"), funded_user("100")
    c1 = services.coupon_collect(user=first, campaign_id=promo.pk)
    c2 = services.coupon_collect(user=second, campaign_id=promo.pk)
    services.payment_create(payer=first, merchant=shop, amount=cny("10"), coupon_id=c1.pk)
    with pytest.raises(CouponExhausted):
        services.payment_create(payer=second, merchant=shop, amount=cny("10"), coupon_id=c2.pk)
    assert Coupon.objects.get(pk=c2.pk).status == CouponStatus.AVAILABLE


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_200_threads_redeeming_a_100_use_coupon_give_exactly_100(concurrently, db_gate):
    shop = merchant()
    promo = campaign(budget="10000", fixed_off=100, max_redemptions=100)
    payers = [funded_user("10") for _ in range(200)]
    coupons = [services.coupon_collect(user=p, campaign_id=promo.pk) for p in payers]

    def redeem(i):
        try:
            services.payment_create(payer=payers[i], merchant=shop, amount=cny("5"), coupon_id=coupons[i].pk)
            return "ok"
        except CouponExhausted:
            return "exhausted"

    results = concurrently(db_gate.wrap(redeem), 200)
    assert results.count("ok") == 100 and results.count("exhausted") == 100, results
    promo.refresh_from_db()
    assert promo.redemptions == 100
    assert Coupon.objects.filter(campaign=promo, status=CouponStatus.REDEEMED).count() == 100
    promo.budget_account.refresh_from_db()
    assert promo.budget_account.balance == 1_000_000 - 100 * 100
    assert ledger_check()["ok"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_partial_refunds_never_exceed_the_payment(concurrently, db_gate):
    payer, shop = funded_user("100"), merchant()
    payment = services.payment_create(payer=payer, merchant=shop, amount=cny("50"))

    def refund(_):
        try:
            services.payment_refund(payment=payment, amount=cny("7"))
            return "ok"
        except RefundExceedsRemaining:
            return "exceeds"

    results = concurrently(db_gate.wrap(refund), 20)
    assert results.count("ok") == 7 and results.count("exceeds") == 13, results
    payment.refresh_from_db()
    assert payment.refunded == 4900
    assert balance(payer) == 5000 + 4900
    assert ledger_check()["ok"]


@pytest.mark.django_db
def test_a_payment_order_pays_what_a_fixed_amount_qr_says():
    from payments.exceptions import QrAmountMismatch, QrInvalid
    from superapp.exceptions import ValidationFailed

    shop = merchant()
    fixed = services.merchant_qr_payload(merchant=shop, amount=cny("8.80"))
    order = services.payment_order_resolve(qr_payload=fixed)  # no amount: the QR's
    assert (order.merchant.pk, order.amount, order.tip) == (shop.pk, cny("8.80"), None)
    assert services.payment_order_resolve(qr_payload=fixed, amount="8.8").amount == cny("8.80")
    with pytest.raises(QrAmountMismatch):
        services.payment_order_resolve(qr_payload=fixed, amount="9")
    with pytest.raises(QrInvalid):
        services.payment_order_resolve(qr_payload=fixed + "x", amount="8.80")
    open_qr = services.merchant_qr_payload(merchant=shop, amount=None)
    with pytest.raises(ValidationFailed):  # an open QR code needs an amount
        services.payment_order_resolve(qr_payload=open_qr)
    order = services.payment_order_resolve(qr_payload=open_qr, amount="3", tip="0.50")
    assert (order.amount, order.tip) == (cny("3"), cny("0.50"))


@pytest.mark.django_db
def test_a_payment_order_by_merchant_id_parses_amounts_in_the_merchants_currency():
    shop = merchant()
    assert services.payment_order_resolve(merchant_id=shop.pk, amount="12.34").amount == cny("12.34")
    with pytest.raises(InvalidAmount) as refused:
        services.payment_order_resolve(merchant_id=shop.pk, amount="1.234")
    assert refused.value.code == "too_many_decimals" and "amount" in refused.value.details
    with pytest.raises(InvalidAmount) as refused:
        services.payment_order_resolve(merchant_id=shop.pk, amount="5", tip="0")
    assert "tip" in refused.value.details
