"""The demo world's wallet (issue 4, done when: wallets, top-ups, payments, coupons and a few VAT claims)."""

import io
import random

import pytest

from payments.checks import ledger_check
from payments.models import (
    Account,
    AccountKind,
    Coupon,
    CouponStatus,
    Payment,
    PaymentStatus,
    Refund,
    TopUp,
    Transfer,
    VatClaim,
    VatClaimStatus,
)
from recommender.models import Interaction
from superapp.accounts.models import User


@pytest.mark.django_db
def test_the_demo_world_has_wallets_payments_coupons_and_vat_claims():
    from merchants.seed import seed as seed_services
    from payments.seed import seed as seed_payments
    from superapp.accounts.seed import seed as seed_users

    seed_users(rng=random.Random(1), stdout=io.StringIO())
    seed_services(rng=random.Random(1), stdout=io.StringIO())
    seed_payments(rng=random.Random(1), stdout=io.StringIO())

    users = User.objects.filter(is_active=True, is_superuser=False)
    assert Account.objects.filter(kind=AccountKind.USER).values("user").distinct().count() == users.count()
    assert TopUp.objects.values("user").distinct().count() == users.count()
    succeeded = Payment.objects.filter(status=PaymentStatus.SUCCEEDED)
    assert succeeded.count() > 100 and succeeded.values("currency").distinct().count() >= 2  # at home and abroad
    assert Refund.objects.exists() and Transfer.objects.exists()
    assert Coupon.objects.filter(status=CouponStatus.REDEEMED).exists()
    assert Coupon.objects.filter(status=CouponStatus.AVAILABLE).exists()
    assert {VatClaimStatus.PAID, VatClaimStatus.SUBMITTED} <= set(VatClaim.objects.values_list("status", flat=True))
    assert Interaction.objects.filter(kind="payment").count() == succeeded.count()
    assert ledger_check()["ok"]
