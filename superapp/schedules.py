# (name, dotted task name, every N seconds): defaults for django-celery-beat, see setup_schedules.
SCHEDULES = [
    ("Expire idempotency keys", "superapp.tasks.idempotency_keys_expire", 60 * 60),
    ("Expire attempt counters", "superapp.tasks.attempts_expire", 60 * 60),
]
