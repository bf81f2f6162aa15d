from datetime import date
from zoneinfo import ZoneInfo

import pytest

from merchants.models import Merchant, Trip
from tests.conftest import client_for
from tests.factories import MerchantFactory, UserFactory, city
from tests.recommender.serving.conftest import source
from tests.superapp.test_api_conventions import assert_error_shape

URL = "/api/v1/recommendations/destination"


def section(body, vertical):
    return next(s for s in body["sections"] if s["vertical"] == vertical)


def ids(results):
    return [r["merchant"]["id"] for r in results]


def trip_to_davos(user):
    from django.utils import timezone

    davos = city("davos")
    today = timezone.localdate(timezone=ZoneInfo(davos.time_zone))  # trip dates are local to the destination
    return Trip.objects.create(user=user, destination=davos, starts_on=today, ends_on=today)


@pytest.mark.django_db
def test_traveller_with_no_history_there_gets_their_factors_over_the_destination(world, active_als):
    traveller = world.hotpot_lovers[1]  # a hotpot lover who has never been to Davos
    assert not traveller.interactions.filter(merchant__city__slug="davos").exists()
    trip = trip_to_davos(traveller)
    body = client_for(traveller).get(URL, {"trip": trip.pk}).json()
    assert body["city"]["slug"] == "davos" and body["trip"]["id"] == trip.pk
    assert body["is_traveller"] is True and body["local_signals"] == 0
    assert [s["vertical"] for s in body["sections"]] == ["restaurant", "leisure", "travel", "shopping"]
    restaurants = section(body, "restaurant")
    assert restaurants["source"] == source(active_als)
    # What people like them liked there: the Davos hotpot places first; never the one without the wallet.
    assert ids(restaurants["results"])[0] in {m.pk for m in world.davos_hotpot}
    every = [r["merchant"] for s in body["sections"] for r in s["results"]]
    assert every and all(m["city"]["slug"] == "davos" and m["accepts_wallet"] for m in every)
    assert world.davos_no_wallet.pk not in {m["id"] for m in every}
    assert ids(section(body, "leisure")["results"])[0] == world.davos_spa[0].pk


@pytest.mark.django_db
def test_without_a_vector_the_destination_uses_content_then_traveller_popularity(world):
    # No active model: a hotpot lover is matched by content to what they like at home.
    traveller = world.hotpot_lovers[1]
    body = client_for(traveller).get(URL, {"city": "davos"}).json()
    restaurants = section(body, "restaurant")
    assert restaurants["source"] == "fallback:content+popularity"
    assert restaurants["fallback_reason"] == "no_active_model"
    assert ids(restaurants["results"])[0] in {m.pk for m in world.davos_hotpot}
    # Someone we know nothing about gets what travellers liked in Davos.
    stranger = UserFactory()
    body = client_for(stranger).get(URL, {"city": "davos"}).json()
    restaurants = section(body, "restaurant")
    assert restaurants["source"] == "fallback:travellers_popularity"
    counts = {m.pk: m.interactions.values("user").distinct().count() for m in Merchant.objects.all()}
    got = [counts[i] for i in ids(restaurants["results"])]
    assert got == sorted(got, reverse=True) and got[0] > 0


@pytest.mark.django_db
def test_destination_defaults_to_the_trip_under_way_and_lists_coupons(world, active_als):

    traveller = world.sushi_lovers[1]
    trip_to_davos(traveller)

    from tests.payments.factories import campaign

    watches = world.davos_watches[0]
    offer = campaign(name="CHF 10 off for travellers", currency=watches.currency, merchants=[watches],
                     travellers_only=True)
    body = client_for(traveller).get(URL).json()
    assert body["city"]["slug"] == "davos"
    item = next(r for r in section(body, "shopping")["results"] if r["merchant"]["id"] == watches.pk)
    assert item["coupons"] == [{"id": offer.pk, "name": "CHF 10 off for travellers", "description": ""}]
    assert any(r["kind"] == "coupon_available" for r in item["reasons"])


@pytest.mark.django_db
def test_local_signals_count_the_users_interactions_at_the_destination(world, active_als):
    traveller = world.hotpot_lovers[0]  # went to Davos: hotpot, spa, watches
    body = client_for(traveller).get(URL, {"city": "davos"}).json()
    assert body["local_signals"] == 3


@pytest.mark.django_db
def test_destination_bad_input(world):
    client = client_for(world.hotpot_lovers[1])
    assert_error_shape(client.get(URL), 400, "no_destination")
    assert_error_shape(client.get(URL, {"city": "atlantis"}), 400, "unknown_city")
    assert_error_shape(client.get(URL, {"per_vertical": 99, "city": "davos"}), 400, "limit_too_large")
    assert_error_shape(client.get(URL, {"trip": "x"}), 400, "validation_error")
    others = trip_to_davos(world.sushi_lovers[0])
    assert_error_shape(client.get(URL, {"trip": others.pk}), 404, "trip_not_found")
    mine = trip_to_davos(world.hotpot_lovers[1])
    assert_error_shape(client.get(URL, {"trip": mine.pk, "city": "davos"}), 400, "destination_conflict")


# --- Similar merchants ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_similar_merchants_by_item_factors(world, active_als):
    target = world.hz_hotpot[0]
    body = client_for(world.sushi_lovers[0]).get(f"/api/v1/merchants/{target.pk}/similar", {"limit": 5}).json()
    assert body["source"] == source(active_als, materialised=False)
    got = ids(body["results"])
    assert len(got) == 5 and target.pk not in got
    assert set(got) <= {m.pk for m in world.hz_hotpot}


