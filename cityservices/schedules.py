# (name, dotted task name, every N seconds): defaults for django-celery-beat, see setup_schedules.
SCHEDULES = [
    ("Fetch new bills from city service providers", "services.tasks.bills_refresh", 6 * 60 * 60),
    ("Remind users of bills due soon", "services.tasks.bill_reminders_send", 60 * 60),
    ("Confirm bills left processing at their provider", "services.tasks.bills_settle_processing", 60),
]
