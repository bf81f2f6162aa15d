"""`merchant_card_rows` (the nearby index's and the recommender's fast rows, two plain queries) builds the
`MerchantNearbySerializer` shape by hand: it must equal the serializer's output, checked on generated merchants."""

import json
import random

import pytest
from rest_framework.renderers import JSONRenderer

from merchants.models import Category, City, Merchant, Vertical
from merchants.selectors import merchant_card_rows
from merchants.serializers import MerchantNearbySerializer

pytestmark = pytest.mark.django_db

LATE = ["distance_m", "is_open_now"]  # decided per request, added to the card by the caller


def _generated(rng: random.Random, seed: int) -> list[Merchant]:
    cities = [*City.objects.order_by("pk")[:4], None]
    categories = [Category.objects.create(name=f"Cat {seed}-{i} ü", slug=f"card-{seed}-{i}",
                                          vertical=rng.choice(Vertical.values)) for i in range(6)]
    merchants = []
    for i in range(30):
        place = rng.choice(cities)
        count = rng.choice([0, 0, 1, 3, 7, 250])
        merchant = Merchant.objects.create(
            name=rng.choice(["Hotpot", "Café “Ñ”", "寿司", "A" * 80]) + f" {seed}-{i}",
            vertical=rng.choice(Vertical.values), city=place, address=rng.choice(["", "1 Main St", "西湖路 3号"]),
            latitude=rng.choice([None, rng.uniform(-89.9, 89.9)]), longitude=rng.choice([None, rng.uniform(-180, 180)]),
            time_zone=place.time_zone if place else rng.choice(["UTC", "Europe/Zurich"]),
            price_level=rng.choice([None, 1, 2, 3, 4]),
            languages=rng.sample(["zh", "en", "de", "ja"], rng.randint(0, 3)),
            photos=[f"https://img.example/{seed}/{i}/{n}.jpg" for n in range(rng.randint(0, 2))],
            currency=place.currency if place else "EUR", accepts_wallet=rng.random() < 0.5,
            tax_free=rng.random() < 0.3, rating_count=count, rating_sum=sum(rng.randint(1, 5) for _ in range(count)))
        merchant.categories.set(rng.sample(categories, rng.randint(0, 3)))
        merchants.append(merchant)
    return merchants


@pytest.mark.parametrize("seed", range(3))
def test_card_rows_equal_the_nearby_serializer_on_generated_merchants(seed):
    merchants = _generated(random.Random(seed), seed)
    ids = [m.pk for m in merchants]
    rows = merchant_card_rows(ids=ids)
    assert sorted(rows) == sorted(ids)
    for merchant in Merchant.objects.filter(pk__in=ids).select_related("city").prefetch_related("categories"):
        data = MerchantNearbySerializer(merchant, context={"distances": {merchant.pk: 0.0}, "open_ids": set()}).data
        expected = json.loads(JSONRenderer().render(data))
        assert [key for key in expected if key not in LATE] == list(rows[merchant.pk])  # same fields, same order
        for key in LATE:
            expected.pop(key)
        assert json.loads(json.dumps(rows[merchant.pk])) == expected
