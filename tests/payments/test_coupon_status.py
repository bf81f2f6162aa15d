"""A coupon's status is right when read: an unused coupon of a campaign that ended (or was withdrawn) reads
`expired` over the API and in the `status` filter, whether or not any job has run; the Python rule and its SQL
form agree on generated cases."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import Campaign, Coupon, CouponReadStatus, CouponStatus
from payments.selectors import coupon_status, coupons_with_status
from tests.conftest import client_for
from tests.payments.factories import campaign, funded_user
from tests.read_time import assert_filter_agrees_with_rule


@pytest.mark.django_db
def test_a_coupon_of_an_ended_campaign_reads_expired_and_filters_as_expired():
    user = funded_user("10")
    running, ended, withdrawn = campaign(), campaign(), campaign()
    coupons = {promo.pk: services.coupon_collect(user=user, campaign_id=promo.pk)
               for promo in (running, ended, withdrawn)}
    Campaign.objects.filter(pk=ended.pk).update(ends_at=timezone.now())
    Campaign.objects.filter(pk=withdrawn.pk).update(is_active=False)
    client = client_for(user)

    statuses = {c["campaign"]["id"]: c["status"] for c in client.get("/api/v1/wallet/coupons").json()["results"]}
    assert statuses == {running.pk: "available", ended.pk: "expired", withdrawn.pk: "expired"}
    # Nothing was written: the stored status is still the unused one.
    assert set(Coupon.objects.filter(user=user).values_list("status", flat=True)) == {CouponStatus.AVAILABLE}
    for wanted, expected in (("available", {running.pk}), ("expired", {ended.pk, withdrawn.pk}), ("redeemed", set())):
        page = client.get("/api/v1/wallet/coupons", {"status": wanted}).json()["results"]
        assert {c["campaign"]["id"] for c in page} == expected, wanted
    detail = client.get(f"/api/v1/wallet/coupons/{coupons[ended.pk].pk}").json()
    assert detail["status"] == "expired"


@pytest.mark.django_db
def test_coupon_status_and_its_sql_form_agree_on_generated_cases():
    rng = random.Random(7)
    user = funded_user("10")
    now = timezone.now()
    for _ in range(24):
        promo = campaign()
        coupon = services.coupon_collect(user=user, campaign_id=promo.pk)
        Campaign.objects.filter(pk=promo.pk).update(
            is_active=rng.random() < 0.8,
            starts_at=now + timedelta(minutes=rng.choice([-600, -1, 0, 1])),
            ends_at=now + timedelta(minutes=rng.choice([-5, 0, 1, 600])))
        if rng.random() < 0.3:
            Coupon.objects.filter(pk=coupon.pk).update(status=CouponStatus.REDEEMED, redeemed_at=now)
    coupons = Coupon.objects.filter(user=user).select_related("campaign")
    assert_filter_agrees_with_rule(coupons, CouponReadStatus.values, rule=lambda c: coupon_status(c, now=now),
                                   filtered=lambda qs, status: coupons_with_status(qs, status, now=now))
