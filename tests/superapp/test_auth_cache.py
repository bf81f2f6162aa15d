"""Token authentication reads the user row from Redis (superapp.accounts.authentication): a changed,
deactivated or deleted user must be seen on the very next request, exactly as with a database read.
The plain tests run on both paths (database only without Redis); the `redis` ones pin the cache."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from superapp.accounts import authentication
from superapp.accounts.models import User
from tests.factories import UserFactory
from tests.superapp.test_api_conventions import assert_error_shape


def bearer(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.mark.django_db
def test_deactivated_user_is_refused_on_the_next_request():
    user = UserFactory()
    client = bearer(user)
    assert client.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me").status_code == 200  # served from the cache when there is one
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert_error_shape(client.get("/api/v1/me"), 401, "user_inactive")


@pytest.mark.django_db
def test_deleted_user_is_refused_on_the_next_request():
    user = UserFactory()
    client = bearer(user)
    assert client.get("/api/v1/me").status_code == 200
    user.delete()
    assert_error_shape(client.get("/api/v1/me"), 401, "user_not_found")


@pytest.mark.django_db
def test_profile_changes_show_at_once():
    user = UserFactory(display_name="Before")
    client = bearer(user)
    assert client.get("/api/v1/me").json()["display_name"] == "Before"
    assert client.patch("/api/v1/me", {"display_name": "After"}, format="json").status_code == 200
    assert client.get("/api/v1/me").json()["display_name"] == "After"


@pytest.mark.redis
@pytest.mark.django_db
def test_a_warm_request_does_not_read_the_user_row(django_assert_num_queries):
    user = UserFactory()
    assert authentication.user_get_cached(user.pk) == user  # miss: reads the database, stores the row
    with django_assert_num_queries(0):
        cached = authentication.user_get_cached(user.pk)
    assert (cached.pk, cached.username, cached.is_active, cached.home_city_id) == (
        user.pk, user.username, user.is_active, user.home_city_id)


@pytest.mark.redis
@pytest.mark.django_db
def test_a_row_read_before_a_concurrent_save_is_never_served(monkeypatch):
    """Reader: generation, then the (old) row; meanwhile a writer deactivates the user. The reader
    stores the old row under the old generation, which the save bumped: the next request refuses."""
    user = UserFactory()
    real = authentication._from_database

    def read_then_concurrent_save(user_id):
        row = real(user_id)
        writer = User.objects.get(pk=user_id)
        writer.is_active = False
        writer.save(update_fields=["is_active"])
        return row

    monkeypatch.setattr(authentication, "_from_database", read_then_concurrent_save)
    assert authentication.user_get_cached(user.pk).is_active is True  # this request started before the save
    monkeypatch.setattr(authentication, "_from_database", real)
    assert_error_shape(bearer(user).get("/api/v1/me"), 401, "user_inactive")


@pytest.mark.redis
@pytest.mark.django_db
def test_redis_outage_falls_back_to_the_database(monkeypatch):
    user = UserFactory()

    class Down:
        def mget(self, *keys):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(authentication, "_redis", lambda: Down())
    assert bearer(user).get("/api/v1/me").status_code == 200
