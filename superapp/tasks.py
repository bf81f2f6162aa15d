from celery import shared_task

from superapp.attempts import attempts_expire
from superapp.idempotency import idempotency_keys_expire


@shared_task(name="superapp.tasks.idempotency_keys_expire", time_limit=300)
def idempotency_keys_expire_task() -> int:
    return idempotency_keys_expire()


@shared_task(name="superapp.tasks.attempts_expire", time_limit=300)
def attempts_expire_task() -> int:
    return attempts_expire()
