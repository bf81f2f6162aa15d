from datetime import time

import numpy as np
import pytest

from merchants.geo_index import geo_index_invalidate
from merchants.models import Merchant
from recommender.serving import services as serving
from tests.conftest import client_for
from tests.factories import MerchantFactory, UserFactory, city
from tests.merchants.factories import hours
from tests.recommender.serving.conftest import activate, interact, source, train

URL = "/api/v1/recommendations"
# A page from the materialised list: the user row (none with Redis: the accounts cache), nothing else.
CACHED_PAGE_QUERIES, CACHED_PAGE_QUERIES_WITH_REDIS = 1, 0
# A miss: the user's history.
MISS_QUERIES = 1


def ids(body) -> list[int]:
    return [r["merchant"]["id"] for r in body["results"]]


@pytest.mark.django_db
def test_known_user_gets_model_recommendations_from_their_cluster(world, active_als):
    user = world.hotpot_lovers[1]
    body = client_for(user).get(URL, {"city": "hangzhou", "limit": 3}).json()
    assert body["source"] == source(active_als) and body["model_version"] == active_als.pk
    assert body["fallback_reason"] is None
    hotpot = {m.pk for m in world.hz_hotpot}
    assert len(body["results"]) == 3 and set(ids(body)) <= hotpot
    assert all(r["via"] == "model" for r in body["results"])
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.django_db
def test_exclude_seen_removes_merchants_the_user_interacted_with(world, active_als):
    user = world.hotpot_lovers[1]
    seen = set(user.interactions.values_list("merchant_id", flat=True))
    page = client_for(user).get(URL, {"city": "hangzhou", "limit": 50}).json()
    assert seen and not seen & set(ids(page))
    page = client_for(user).get(URL, {"city": "hangzhou", "limit": 50, "exclude_seen": "false"}).json()
    assert seen <= set(ids(page))


@pytest.mark.django_db
def test_vertical_filter_is_applied_inside_scoring(world, active_als):
    # Spas are never a hotpot lover's favourites: over-fetching the top of the list and dropping what is
    # not leisure would leave nothing; scoring only leisure merchants fills the page, in the model's order.
    body = client_for(world.hotpot_lovers[1]).get(URL, {"city": "davos", "vertical": "leisure", "limit": 3}).json()
    assert body["source"] == source(active_als)
    assert ids(body) == [world.davos_spa[0].pk, world.davos_spa[1].pk]


@pytest.mark.django_db
def test_city_filter(world, active_als):
    body = client_for(world.hotpot_lovers[1]).get(URL, {"city": "davos", "limit": 50}).json()
    assert body["city"]["slug"] == "davos"
    assert ids(body) and all(Merchant.objects.get(pk=i).city.slug == "davos" for i in ids(body))


@pytest.mark.django_db
def test_default_city_is_where_the_user_is_now(world, active_als):
    user = world.hotpot_lovers[1]
    user.current_city = city("davos")
    user.save()
    body = client_for(user).get(URL).json()
    assert body["city"]["slug"] == "davos"
    assert {Merchant.objects.get(pk=i).city.slug for i in ids(body)} == {"davos"}


@pytest.mark.django_db
def test_radius_filter_keeps_only_merchants_within_the_circle(world, active_als):
    hz = city("hangzhou")
    near, far = world.hz_sushi[0], world.hz_hotpot[0]
    Merchant.objects.filter(pk=near.pk).update(latitude=hz.latitude + 0.001, longitude=hz.longitude)
    Merchant.objects.exclude(pk=near.pk).update(latitude=hz.latitude + 0.05)  # ~5.5 km north
    geo_index_invalidate()  # bulk writers tell the serving processes (signals do it for single saves)
    body = client_for(world.hotpot_lovers[1]).get(URL, {"lat": hz.latitude, "lon": hz.longitude,
                                                       "radius_m": 500}).json()
    # The only merchant in range is a sushi bar, far down a hotpot lover's list: still recommended.
    assert ids(body) == [near.pk]
    assert 100 < body["results"][0]["distance_m"] < 130
    assert far.pk not in ids(body)


