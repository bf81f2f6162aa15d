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


@pytest.mark.redis
@pytest.mark.django_db
def test_warmed_rows_are_served_without_a_query(django_assert_num_queries):
    users = UserFactory.create_batch(3)
    with django_assert_num_queries(1):
        assert sorted(u.pk for u in authentication.users_cache_warm([u.pk for u in users])) == sorted(
            u.pk for u in users)
    with django_assert_num_queries(0):
        for user in users:
            assert authentication.user_get_cached(user.pk).username == user.username


@pytest.mark.django_db
def test_warming_without_redis_only_reads_the_rows():
    users = UserFactory.create_batch(2)
    assert {u.pk for u in authentication.users_cache_warm([u.pk for u in users])} == {u.pk for u in users}
    assert authentication.user_get_cached(users[0].pk) == users[0]


@pytest.mark.redis
@pytest.mark.django_db
def test_a_row_warmed_before_a_concurrent_save_is_never_served(monkeypatch):
    """The warm reads the generations, then the (old) rows; meanwhile a writer deactivates one user. The
    old row is stored under the generation the save bumped: the next request refuses."""
    user, other = UserFactory(), UserFactory()
    real = authentication._from_database_many

    def read_then_concurrent_save(user_ids):
        rows = real(user_ids)
        writer = User.objects.get(pk=user.pk)
        writer.is_active = False
        writer.save(update_fields=["is_active"])
        return rows

    monkeypatch.setattr(authentication, "_from_database_many", read_then_concurrent_save)
    authentication.users_cache_warm([user.pk, other.pk])
    monkeypatch.setattr(authentication, "_from_database_many", real)
    assert_error_shape(bearer(user).get("/api/v1/me"), 401, "user_inactive")
    assert bearer(other).get("/api/v1/me").status_code == 200


# --- Verified tokens are remembered by their text until they expire -----------------------------------------
def _decodes(monkeypatch) -> list:
    calls = []
    real = authentication.JWTAuthentication.get_validated_token

    def counted(self, raw_token):
        calls.append(raw_token)
        return real(self, raw_token)

    monkeypatch.setattr(authentication.JWTAuthentication, "get_validated_token", counted)
    return calls


@pytest.mark.django_db
def test_a_token_is_verified_once_per_process(monkeypatch):
    calls = _decodes(monkeypatch)
    user = UserFactory()
    client = bearer(user)
    for _ in range(3):
        assert client.get("/api/v1/me").status_code == 200
    assert len(calls) == 1
    assert bearer(user).get("/api/v1/me").status_code == 200  # another token (another jti): verified itself
    assert len(calls) == 2


@pytest.mark.django_db
def test_a_remembered_token_is_refused_once_it_expires(monkeypatch):
    user = UserFactory()
    token = AccessToken.for_user(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/me").status_code == 200  # verified and remembered
    expiry = token.payload["exp"]
    monkeypatch.setattr(authentication.time, "time", lambda: expiry + 1)
    monkeypatch.setattr("jwt.api_jwt.datetime", _clock_at(expiry + 1))  # PyJWT's own clock, for the re-verification
    response = client.get("/api/v1/me")
    assert_error_shape(response, 401, "token_not_valid")


def _clock_at(epoch: float):
    from datetime import UTC, datetime

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(epoch, tz or UTC)

    return Clock


@pytest.mark.django_db
def test_a_tampered_token_is_refused_after_the_genuine_one_was_remembered():
    user, other = UserFactory(), UserFactory()
    token = str(AccessToken.for_user(user))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/me").status_code == 200
    header, _payload, signature = token.split(".")
    forged_payload = str(AccessToken.for_user(other)).split(".")[1]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{forged_payload}.{signature}")
    assert_error_shape(client.get("/api/v1/me"), 401, "token_not_valid")


@pytest.mark.django_db
def test_a_remembered_token_still_fails_after_a_password_change():
    user = UserFactory()
    user.set_password("old-pass-2026-x")
    user.save()
    client = bearer(user)
    assert client.get("/api/v1/me").status_code == 200
    user.set_password("new-pass-2026-y")
    user.save()
    assert_error_shape(client.get("/api/v1/me"), 401, "password_changed")