@pytest.mark.django_db
def test_similar_merchants_in_another_city_for_travellers(world, active_als):
    target = world.hz_sushi[0]
    body = client_for(world.sushi_lovers[0]).get(f"/api/v1/merchants/{target.pk}/similar",
                                                 {"city": "davos", "limit": 3}).json()
    got = ids(body["results"])
    assert len(got) == 3 and {m.city.slug for m in Merchant.objects.filter(pk__in=got)} == {"davos"}
    assert set(got) & {m.pk for m in world.davos_sushi}


@pytest.mark.django_db
def test_similar_merchants_fall_back_to_content_for_a_new_merchant(world, active_als):
    newcomer = MerchantFactory(name="Fresh Sushi", description="Sushi place")
    newcomer.categories.add(world.cats["sushi"])
    body = client_for(world.sushi_lovers[0]).get(f"/api/v1/merchants/{newcomer.pk}/similar", {"limit": 4}).json()
    assert body["source"] == "fallback:content" and body["model_version"] is None
    assert set(ids(body["results"])) <= {m.pk for m in world.hz_sushi}
    assert all(r["via"] == "content" for r in body["results"])


@pytest.mark.django_db
def test_similar_merchants_bad_input(world):
    client = client_for(world.sushi_lovers[0])
    assert_error_shape(client.get("/api/v1/merchants/999999/similar"), 404, "merchant_not_found")
    target = world.hz_sushi[0].pk
    assert_error_shape(client.get(f"/api/v1/merchants/{target}/similar", {"limit": 1000}), 400, "limit_too_large")
    assert_error_shape(client.get(f"/api/v1/merchants/{target}/similar", {"city": "nowhere"}), 400, "unknown_city")
    # Found by the hostile-value fuzz (fuzz_api): ids and limits beyond 64 bits were 500s.
    assert_error_shape(client.get(f"/api/v1/merchants/{10**30}/similar"), 404, "merchant_not_found")
    assert_error_shape(client.get(f"/api/v1/merchants/{target}/similar", {"limit": 10**30}), 400, "limit_too_large")
    assert_error_shape(client.get("/api/v1/recommendations", {"limit": 10**30}), 400, "limit_too_large")


@pytest.mark.django_db
def test_interactions_unknown_to_the_model_at_destination_are_still_counted(world, active_als,
                                                                          django_capture_on_commit_callbacks):
    from recommender.services import interaction_record

    traveller = world.sushi_lovers[1]
    with django_capture_on_commit_callbacks(execute=True):  # refreshes the vector and the list
        interaction_record(user_id=traveller.pk, merchant_id=world.davos_sushi[2].pk, kind="payment",
                           source="payment:davos")
    body = client_for(traveller).get(URL, {"city": "davos", "exclude_seen": "true"}).json()
    assert body["local_signals"] == 1
    assert world.davos_sushi[2].pk not in ids(section(body, "restaurant")["results"])


# --- The trip under way, from the cached trips ---------------------------------------------------------
@pytest.mark.django_db
def test_destination_reads_the_trip_under_way_from_the_cached_trips(world, active_als, settings,
                                                                      django_assert_num_queries):
    """Without `trip` or `city` the page finds the trip under way in the user's cached trips, as the services
    selector would, and shows it as `TripSerializer` does; a changed trip shows at once (its save drops the
    cache)."""
    import json

    from merchants.serializers import TripSerializer
    from tests.recommender.serving.test_recommendations import _token_client

    traveller = world.sushi_lovers[1]
    trip = trip_to_davos(traveller)
    trip.title = "Ski week"
    trip.save()
    client = _token_client(traveller)
    client.get(URL)  # warms the caches
    with django_assert_num_queries(0 if settings.REDIS_URL else 1):  # the user row on the embedded default
        body = client.get(URL).json()
    assert body["trip"] == json.loads(json.dumps(TripSerializer(Trip.objects.get(pk=trip.pk)).data))
    assert body["city"]["slug"] == "davos" and body["trip"]["status"] == "in_progress"
    trip.title = "Watch hunting"
    trip.save()
    assert client.get(URL).json()["trip"]["title"] == "Watch hunting"
    trip.delete()
    assert_error_shape(client.get(URL), 400, "no_destination")


@pytest.mark.django_db
def test_trip_card_is_the_trip_serializers_shape(world):
    import json

    from merchants.serializers import TripSerializer
    from recommender.serving.apis import trip_card

    trip = trip_to_davos(world.sushi_lovers[1])
    assert trip_card(trip) == json.loads(json.dumps(TripSerializer(trip).data))


@pytest.mark.django_db
def test_a_page_between_a_trip_write_and_its_commit_leaves_no_old_trips_cached(django_capture_on_commit_callbacks):
    """The trips cache is dropped when a trip is saved and again when the transaction commits: a page served in
    between (another connection, still seeing the old rows) may have cached them again."""
    from django.core.cache import cache

    from recommender.serving.context import trips_key

    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        trip = Trip.objects.create(user=user, destination=city("davos"), starts_on=date(2026, 12, 1),
                                   ends_on=date(2026, 12, 3))
        assert cache.get(trips_key(user.pk)) is None
        cache.set(trips_key(user.pk), [], 300)  # what a concurrent page cached from the rows before the commit
    assert cache.get(trips_key(user.pk)) is None
    trip.delete()