@pytest.mark.django_db
def test_open_now_filter_in_the_merchants_time_zone(world, active_als):
    for m in Merchant.objects.all():
        hours(m, time(0, 0), time(0, 1))  # open one minute a day: closed in practice
    open_one = world.hz_sushi[5]
    open_one.opening_hours.all().delete()
    hours(open_one, time(0, 0), time(0, 0))  # around the clock
    body = client_for(world.hotpot_lovers[1]).get(URL, {"city": "hangzhou", "open_now": "true"}).json()
    assert ids(body) == [open_one.pk]
    assert body["results"][0]["merchant"]["is_open_now"] is True


@pytest.mark.django_db
def test_accepts_wallet_filter(world, active_als):
    user = world.hotpot_lovers[3]
    body = client_for(user).get(URL, {"city": "davos", "vertical": "restaurant", "accepts_wallet": "true",
                                      "limit": 50}).json()
    assert world.davos_no_wallet.pk not in ids(body) and ids(body)
    body = client_for(user).get(URL, {"city": "davos", "accepts_wallet": "false", "limit": 50}).json()
    assert ids(body) == [world.davos_no_wallet.pk]


@pytest.mark.django_db
def test_filtered_scoring_passes_only_allowed_rows_to_the_model(world, active_als, monkeypatch):
    """The live path (no materialised list yet) scores exactly the merchants the filters allow."""
    from django.core.cache import cache

    from recommender.serving.materialise import list_key

    cache.delete(list_key(active_als.pk, world.hotpot_lovers[1].pk))
    seen_rows = []
    original = serving._model_scores

    def spy(loaded, vector, signals, rows, **kwargs):
        seen_rows.append(np.asarray(loaded.item_ids)[rows].tolist())
        return original(loaded, vector, signals, rows, **kwargs)

    monkeypatch.setattr(serving, "_model_scores", spy)
    client_for(world.hotpot_lovers[1]).get(URL, {"city": "davos", "vertical": "leisure"})
    assert seen_rows and set(seen_rows[0]) == {m.pk for m in world.davos_spa}


@pytest.mark.django_db
def test_because_you_liked_names_a_merchant_the_user_liked(world, active_als):
    user = world.hotpot_lovers[1]
    liked = set(user.interactions.values_list("merchant_id", flat=True))
    body = client_for(user).get(URL, {"city": "hangzhou", "limit": 3}).json()
    reasons = [r for item in body["results"] for r in item["reasons"] if r["kind"] == "because_you_liked"]
    assert reasons and all(r["merchant_id"] in liked for r in reasons)
    names = dict(Merchant.objects.filter(pk__in=liked).values_list("pk", "name"))
    assert all(r["text"] == f"Because you liked {names[r['merchant_id']]}" for r in reasons)


@pytest.mark.django_db
def test_friends_and_coupon_explanations_come_from_social_and_the_wallet(world, active_als):
    from payments.models import DiscountKind
    from superapp.social import services as social
    from superapp.social.models import Visibility
    from tests.payments.factories import campaign

    user = world.hotpot_lovers[1]
    top = client_for(user).get(URL, {"city": "hangzhou", "limit": 1}).json()["results"][0]["merchant"]["id"]
    friends = [UserFactory(display_name=n) for n in ("Li", "Wu", "Ma")]
    for friend in friends:
        request = social.friend_request_create(from_user=user, to_user_id=friend.pk)
        social.friend_request_accept(user=friend, request_id=request.pk)
        social.checkin_create(user=friend, merchant_id=top, visibility=Visibility.FRIENDS)
    stranger = UserFactory()
    social.checkin_create(user=stranger, merchant_id=top)  # not a friend: does not count
    offer = campaign(name="10% off hotpot", kind=DiscountKind.PERCENT, percent_off="10", fixed_off=0,
                     merchants=[Merchant.objects.get(pk=top)], description="Platform campaign")

    item = client_for(user).get(URL, {"city": "hangzhou", "limit": 1}).json()["results"][0]
    kinds = {r["kind"]: r for r in item["reasons"]}
    assert kinds["friends_were_here"]["text"] == "3 friends were here" and kinds["friends_were_here"]["count"] == 3
    assert kinds["coupon_available"]["text"] == "Coupon available: 10% off hotpot"
    assert item["coupons"] == [{"id": offer.pk, "name": "10% off hotpot", "description": "Platform campaign"}]


