"""A blend with a factor part (what the tuner often picks: EASE + ALS) is served like any other version on the
live path and by a single user's list build: a user it trained on is scored by both parts, a user it did not
by its item-based part. (A blend has no `item_factors`, and this path used to give up on it and answer with
popularity.)"""

import pytest
from django.core.cache import cache

from recommender.serving import materialise
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.recommender.serving.conftest import ALS_PARAMS, activate, interact, source, train

URL = "/api/v1/recommendations"
BLEND = {"first": {"algorithm": "ease", "params": {"l2": 10.0}},
         "second": {"algorithm": "als", "params": ALS_PARAMS}, "weight": 0.5}


@pytest.fixture
def active_blend(world):
    return activate(train("blend", BLEND))


@pytest.mark.django_db
def test_a_blend_with_a_factor_part_scores_known_and_new_users_live(world, active_blend):
    known = world.hotpot_lovers[0]
    cache.delete(materialise.list_key(active_blend.pk, known.pk))
    body = client_for(known).get(URL, {"city": "hangzhou", "limit": 5}).json()
    assert body["source"] == source(active_blend, materialised=False), body
    assert body["fallback_reason"] == "list_not_built" and body["results"]
    assert all(r["via"] in ("model", "content") for r in body["results"])

    newcomer = UserFactory()  # not in the training data: the blend's EASE part scores them from their items
    for merchant in world.hz_sushi[:2]:
        interact(newcomer, merchant)
    body = client_for(newcomer).get(URL, {"city": "hangzhou", "limit": 5}).json()
    assert body["source"].startswith("model:blend:") or body["source"].startswith("materialised:blend:"), body
    sushi = {m.pk for m in world.hz_sushi}
    assert sushi & {r["merchant"]["id"] for r in body["results"]}


@pytest.mark.django_db
def test_one_users_list_builds_for_a_blend_with_a_factor_part(world, active_blend):
    user = world.sushi_lovers[0]
    cache.delete(materialise.list_key(active_blend.pk, user.pk))
    assert materialise.candidate_list_build(user.pk)
    body = client_for(user).get(URL, {"city": "hangzhou", "limit": 5}).json()
    assert body["source"] == source(active_blend) and body["fallback_reason"] is None
