import pytest

from payments.models import Payment, PaymentStatus
from superapp.social.models import CheckIn, Post
from tests.conftest import client_for
from tests.factories import MerchantFactory
from tests.superapp.test_api_conventions import assert_error_shape

pytestmark = pytest.mark.django_db


def payment(payer, merchant, status=PaymentStatus.SUCCEEDED):
    return Payment.objects.create(payer=payer, merchant=merchant, status=status, currency=merchant.currency,
                                  amount=8800, payer_currency=merchant.currency, payer_amount=8800)


def share(client, merchant, payment_id):
    return client.post("/api/v1/checkins", {"merchant_id": merchant.pk, "payment_id": payment_id,
                                            "text": "Dinner was great"}, format="json")


def test_share_this_visit_from_my_payment(user, merchant):
    paid = payment(user, merchant)
    response = share(client_for(user), merchant, paid.pk)
    assert response.status_code == 201, response.content
    assert response.json()["payment_id"] == paid.pk
    assert CheckIn.objects.get().payment_id == paid.pk
    assert_error_shape(share(client_for(user), merchant, paid.pk), 409, "payment_already_shared")
    assert CheckIn.objects.count() == 1


def test_only_my_own_succeeded_payment_at_that_merchant_can_be_shared(user, other_user, merchant):
    elsewhere = MerchantFactory()
    cases = [
        payment(other_user, merchant).pk,                       # someone else's
        payment(user, merchant, PaymentStatus.FAILED).pk,       # failed
        payment(user, merchant, PaymentStatus.PENDING).pk,      # not completed
        payment(user, elsewhere).pk,                            # another merchant
        999999,                                                 # unknown
    ]
    for payment_id in cases:
        assert_error_shape(share(client_for(user), merchant, payment_id), 400, "payment_not_shareable")
    assert not CheckIn.objects.exists() and not Post.objects.exists()