@pytest.mark.django_db
def test_popular_with_travellers_from_your_city(world, active_als):
    traveller = world.hotpot_lovers[1]  # odd index: never went to Davos
    body = client_for(traveller).get(URL, {"city": "davos", "vertical": "restaurant", "limit": 3}).json()
    top = body["results"][0]
    assert top["merchant"]["id"] in {m.pk for m in world.davos_hotpot}
    texts = [r["text"] for r in top["reasons"] if r["kind"] == "popular_with_travellers"]
    assert texts == ["Popular in Davos with travellers from Hangzhou"]


# --- Cold start and fallbacks -------------------------------------------------------------------------
@pytest.mark.django_db
def test_no_active_model_falls_back_with_its_source(world):
    user = world.hotpot_lovers[1]
    body = client_for(user).get(URL, {"city": "hangzhou", "limit": 4}).json()
    assert body["source"] == "fallback:content+popularity"
    assert body["fallback_reason"] == "no_active_model" and body["model_version"] is None
    # The history still speaks through content: hotpot places first.
    assert set(ids(body)) <= {m.pk for m in world.hz_hotpot}


@pytest.mark.django_db
def test_new_user_without_preferences_gets_popularity(world, active_als):
    newcomer = UserFactory()
    body = client_for(newcomer).get(URL, {"city": "hangzhou", "limit": 50}).json()
    assert body["source"] == "fallback:popularity" and body["fallback_reason"] == "user_unknown_to_model"
    counts = {m.pk: m.interactions.values("user").distinct().count() for m in Merchant.objects.all()}
    got = [counts[i] for i in ids(body)]
    assert got == sorted(got, reverse=True) and got[0] > 0
    assert any(r["kind"] == "popular" for r in body["results"][0]["reasons"])


@pytest.mark.django_db
def test_new_user_with_onboarding_preferences_gets_content_matches(world, active_als):
    newcomer = UserFactory(preferences=["sushi"])
    body = client_for(newcomer).get(URL, {"city": "hangzhou", "limit": 5}).json()
    assert body["source"] == "fallback:content+popularity"
    assert set(ids(body)) <= {m.pk for m in world.hz_sushi}
    first = body["results"][0]
    assert first["via"] == "content"
    assert {"kind": "matches_your_interests", "text": "Matches your interest in sushi", "merchant_id": None,
            "count": None} in first["reasons"]


@pytest.mark.django_db
def test_new_merchant_without_interactions_is_recommended_through_content(world, active_als):
    newcomer = MerchantFactory(name="Brand New Hotpot", description="Hotpot place")
    newcomer.categories.add(world.cats["hotpot"])
    user = world.hotpot_lovers[1]
    body = client_for(user).get(URL, {"city": "hangzhou", "limit": 5}).json()
    assert body["source"] == source(active_als)
    item = next(r for r in body["results"] if r["merchant"]["id"] == newcomer.pk)
    assert item["via"] == "content"
    assert any(r["kind"] == "new_merchant" for r in item["reasons"])
    # A sushi lover is not offered the new hotpot place.
    body = client_for(world.sushi_lovers[1]).get(URL, {"city": "hangzhou", "limit": 5}).json()
    assert newcomer.pk not in ids(body)


@pytest.mark.django_db
def test_user_unknown_to_the_model_with_fresh_interactions_is_placed_by_recalculation(world, active_als):
    newcomer = UserFactory()
    for m in world.hz_sushi[:3]:
        interact(newcomer, m)
    client = client_for(newcomer)
    body = client.get(URL, {"city": "hangzhou", "limit": 3}).json()
    # Not in the activation's batch: scored live, and the miss schedules their list.
    assert body["source"] == source(active_als, materialised=False) and body["fallback_reason"] == "list_not_built"
    assert set(ids(body)) <= {m.pk for m in world.hz_sushi[3:]}
    again = client.get(URL, {"city": "hangzhou", "limit": 3}).json()
    assert again["source"] == source(active_als) and again["fallback_reason"] is None
    assert ids(again) == ids(body)


