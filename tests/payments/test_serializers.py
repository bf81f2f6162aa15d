"""Fast paths of the payment receipt agree with the serializers they stand in for."""

import pytest

from payments import serializers as s
from tests.payments.factories import merchant


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["Bench merchant 1", "", "Café «Zürich» 北京"])
def test_the_receipts_merchant_field_renders_what_the_nested_serializer_renders(name):
    shop = merchant(name=name)
    assert s.MerchantRefField().to_representation(shop) == dict(s.MerchantRefSerializer(shop).data)
    assert list(s.MerchantRefSerializer().fields) == ["id", "name"]  # a new field there must be added here too
