from datetime import timedelta

import pytest
from django.utils import timezone

from superapp.accounts.models import User
from superapp.idempotency import idempotency_keys_expire
from superapp.models import IdempotencyKey
from tests.conftest import client_for
from tests.superapp.test_api_conventions import assert_error_shape

URL = "/api/v1/test/things"
pytestmark = pytest.mark.urls("tests.superapp.idempotency_urls")


@pytest.mark.django_db
def test_missing_key_is_rejected_and_nothing_runs(auth_client):
    assert_error_shape(auth_client.post(URL, {"name": "t1"}, format="json"), 400, "idempotency_key_missing")
    assert not User.objects.filter(username="t1").exists()


@pytest.mark.django_db
def test_replay_returns_first_response_and_runs_once(auth_client):
    first = auth_client.post(URL, {"name": "t2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = auth_client.post(URL, {"name": "t2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert User.objects.filter(username="t2").count() == 1


@pytest.mark.django_db
def test_same_key_other_body_is_422(auth_client):
    auth_client.post(URL, {"name": "t3"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    reused = auth_client.post(URL, {"name": "t4"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert_error_shape(reused, 422, "idempotency_key_reused")
    assert not User.objects.filter(username="t4").exists()


@pytest.mark.django_db
def test_keys_are_per_user(auth_client, other_client):
    a = auth_client.post(URL, {"name": "t5"}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    b = other_client.post(URL, {"name": "t6"}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.django_db
def test_failed_request_is_not_stored_so_a_fixed_retry_runs(auth_client):
    assert auth_client.post(URL, {"name": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code == 400
    assert not IdempotencyKey.objects.filter(key="k-3").exists()


@pytest.mark.django_db
def test_expired_keys_are_removed_and_reusable(auth_client):
    auth_client.post(URL, {"name": "t7"}, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    IdempotencyKey.objects.filter(key="k-4").update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_keys_expire() == 1
    again = auth_client.post(URL, {"name": "t8"}, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert again.status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_execute_once(user, concurrently):
    def attempt(_):
        response = client_for(user).post(URL, {"name": "racer", "work_s": 0.2}, format="json",
                                         HTTP_IDEMPOTENCY_KEY="race-key")
        return response.status_code, response.json()

    results = concurrently(attempt, 8)
    assert all(not isinstance(r, Exception) for r in results), results
    assert User.objects.filter(username="racer").count() == 1
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1