# --- Near-real-time profile and hot reload -------------------------------------------------------------
@pytest.mark.django_db
def test_new_interaction_changes_the_next_response_without_retraining(world, active_als,
                                                                      django_capture_on_commit_callbacks):
    from recommender.services import interaction_record

    user = world.sushi_lovers[1]
    client = client_for(user)
    before = client.get(URL, {"city": "hangzhou", "limit": 3}).json()
    assert set(ids(before)) <= {m.pk for m in world.hz_sushi}
    with django_capture_on_commit_callbacks(execute=True):
        for i, m in enumerate(world.hz_hotpot[:6]):
            for j in range(3):
                interaction_record(user_id=user.pk, merchant_id=m.pk, kind="payment", source=f"payment:t{i}-{j}")
    after = client.get(URL, {"city": "hangzhou", "limit": 3}).json()
    assert after["source"] == source(active_als)
    assert set(ids(after)) & {m.pk for m in world.hz_hotpot}


@pytest.mark.django_db
def test_user_vector_refresh_caches_a_recalculated_vector(world, active_als):
    from django.core.cache import cache

    user = world.sushi_lovers[1]
    assert serving.user_vector_refresh(user.pk) is True
    assert cache.get(f"recommender:uvec:{active_als.pk}:{user.pk}") is not None
    assert serving.user_vector_refresh(UserFactory().pk) is False


@pytest.mark.django_db
def test_a_trained_and_activated_version_is_served_and_a_new_activation_replaces_it(world, monkeypatch):
    """End to end: the training service trains and registers, the registry activates, the API serves that
    version; a later activation is picked up without a restart, each artifact loaded once."""
    from recommender import loader

    loads = []
    original = loader.load_artifact
    monkeypatch.setattr(loader, "load_artifact", lambda *a, **kw: loads.append(a) or original(*a, **kw))
    client = client_for(world.hotpot_lovers[1])
    assert client.get(URL, {"city": "hangzhou"}).json()["fallback_reason"] == "no_active_model"

    first = activate(train())
    for _ in range(3):
        body = client.get(URL, {"city": "hangzhou"}).json()
        assert body["source"] == f"materialised:als:v{first.pk}" and body["model_version"] == first.pk
    assert len(loads) == 1

    second = train("itemknn", {"K": 20, "similarity": "cosine"})
    # Trained but not yet activated: still the first.
    assert client.get(URL, {"city": "hangzhou"}).json()["model_version"] == first.pk
    activate(second)
    body = client.get(URL, {"city": "hangzhou", "limit": 3}).json()
    assert body["source"] == f"materialised:itemknn:v{second.pk}" and body["model_version"] == second.pk
    assert set(ids(body)) <= {m.pk for m in world.hz_hotpot}
    client.get(URL, {"city": "hangzhou"})
    assert len(loads) == 2


@pytest.mark.django_db
def test_a_stale_read_never_hides_an_activation_from_other_processes(world, monkeypatch):
    """The active version id is shared through the cache: a process that read the registry just before an
    activation committed must not overwrite the id the activation published."""
    from django.core.cache import cache

    from recommender import loader
    from recommender.services import ACTIVE_VERSION_CACHE_KEY

    activate(train())
    second = train()
    cache.delete(ACTIVE_VERSION_CACHE_KEY)
    original = loader.active_model_version

    def read_then_activation_commits():
        stale = original()  # this process reads v1 ...
        activate(second)  # ... then another process's activation commits and publishes v2
        return stale

    monkeypatch.setattr(loader, "active_model_version", read_then_activation_commits)
    assert loader.active_version_id() == second.pk
    monkeypatch.undo()
    assert client_for(world.hotpot_lovers[1]).get(URL).json()["model_version"] == second.pk


