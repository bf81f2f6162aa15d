# (name, dotted task name, every N seconds): defaults for django-celery-beat, see setup_schedules.
SCHEDULES = [
    ("Expire unpaid booking holds", "services.tasks.booking_holds_expire", 60),
]
