from celery import shared_task

from superapp.idempotency import idempotency_keys_expire


@shared_task(name="superapp.tasks.idempotency_keys_expire", time_limit=300)
def idempotency_keys_expire_task() -> int:
    return idempotency_keys_expire()