@pytest.mark.django_db
def test_fresh_signals_are_weighted_exactly_like_training(world, settings):
    """The near-real-time profile and a retrain agree: the confidences serving computes for a user equal
    that user's row of the matrix the model was trained on, kind weights from the same settings."""
    from recommender import loader
    from recommender.serving.selectors import user_signals

    settings.RECOMMENDER_KIND_WEIGHTS = {"payment": 7.0, "view": 0.25}
    user = world.hotpot_lovers[2]
    interact(user, world.hz_sushi[0], kind="view", n=3)
    interact(user, world.hz_sushi[1], kind="refund")  # a refund alone: no evidence, dropped by both
    version = activate(train())
    loaded = loader.active_model()
    row = loaded.matrix[loaded.user_index[user.pk]]
    trained = dict(zip(loaded.item_ids[row.indices].tolist(), row.data.tolist(), strict=True))
    # Training measures ages from its newest interaction; serving from the moment asked.
    signals = user_signals(user.pk, limit=500, now=version.data_to)
    served = dict(zip(signals.merchant_ids.tolist(), signals.confidences.tolist(), strict=True))
    assert served.keys() == trained.keys() and world.hz_sushi[1].pk not in served
    assert served == pytest.approx(trained, rel=1e-5)
    assert served[world.hz_sushi[0].pk] == pytest.approx(0.75, rel=0.02)  # 3 views x 0.25, barely decayed
    vector = serving._recalculate(loaded, signals)
    assert np.allclose(vector, loaded.model.recalculate_user(row)[0], atol=1e-5)


# --- Bad input -------------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(("params", "code"), [
    ({"vertical": "casino"}, "unknown_vertical"),
    ({"vertical": "city_service"}, "unknown_vertical"),
    ({"city": "atlantis"}, "unknown_city"),
    ({"lat": 30.2, "lon": 120.1, "radius_m": 10_000_000}, "radius_too_large"),
    ({"limit": 500}, "limit_too_large"),
    ({"limit": 0}, "validation_error"),
    ({"lat": "north", "lon": 120.1}, "validation_error"),
    ({"lat": 95, "lon": 120.1}, "invalid_latitude"),
    ({"lat": 30, "lon": 181}, "invalid_longitude"),
    ({"lat": 30.2}, "location_incomplete"),
    ({"radius_m": 500}, "location_incomplete"),
    ({"lat": 30.2, "lon": 120.1, "radius_m": -5}, "invalid_radius"),
    ({"open_now": "maybe"}, "validation_error"),
])
def test_bad_input_is_a_4xx_in_the_error_shape(world, params, code):
    from tests.superapp.test_api_conventions import assert_error_shape

    assert_error_shape(client_for(world.hotpot_lovers[0]).get(URL, params), 400, code)


@pytest.mark.django_db
def test_recommendations_need_authentication(api_client):
    assert api_client.get(URL).status_code == 401


@pytest.mark.django_db
def test_travel_time_from_the_traffic_app_when_a_point_is_given(world, active_als, monkeypatch):
    from recommender.serving import integrations

    calls = []

    def fake_eta(*, city, origin, destinations):
        calls.append((city.slug, origin, len(destinations)))
        return [19.6] + [None] * (len(destinations) - 1)

    monkeypatch.setattr(integrations, "eta_minutes_many", fake_eta)
    hz = city("hangzhou")
    body = client_for(world.hotpot_lovers[1]).get(URL, {"lat": hz.latitude, "lon": hz.longitude, "limit": 3}).json()
    assert calls == [("hangzhou", (hz.latitude, hz.longitude), 3)]
    first, second = body["results"][:2]
    assert first["eta_minutes"] == 19.6 and second["eta_minutes"] is None
    assert {"kind": "travel_time", "text": "About 20 min by car now", "merchant_id": None,
            "count": None} in first["reasons"]
    # Without a point there is no origin to drive from.
    calls.clear()
    client_for(world.hotpot_lovers[1]).get(URL, {"city": "hangzhou"})
    assert calls == []


