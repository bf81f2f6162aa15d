"""Trips make the app treat the user as a traveller at the destination, by the destination's local dates."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from merchants.models import Trip
from merchants.selectors import active_trip, user_current_city, user_is_traveller
from tests.factories import UserFactory, city
from tests.superapp.test_api_conventions import assert_error_shape


@pytest.mark.django_db
def test_active_trip_follows_local_dates_at_the_destination():
    user = UserFactory()  # lives in Hangzhou
    trip = Trip.objects.create(user=user, destination=city("new-york"), starts_on=date(2026, 12, 1),
                               ends_on=date(2026, 12, 3))
    # 2026-12-01 03:00 UTC is still 30 November in New York: not yet there.
    assert active_trip(user, datetime(2026, 12, 1, 3, 0, tzinfo=UTC)) is None
    assert user_current_city(user, datetime(2026, 12, 1, 3, 0, tzinfo=UTC)).slug == "hangzhou"
    assert active_trip(user, datetime(2026, 12, 1, 6, 0, tzinfo=UTC)) == trip
    assert user_current_city(user, datetime(2026, 12, 1, 6, 0, tzinfo=UTC)).slug == "new-york"
    assert user_is_traveller(user, datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    # 2026-12-04 03:00 UTC is 3 December 22:00 in New York: still on the trip.
    assert active_trip(user, datetime(2026, 12, 4, 3, 0, tzinfo=UTC)) == trip
    assert active_trip(user, datetime(2026, 12, 4, 6, 0, tzinfo=UTC)) is None
    trip.status = "cancelled"
    trip.save()
    assert active_trip(user, datetime(2026, 12, 2, 12, 0, tzinfo=UTC)) is None


@pytest.mark.django_db
def test_plan_a_trip_and_see_my_location(auth_client, user):
    today = timezone.now().date()
    response = auth_client.post("/api/v1/trips", {"destination": "davos", "starts_on": str(today - timedelta(days=1)),
                                                  "ends_on": str(today + timedelta(days=3))}, format="json")
    assert response.status_code == 201, response.content
    location = auth_client.get("/api/v1/me/location").json()
    assert location["city"]["slug"] == "davos" and location["is_traveller"] is True
    assert location["trip"]["id"] == response.json()["id"]
    assert auth_client.post(f"/api/v1/trips/{response.json()['id']}/cancel").json()["status"] == "cancelled"
    assert auth_client.get("/api/v1/me/location").json()["city"]["slug"] == "hangzhou"


@pytest.mark.django_db
def test_trip_bad_input_writes_nothing(auth_client):
    today = timezone.now().date()
    cases = [
        ({"destination": "atlantis", "starts_on": str(today), "ends_on": str(today)}, "unknown_city"),
        ({"destination": "paris", "starts_on": str(today + timedelta(days=3)), "ends_on": str(today)},
         "invalid_trip_dates"),
        ({"destination": "paris", "starts_on": "2001-01-01", "ends_on": "2001-01-05"}, "trip_in_past"),
    ]
    for body, code in cases:
        assert_error_shape(auth_client.post("/api/v1/trips", body, format="json"), 400, code)
    assert not Trip.objects.exists()


@pytest.mark.django_db
def test_trips_of_others_are_404(auth_client, other_user):
    trip = Trip.objects.create(user=other_user, destination=city("paris"), starts_on=date(2030, 1, 1),
                               ends_on=date(2030, 1, 2))
    assert_error_shape(auth_client.get(f"/api/v1/trips/{trip.pk}"), 404)
    assert_error_shape(auth_client.post(f"/api/v1/trips/{trip.pk}/cancel"), 404)
    assert auth_client.get("/api/v1/trips").json()["results"] == []


@pytest.mark.django_db
def test_trip_status_is_right_at_read_time(auth_client, user):
    from merchants.selectors import trip_status

    today = timezone.now().date()
    davos = city("davos")
    past = Trip.objects.create(user=user, destination=davos, starts_on=today - timedelta(days=9),
                               ends_on=today - timedelta(days=3))
    now = Trip.objects.create(user=user, destination=davos, starts_on=today - timedelta(days=1),
                              ends_on=today + timedelta(days=1))
    later = Trip.objects.create(user=user, destination=davos, starts_on=today + timedelta(days=5),
                                ends_on=today + timedelta(days=6))
    listed = {t["id"]: t["status"] for t in auth_client.get("/api/v1/trips").json()["results"]}
    assert listed == {past.pk: "completed", now.pk: "in_progress", later.pk: "planned"}
    assert auth_client.get(f"/api/v1/trips/{now.pk}").json()["status"] == "in_progress"
    assert auth_client.post(f"/api/v1/trips/{now.pk}/cancel").json()["status"] == "cancelled"
    # A trip that has ended cannot be cancelled after the fact: 409, and it still reads completed.
    assert_error_shape(auth_client.post(f"/api/v1/trips/{past.pk}/cancel"), 409, "trip_completed")
    past.refresh_from_db()
    assert past.status == "planned" and auth_client.get(f"/api/v1/trips/{past.pk}").json()["status"] == "completed"
    assert auth_client.post(f"/api/v1/trips/{later.pk}/cancel").json()["status"] == "cancelled"
    # The same local-date rule as active_trip: New York's 1 December starts at 05:00 UTC.
    ny = Trip(user=user, destination=city("new-york"), starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 3))
    assert trip_status(ny, at=datetime(2026, 12, 1, 3, 0, tzinfo=UTC)) == "planned"
    assert trip_status(ny, at=datetime(2026, 12, 1, 6, 0, tzinfo=UTC)) == "in_progress"
    assert trip_status(ny, at=datetime(2026, 12, 4, 6, 0, tzinfo=UTC)) == "completed"


@pytest.mark.django_db
def test_user_location_is_the_one_traveller_rule_for_display(django_assert_num_queries):
    """`user_location`: the trip's destination, else the profile's current city, else home; a traveller when
    that is not home. `/me` (profile only) and the recommender's context use its comparison, `away_from_home`."""
    from merchants.selectors import away_from_home, user_location

    user = UserFactory()  # lives in Hangzhou, current city Hangzhou
    at = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    with django_assert_num_queries(1):  # the trip lookup; the cities are the user's own relations, loaded
        location = user_location(user, at)
    assert (location.city.slug, location.trip, location.is_traveller) == ("hangzhou", None, False)
    user.current_city = city("davos")
    assert user_location(user, at).is_traveller and user.is_traveller
    user.current_city = None
    assert user_location(user, at).city.slug == "hangzhou" and not user.is_traveller
    trip = Trip.objects.create(user=user, destination=city("new-york"), starts_on=date(2026, 12, 1),
                               ends_on=date(2026, 12, 3))
    location = user_location(user, at)
    assert (location.city.slug, location.trip, location.is_traveller) == ("new-york", trip, True)
    assert not user.is_traveller  # by the profile alone
    user.home_city = None
    assert not user_location(user, at).is_traveller
    assert [away_from_home(home_city_id=h, city_id=c) for h, c in [(1, 2), (1, 1), (None, 2), (1, None)]] == [
        True, False, False, False]
