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


@pytest.fixture(params=["claimed first", "claimed last"])
def url(request):
    """Both ways of claiming the key (`@idempotent`, `@idempotent(claim_last=True)`) keep the same promises."""
    return URL if request.param == "claimed first" else "/api/v1/test/things-claimed-last"


@pytest.mark.django_db
def test_missing_key_is_rejected_and_nothing_runs(url, auth_client):
    assert_error_shape(auth_client.post(url, {"name": "t1"}, format="json"), 400, "idempotency_key_missing")
    assert not User.objects.filter(username="t1").exists()


@pytest.mark.django_db
def test_replay_returns_first_response_and_runs_once(url, auth_client):
    first = auth_client.post(url, {"name": "t2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = auth_client.post(url, {"name": "t2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert User.objects.filter(username="t2").count() == 1


@pytest.mark.django_db
def test_same_key_other_body_is_422(url, auth_client):
    auth_client.post(url, {"name": "t3"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    reused = auth_client.post(url, {"name": "t4"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert_error_shape(reused, 422, "idempotency_key_reused")
    assert not User.objects.filter(username="t4").exists()


@pytest.mark.django_db
def test_keys_are_per_user(url, auth_client, other_client):
    a = auth_client.post(url, {"name": "t5"}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    b = other_client.post(url, {"name": "t6"}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.django_db
def test_failed_request_is_not_stored_so_a_fixed_retry_runs(url, auth_client):
    assert auth_client.post(url, {"name": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code == 400
    assert not IdempotencyKey.objects.filter(key="k-3").exists()


@pytest.mark.django_db
def test_expired_keys_are_removed_and_reusable(url, auth_client):
    auth_client.post(url, {"name": "t7"}, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    IdempotencyKey.objects.filter(key="k-4").update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_keys_expire() == 1
    again = auth_client.post(url, {"name": "t8"}, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert again.status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_execute_once(user, concurrently, url):
    def attempt(_):
        response = client_for(user).post(url, {"name": "racer", "work_s": 0.2}, format="json",
                                         HTTP_IDEMPOTENCY_KEY="race-key")
        return response.status_code, response.json()

    results = concurrently(attempt, 8)
    assert all(not isinstance(r, Exception) for r in results), results
    assert User.objects.filter(username="racer").count() == 1
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1



@pytest.mark.django_db
def test_a_refusal_is_stored_and_replayed_and_nothing_it_did_commits(auth_client, url):
    refused = auth_client.post(url, {"name": "refuse-1"}, format="json", HTTP_IDEMPOTENCY_KEY="k-5")
    assert_error_shape(refused, 409, "thing_refused")
    again = auth_client.post(url, {"name": "refuse-1"}, format="json", HTTP_IDEMPOTENCY_KEY="k-5")
    assert again.json() == refused.json() and again["Idempotent-Replayed"] == "true"
    assert IdempotencyKey.objects.get(key="k-5").response_status == 409


@pytest.mark.django_db
def test_claimed_last_a_replay_runs_the_work_again_but_rolls_it_back(auth_client):
    # Given a thing created under a key, claimed last (the key row goes in with the outcome, after the work)
    url = "/api/v1/test/things-claimed-last"
    first = auth_client.post(url, {"name": "t9"}, format="json", HTTP_IDEMPOTENCY_KEY="k-6")
    # when the row the work wrote is renamed, so that the same work could succeed again, and the request replayed
    User.objects.filter(username="t9").update(username="t9-renamed")
    again = auth_client.post(url, {"name": "t9"}, format="json", HTTP_IDEMPOTENCY_KEY="k-6")
    # then the first outcome answers and the second run of the work was rolled back
    assert again.status_code == 201 and again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert not User.objects.filter(username="t9").exists()
    assert IdempotencyKey.objects.filter(key="k-6").count() == 1


@pytest.mark.django_db
def test_an_expired_key_not_yet_deleted_is_a_new_attempt(auth_client, url):
    auth_client.post(url, {"name": "t10"}, format="json", HTTP_IDEMPOTENCY_KEY="k-7")
    IdempotencyKey.objects.filter(key="k-7").update(created_at=timezone.now() - timedelta(hours=25))
    again = auth_client.post(url, {"name": "t11"}, format="json", HTTP_IDEMPOTENCY_KEY="k-7")
    assert again.status_code == 201 and again.json()["name"] == "t11" and "Idempotent-Replayed" not in again
    assert User.objects.filter(username="t11").exists()
    assert IdempotencyKey.objects.get(key="k-7").response_body == again.json()


@pytest.mark.django_db
def test_claimed_last_another_body_under_an_unfinished_key_is_422_even_when_the_work_trips(user, auth_client):
    # Given a key whose first request is unfinished (its row in progress, status 0) for another body, and a row
    # that this request's work would collide with (a taken unique username)
    url = "/api/v1/test/things-claimed-last"
    IdempotencyKey.objects.create(user=user, endpoint=url, key="k-8", fingerprint="another request",
                                  response_status=0, response_body={})
    User.objects.create(username="taken", is_imported=True)
    # when a request with another body comes with that key and its work trips over the unique row (IntegrityError)
    reused = auth_client.post(url, {"name": "taken"}, format="json", HTTP_IDEMPOTENCY_KEY="k-8")
    # then the key is refused as reused, as everywhere else, not a 500
    assert_error_shape(reused, 422, "idempotency_key_reused")
    assert IdempotencyKey.objects.get(key="k-8").response_status == 0