def _token_client(user):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.mark.django_db
def test_a_cached_page_costs_at_most_the_user_row(world, active_als, settings, django_assert_num_queries):
    """Bearer token as the app sends it. A page from the materialised list reads everything else from caches
    (catalogue, cards, campaigns, trips, coupons, friends): one query for the user row on the embedded
    default, none when the accounts cache holds the row (Redis), for 3 results or 10."""
    user = world.hotpot_lovers[1]
    user.current_city = city("hangzhou")
    user.save()
    client = _token_client(user)
    assert client.get(URL, {"limit": 20}).json()["source"] == source(active_als)  # warms the caches
    for limit in (3, 10):
        with django_assert_num_queries(CACHED_PAGE_QUERIES_WITH_REDIS if settings.REDIS_URL else CACHED_PAGE_QUERIES):
            body = client.get(URL, {"limit": limit}).json()
        assert len(body["results"]) == limit and body["city"]["slug"] == "hangzhou"
        assert body["source"] == source(active_als)
    user.is_active = False
    user.save()
    assert client.get(URL).status_code == 401  # still simplejwt's full check


@pytest.mark.redis
@pytest.mark.django_db
def test_a_cached_page_costs_no_query_when_the_user_row_is_cached(world, active_als, django_assert_num_queries):
    user = world.hotpot_lovers[1]
    client = _token_client(user)
    client.get(URL, {"city": "hangzhou"})
    with django_assert_num_queries(0):
        body = client.get(URL, {"city": "hangzhou", "vertical": "restaurant", "open_now": "false"}).json()
    assert body["source"] == source(active_als) and body["results"]


@pytest.mark.django_db
def test_a_miss_costs_a_fixed_number_of_queries_and_schedules_the_list(world, active_als, settings, monkeypatch,
                                                                      django_assert_num_queries):
    """No list yet: the live path reads the user's history once, the rest still comes from caches; the
    list's build is enqueued once however many misses arrive before it runs."""
    from django.core.cache import cache

    from recommender.serving import tasks
    from recommender.serving.materialise import list_key

    user = world.hotpot_lovers[1]
    client = _token_client(user)
    client.get(URL, {"city": "hangzhou"})  # warms the caches
    cache.delete(list_key(active_als.pk, user.pk))
    queued = []
    monkeypatch.setattr(tasks.candidate_list_build, "delay", queued.append)
    for _ in range(2):
        with django_assert_num_queries(MISS_QUERIES + (0 if settings.REDIS_URL else 1)):
            body = client.get(URL, {"city": "hangzhou"}).json()
        assert body["source"] == source(active_als, materialised=False)
        assert body["fallback_reason"] == "list_not_built" and body["results"]
    assert queued == [user.pk]


@pytest.mark.django_db
def test_when_no_allowed_merchant_is_in_the_model_the_fallback_says_so(world, active_als):
    newcomer = MerchantFactory(name="Silk Shop", vertical="shopping", description="Silk scarves")
    body = client_for(world.hotpot_lovers[1]).get(URL, {"city": "hangzhou", "vertical": "shopping"}).json()
    assert body["source"] == "fallback:popularity" and body["fallback_reason"] == "candidates_unknown_to_model"
    assert ids(body) == [newcomer.pk]


@pytest.mark.redis
@pytest.mark.django_db
def test_a_cached_page_makes_one_redis_round_trip(world, active_als, monkeypatch, settings):
    """The user row behind the token and the page's own keys (active version, list, vector, trips, coupons,
    friends) come in one MGET; a deactivated user is still refused on their next request."""
    import redis

    settings.RECOMMENDER_CATALOGUE_CHECK_S = 3600  # the per-process copies' own checks (once a second) aside
    user = world.hotpot_lovers[1]
    client = _token_client(user)
    client.get(URL, {"city": "hangzhou"})  # warms the caches
    commands = []
    execute = redis.Redis.execute_command

    def counting(self, *args, **options):
        commands.append(args[:2])
        return execute(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    body = client.get(URL, {"city": "hangzhou"}).json()
    assert body["source"] == source(active_als) and body["results"]
    assert [command for command, _ in commands] == ["MGET"], commands
    user.is_active = False
    user.save()
    assert client.get(URL, {"city": "hangzhou"}).status_code == 401
