import pytest
from celery.contrib.testing.worker import start_worker

from superapp.celery import app
from superapp.tasks import idempotency_keys_expire_task


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_task_runs_on_a_real_worker_through_the_redis_broker():
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            result = idempotency_keys_expire_task.delay()
            assert result.get(timeout=20) == 0
            assert result.status == "SUCCESS"
    finally:
        app.conf.task_always_eager = True

