"""Fast paths of the payment receipt agree with the serializers they stand in for."""

import pytest

from payments import serializers as s
from payments import services
from payments.models import Payment
from superapp.money import Money
from tests.factories import city
from tests.payments.factories import campaign, cny, funded_user, merchant, rates


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["Bench merchant 1", "", "Café «Zürich» 北京"])
def test_the_receipts_merchant_field_renders_what_the_nested_serializer_renders(name):
    shop = merchant(name=name)
    assert s.MerchantRefField().to_representation(shop) == dict(s.MerchantRefSerializer(shop).data)
    assert list(s.MerchantRefSerializer().fields) == ["id", "name"]  # a new field there must be added here too


@pytest.mark.django_db
def test_the_payment_receipt_builder_renders_what_the_payment_serializer_renders():
    # Every kind of payment the receipt shows: plain, with a tip and a coupon, cross-currency with FX rates and
    # tax-free, pending, failed, partly and fully refunded; each fresh from payment_create and read back.
    rates(("CHF", "CNY", "8"))
    payer = funded_user("10000", current_city=city("davos"))
    shop, held = merchant(), merchant(requires_confirmation=True)
    swiss = merchant(city=city("davos"), tax_free=True)
    coupon = services.coupon_collect(user=payer, campaign_id=campaign(budget="100", fixed_off=500).pk)
    payments = [
        services.payment_create(payer=payer, merchant=shop, amount=cny("12.34"), reference="r-1", description="Tea"),
        services.payment_create(payer=payer, merchant=shop, amount=cny("40"), tip=cny("2.50"), coupon_id=coupon.pk),
        services.payment_create(payer=payer, merchant=swiss, amount=Money(32430, "CHF"), tax_free=True),
        services.payment_create(payer=payer, merchant=held, amount=cny("7")),
        services.payment_create(payer=payer, merchant=held, amount=cny("8")),
        services.payment_create(payer=payer, merchant=shop, amount=cny("30")),
        services.payment_create(payer=payer, merchant=shop, amount=cny("20")),
    ]
    services.payment_fail(payment=payments[4])
    services.payment_refund(payment=payments[5], amount=cny("10"))
    services.payment_refund(payment=payments[6])
    assert payments[2].fx_rate is not None and payments[2].vat_amount > 0 and payments[1].discount > 0
    statuses = set()
    for payment in [*payments, *Payment.objects.select_related("merchant").filter(pk__in=[p.pk for p in payments])]:
        expected = s.PaymentSerializer(payment).data
        assert s.payment_receipt(payment) == expected
        assert list(s.payment_receipt(payment)) == list(expected)  # same keys in the same order
        statuses.add(expected["status"])
    assert statuses == {"succeeded", "pending", "failed", "partially_refunded", "refunded"}
