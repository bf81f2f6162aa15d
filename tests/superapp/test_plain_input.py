"""`validated_plain` gives what the serializer gives, and leaves every refusal to the serializer."""

import random

import pytest
from django.http import QueryDict
from rest_framework import serializers

from payments.serializers import MAX_ID, PaymentCreateSerializer
from superapp.api import validated
from superapp.plain_input import plain_validated_data, validated_plain

STRINGS = ["", "abc", " abc", "abc ", "x" * 64, "x" * 65, "x" * 255, "x" * 256, "x" * 1024, "x" * 1025, "a\x00b",
           "\ud800", "Café «Zürich» 北京", " ", None, 5, 5.5, True, [], {}]
IDS = [1, 5, MAX_ID, MAX_ID + 1, 0, -1, "5", " 5", 5.0, 5.5, True, False, None, "abc", [], {}]
AMOUNTS = ["12.34", "0", "1" * 32, "1" * 33, "1e5", "-1", *STRINGS]
CURRENCIES = ["CNY", "CHF", "cny", "XXX", "", " CNY", None, 1, True]
BOOLEANS = [True, False, "true", "false", 1, 0, None, "yes"]
POOLS = {"merchant_id": IDS, "qr_payload": STRINGS, "qr": STRINGS, "amount": AMOUNTS, "currency": CURRENCIES,
         "tip": AMOUNTS, "coupon_id": IDS, "tax_free": BOOLEANS, "pay_currency": CURRENCIES,
         "reference": STRINGS, "description": STRINGS, "unknown": [1, "x"]}


def _serializer_result(body):
    serializer = PaymentCreateSerializer(data=body)
    return dict(serializer.validated_data) if serializer.is_valid() else None


def test_the_plain_path_agrees_with_the_serializer_on_generated_bodies():
    assert set(POOLS) - {"unknown"} == set(PaymentCreateSerializer().fields)  # a new field needs its pool here
    rng = random.Random(13)
    fast_taken = refused = 0
    for _ in range(4000):
        # mostly the usual body (merchant or QR, an amount), with other fields at random, valid or not
        body = {"merchant_id": rng.choice([5, 7, MAX_ID])} if rng.random() < 0.6 else {"qr_payload": "payload"}
        if rng.random() < 0.8:
            body["amount"] = rng.choice(["12.34", "5", "0.01"])
        for name, pool in POOLS.items():
            if rng.random() < 0.15:
                body[name] = rng.choice(pool)
        fast, expected = plain_validated_data(PaymentCreateSerializer, body), _serializer_result(body)
        if fast is not None:
            fast_taken += 1
            assert fast == expected, body
        refused += expected is None
    assert fast_taken > 500 and refused > 500, (fast_taken, refused)  # both sides were exercised


@pytest.mark.parametrize("body", [
    {"merchant_id": 5, "amount": "12.34"},
    {"qr_payload": "abc", "tip": "1", "currency": "CNY", "pay_currency": "CHF", "coupon_id": None},
    {"merchant_id": 5, "amount": "1", "tax_free": True, "reference": "r", "description": "Dinner 北京", "coupon_id": 9},
])
def test_usual_bodies_take_the_plain_path_with_the_serializers_defaults(body):
    assert plain_validated_data(PaymentCreateSerializer, body) == _serializer_result(body) is not None


@pytest.mark.parametrize("body", [
    {"merchant_id": 5, "qr_payload": "abc"}, {}, {"qr": "a", "qr_payload": "b"}, {"merchant_id": "x"},
    {"merchant_id": 0}, {"merchant_id": 5, "amount": "1", "tip": None}, {"merchant_id": 5, "description": "x" * 256},
    {"merchant_id": 5, "reference": "a\x00b"}, {"merchant_id": 5, "currency": "XXX"}, {"merchant_id": True},
    [], "text", None, QueryDict("merchant_id=5&qr_payload=x"),
])
def test_anything_else_goes_through_the_serializer_with_its_errors(body):
    assert plain_validated_data(PaymentCreateSerializer, body) is None
    with pytest.raises(serializers.ValidationError) as expected:
        validated(PaymentCreateSerializer, body)
    with pytest.raises(serializers.ValidationError) as got:
        validated_plain(PaymentCreateSerializer, body)
    assert got.value.detail == expected.value.detail


def test_serializers_it_cannot_follow_always_take_the_long_way():
    class WithFieldValidation(serializers.Serializer):
        n = serializers.IntegerField()

        def validate_n(self, value):
            return value * 2

    class WithDecimal(serializers.Serializer):
        d = serializers.DecimalField(max_digits=5, decimal_places=2)

    assert plain_validated_data(WithFieldValidation, {"n": 1}) is None
    assert plain_validated_data(WithDecimal, {"d": "1.00"}) is None


@pytest.mark.parametrize("body", [
    {"merchant_id": 5, "amount": " 1"}, {"merchant_id": 5, "tax_free": "true"}, {"merchant_id": 5, "extra": 1},
    {"merchant_id": "5", "amount": "1"}, QueryDict("merchant_id=5&amount=1"),
])
def test_valid_bodies_it_does_not_follow_are_validated_by_the_serializer(body):
    assert plain_validated_data(PaymentCreateSerializer, body) is None
    assert validated_plain(PaymentCreateSerializer, body) == validated(PaymentCreateSerializer, body)
