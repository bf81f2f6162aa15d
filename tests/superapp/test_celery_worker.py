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


@pytest.mark.django_db(transaction=True)
def test_the_embedded_default_broker_is_a_folder_a_worker_consumes(tmp_path, settings):
    """`make run` without Redis starts a worker with beat on kombu's filesystem transport: a task sent there
    (as beat sends its jobs) reaches a worker and runs."""
    if settings.REDIS_URL:
        pytest.skip("the filesystem broker is the embedded default's (no REDIS_URL)")
    assert app.conf.broker_url == "filesystem://"
    queue = tmp_path / "queue"
    queue.mkdir()
    saved = app.conf.broker_transport_options
    app.conf.broker_transport_options = {"data_folder_in": str(queue), "data_folder_out": str(queue),
                                         "control_folder": str(tmp_path / "control"), "store_processed": False}
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            result = idempotency_keys_expire_task.delay()
            assert result.get(timeout=20) == 0
    finally:
        app.conf.task_always_eager = True
        app.conf.broker_transport_options = saved
