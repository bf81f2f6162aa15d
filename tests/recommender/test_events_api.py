"""POST /api/v1/events: batched client events, validated per event, deduplicated by the client id."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recommender.models import Interaction
from tests.factories import MerchantFactory
from tests.superapp.test_api_conventions import assert_error_shape

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


@pytest.fixture
def merchant():
    return MerchantFactory()


def test_a_batch_is_stored_once_and_a_retry_reports_duplicates(auth_client, user, merchant):
    when = (timezone.now() - timedelta(hours=1)).isoformat()
    batch = {"events": [
        {"id": "e-1", "kind": "impression", "merchant": merchant.pk},
        {"id": "e-2", "kind": "click", "merchant": merchant.pk, "occurred_at": when},
        {"id": "e-2", "kind": "click", "merchant": merchant.pk},  # repeated inside the batch
    ]}
    response = auth_client.post(URL, batch, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"accepted": 2, "duplicates": 1, "events": [
        {"id": "e-1", "status": "accepted"}, {"id": "e-2", "status": "accepted"},
        {"id": "e-2", "status": "duplicate"}]}
    stored = Interaction.objects.get(client_event_id="e-2")
    assert (stored.user, stored.kind, stored.occurred_at.isoformat()) == (user, "click", when)

    again = auth_client.post(URL, batch, format="json").json()
    assert again["accepted"] == 0 and again["duplicates"] == 3
    assert Interaction.objects.count() == 2


def test_client_ids_are_unique_per_user_not_globally(auth_client, other_client, merchant):
    event = {"events": [{"id": "same", "kind": "view", "merchant": merchant.pk}]}
    assert auth_client.post(URL, event, format="json").json()["accepted"] == 1
    assert other_client.post(URL, event, format="json").json()["accepted"] == 1


@pytest.mark.parametrize("event, field", [
    ({"id": "x", "kind": "payment"}, "kind"),             # server-side kinds cannot be reported by clients
    ({"id": "x", "kind": "purchase"}, "kind"),
    ({"id": "bad id!", "kind": "click"}, "id"),
    ({"id": "x" * 65, "kind": "click"}, "id"),
    ({"id": "x", "kind": "click", "merchant": "abc"}, "merchant"),
    ({"id": "x", "kind": "click", "occurred_at": "yesterday"}, "occurred_at"),
])
def test_malformed_events_are_rejected_per_event(auth_client, merchant, event, field):
    body = {"events": [{"id": "ok", "kind": "view", "merchant": merchant.pk},
                       {"merchant": merchant.pk, **event}]}
    response = auth_client.post(URL, body, format="json")
    assert_error_shape(response, 400, "validation_error")
    details = response.json()["error"]["details"]["events"]
    assert set(details) == {"1"} and field in details["1"]
    assert not Interaction.objects.exists()


def test_unknown_or_inactive_merchants_and_implausible_times_reject_the_whole_batch(auth_client, merchant):
    closed = MerchantFactory(is_active=False)
    now = timezone.now()
    body = {"events": [
        {"id": "a", "kind": "view", "merchant": merchant.pk},
        {"id": "b", "kind": "view", "merchant": closed.pk},
        {"id": "c", "kind": "view", "merchant": 10**9},
        {"id": "d", "kind": "view", "merchant": merchant.pk, "occurred_at": (now + timedelta(hours=1)).isoformat()},
        {"id": "e", "kind": "view", "merchant": merchant.pk, "occurred_at": (now - timedelta(days=31)).isoformat()},
    ]}
    response = auth_client.post(URL, body, format="json")
    assert_error_shape(response, 400, "validation_error")
    details = response.json()["error"]["details"]["events"]
    assert set(details) == {"1", "2", "3", "4"}
    assert "merchant" in details["1"] and "merchant" in details["2"]
    assert "occurred_at" in details["3"] and "occurred_at" in details["4"]
    assert not Interaction.objects.exists()


def test_batch_size_limits(auth_client, merchant):
    assert_error_shape(auth_client.post(URL, {"events": []}, format="json"), 400, "validation_error")
    too_many = {"events": [{"id": f"e{i}", "kind": "view", "merchant": merchant.pk} for i in range(101)]}
    assert_error_shape(auth_client.post(URL, too_many, format="json"), 400, "validation_error")
    assert not Interaction.objects.exists()


def test_events_need_authentication(api_client, merchant):
    response = api_client.post(URL, {"events": [{"id": "a", "kind": "view", "merchant": merchant.pk}]}, format="json")
    assert_error_shape(response, 401, "not_authenticated")


def test_a_batch_costs_two_statements_and_reports_what_was_new(user, merchant, django_assert_num_queries):
    """One read of the merchants, one INSERT that returns the ids it stored: no read of the stored ids first."""
    from recommender.services import client_events_record

    Interaction.objects.create(user=user, merchant=merchant, kind="view", client_event_id="old")
    events = [{"id": "old", "kind": "view", "merchant": merchant.pk},
              {"id": "new", "kind": "click", "merchant": merchant.pk},
              {"id": "new", "kind": "view", "merchant": merchant.pk}]
    with django_assert_num_queries(2):
        results = client_events_record(user=user, events=events)
    assert results == [{"id": "old", "status": "duplicate"}, {"id": "new", "status": "accepted"},
                       {"id": "new", "status": "duplicate"}]
    assert Interaction.objects.get(user=user, client_event_id="new").kind == "click"  # the first of the repeats
