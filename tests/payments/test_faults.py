"""The wallet under contention and faults: no 5xx from deadlocks, a refusal is an outcome of its key,
an unreachable database is a 503, a broker outage never fails money."""

import random
import uuid
from unittest import mock

import pytest
from django.db import OperationalError

from merchants.models import MerchantStaff
from payments import services
from payments.checks import ledger_check
from payments.models import Payment, PaymentRequest, Refund, Transfer
from superapp import publish
from superapp.db import is_retryable_conflict, run_in_transaction
from superapp.models import IdempotencyKey
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.payments.factories import cny, fund, funded_user, merchant
from tests.superapp.test_api_conventions import assert_error_shape

PAY = "/api/v1/wallet/payments"


def post(client, url, body=None, key=None):
    return client.post(url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def _conflict(sqlstate="40P01"):
    import psycopg

    cause = psycopg.errors.lookup(sqlstate)("deadlock detected")
    error = OperationalError("deadlock detected")
    error.__cause__ = cause
    return error


# --- one key, one outcome -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_refusal_is_stored_and_replayed_so_a_later_retry_cannot_charge():
    # Given a payer who cannot afford the payment
    payer, shop = funded_user("10"), merchant()
    client = client_for(payer)
    body = {"merchant_id": shop.pk, "amount": "50.00"}
    refused = post(client, PAY, body, key="timeout-retry")
    assert_error_shape(refused, 409, "insufficient_funds")
    # when they top up and the client retries the same key (e.g. after a timeout)
    fund(payer, "100")
    again = post(client, PAY, body, key="timeout-retry")
    # then the retry gets the same refusal, replayed, and nothing is charged
    assert again.status_code == 409 and again.json() == refused.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not Payment.objects.exists()
    # and a new key is a new attempt
    assert post(client, PAY, body).status_code == 201


@pytest.mark.django_db
def test_validation_errors_leave_the_key_free():
    payer, shop = funded_user("100"), merchant()
    client = client_for(payer)
    assert_error_shape(post(client, PAY, {"merchant_id": shop.pk, "amount": "1.001"}, key="k"), 400,
                       "too_many_decimals")
    assert not IdempotencyKey.objects.filter(key="k").exists()
    assert post(client, PAY, {"merchant_id": shop.pk, "amount": "1.00"}, key="k").status_code == 201


# --- deadlocks are retried, an unreachable database is a 503 --------------------------------------------

def test_only_deadlocks_and_serialization_failures_are_retryable():
    assert is_retryable_conflict(_conflict("40P01")) and is_retryable_conflict(_conflict("40001"))
    assert not is_retryable_conflict(OperationalError("server closed the connection unexpectedly"))
    assert not is_retryable_conflict(ValueError("40P01"))


@pytest.mark.django_db(transaction=True)
def test_a_deadlocked_payment_is_retried_in_the_server_and_moves_money_once():
    payer, shop = funded_user("100"), merchant()
    real, calls = services.payment_create, []

    def deadlock_twice(**kwargs):
        calls.append(1)
        payment = real(**kwargs)  # the work is written, then the transaction is chosen as the deadlock victim
        if len(calls) <= 2:
            raise _conflict()
        return payment

    with mock.patch.object(services, "payment_create", deadlock_twice):
        response = post(client_for(payer), PAY, {"merchant_id": shop.pk, "amount": "12.00"})
    assert response.status_code == 201, response.content
    assert len(calls) == 3
    assert Payment.objects.count() == 1 and ledger_check()["ok"]


@pytest.mark.django_db(transaction=True)
def test_conflict_retries_are_bounded():
    attempts = []

    def always():
        attempts.append(1)
        raise _conflict("40001")

    with mock.patch("superapp.db.time.sleep"), pytest.raises(OperationalError):
        run_in_transaction(always, attempts=4)
    assert len(attempts) == 4


@pytest.mark.django_db
def test_database_unavailable_is_503_with_retry_after_and_the_key_stays_free():
    payer, shop = funded_user("100"), merchant()
    down = OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
    with mock.patch.object(services, "payment_create", side_effect=down):
        response = post(client_for(payer), PAY, {"merchant_id": shop.pk, "amount": "5"}, key="pg-down")
    assert_error_shape(response, 503, "service_unavailable")
    assert response["Retry-After"] == "1"
    assert not IdempotencyKey.objects.filter(key="pg-down").exists()
    assert post(client_for(payer), PAY, {"merchant_id": shop.pk, "amount": "5"}, key="pg-down").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_mid_request_is_retried_on_a_new_connection_and_replays_if_it_committed():
    payer, shop = funded_user("100"), merchant()
    real, calls = services.payment_create, []

    def lose_connection_once(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    with mock.patch.object(services, "payment_create", lose_connection_once), mock.patch("superapp.db.time.sleep"):
        response = post(client_for(payer), PAY, {"merchant_id": shop.pk, "amount": "5"}, key="flaky")
    assert response.status_code == 201 and len(calls) == 2
    # the client never saw the answer and retries: the stored outcome is replayed, nothing runs again
    again = post(client_for(payer), PAY, {"merchant_id": shop.pk, "amount": "5"}, key="flaky")
    assert again.json() == response.json() and Payment.objects.count() == 1


def test_database_unavailable_outside_drf_is_503_too():
    from django.test import RequestFactory

    from superapp.middleware import ApiErrorMiddleware

    request = RequestFactory().get("/api/v1/anything")
    response = ApiErrorMiddleware(lambda r: None).process_exception(
        request, OperationalError("the connection is closed"))
    assert response.status_code == 503 and response["Retry-After"] == "1"


# --- the broker (Redis) down never fails money --------------------------------------------------------

@pytest.mark.django_db
def test_payments_succeed_when_the_broker_is_down(settings):
    from superapp.celery import app

    payer, shop = funded_user("100"), merchant()
    publish.breaker_reset()
    app.conf.task_always_eager = False
    try:
        with mock.patch("celery.app.task.Task.apply_async", side_effect=ConnectionError("redis down")) as sent, \
                mock.patch("django.db.transaction.on_commit", side_effect=lambda fn, *a, **k: fn()), \
                mock.patch.object(publish, "_batches", publish._Batches()):
            first = post(client_for(payer), PAY, {"merchant_id": shop.pk, "amount": "5"})
            publish.publish_batches_flush()  # (the sender thread may have sent it already: then nothing is left)
            second = post(client_for(payer), PAY, {"merchant_id": shop.pk, "amount": "5"})
            publish.publish_batches_flush()
    finally:
        app.conf.task_always_eager = True
        publish.breaker_reset()
    assert first.status_code == second.status_code == 201
    assert sent.call_count == 1  # the breaker skipped the second publish instead of waiting for Redis again
    assert Payment.objects.count() == 2


@pytest.mark.django_db
def test_recommendation_refreshes_after_payments_go_out_as_one_message_per_batch():
    # Given three payers paying while the broker is up (not in-process)
    from superapp.celery import app

    payers, shop = [funded_user("100") for _ in range(3)], merchant()
    app.conf.task_always_eager = False
    try:
        with mock.patch("celery.app.task.Task.apply_async") as sent, \
                mock.patch("django.db.transaction.on_commit", side_effect=lambda fn, *a, **k: fn()), \
                mock.patch.object(publish, "BATCH_WINDOW_S", 30), \
                mock.patch.object(publish, "_batches", publish._Batches()):  # its own sender thread waits: we flush
            for payer in payers + payers[:1]:
                assert post(client_for(payer), PAY, {"merchant_id": shop.pk, "amount": "5"}).status_code == 201
            assert sent.call_count == 0  # nothing published inside the requests
            publish.publish_batches_flush()
    finally:
        app.conf.task_always_eager = True
    # then one message asks to refresh each payer once, in order
    assert sent.call_count == 1
    assert sent.call_args.kwargs["args"] == ([p.pk for p in payers],)


# --- contention: the workload that gave 500s ---------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_payments_and_payment_requests_never_answer_5xx(concurrently, db_gate):
    # Given one merchant with an owner, payers with earlier payments there, and open payment requests
    shop = merchant()
    owner = UserFactory()
    MerchantStaff.objects.create(merchant=shop, user=owner, role="owner")
    payers = [funded_user("1000") for _ in range(6)]
    paid = [services.payment_create(payer=p, merchant=shop, amount=cny("40")) for p in payers for _ in range(3)]
    requests = [services.payment_requests_create(requester=payers[i], payer_ids=[payers[(i + 1) % 6].pk],
                                                 total=cny("20"), include_requester=False)[0] for i in range(6)]

    def work(i):
        rng, statuses = random.Random(i), []
        for step in range(6):
            kind = (i + step) % 3
            with db_gate.slot():
                if kind == 0:  # a partial refund of a random earlier payment, by the owner
                    payment = rng.choice(paid)
                    url = f"/api/v1/wallet/merchants/{shop.pk}/payments/{payment.pk}/refunds"
                    response = post(client_for(owner), url, {"amount": "3"})
                elif kind == 1:  # a new payment to the same merchant
                    response = post(client_for(rng.choice(payers)), PAY, {"merchant_id": shop.pk, "amount": "7"})
                else:  # accept a payment request (the same one may be raced: 409 is a fine answer)
                    request = rng.choice(requests)
                    response = post(client_for(request.payer),
                                    f"/api/v1/wallet/payment-requests/{request.pk}/accept")
            statuses.append(response.status_code)
        return statuses

    results = concurrently(work, 12)
    # then nobody got a 5xx, and the ledger holds
    assert all(not isinstance(r, Exception) for r in results), results
    statuses = [s for r in results for s in r]
    assert all(s < 500 for s in statuses), statuses
    assert set(statuses) <= {200, 201, 409}
    assert ledger_check()["ok"]
    assert Refund.objects.count() + Payment.objects.count() - len(paid) == statuses.count(201)
    assert Transfer.objects.count() == PaymentRequest.objects.filter(status="accepted").count() == statuses.count(200)
