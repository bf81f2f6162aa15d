# (name, dotted task name, every N seconds): defaults for django-celery-beat, see setup_schedules.
SCHEDULES = [
    ("Expire unpaid booking holds", "services.tasks.booking_holds_expire", 60),
    ("Fetch new bills from city service providers", "services.tasks.bills_refresh", 6 * 60 * 60),
    ("Remind users of bills due soon", "services.tasks.bill_reminders_send", 60 * 60),
    ("Confirm bills left processing at their provider", "services.tasks.bills_settle_processing", 60),
    ("Open public-service appointment slots ahead", "services.tasks.appointment_slots_open", 6 * 60 * 60),
    ("Remind users of appointments coming up", "services.tasks.appointment_reminders_send", 15 * 60),
]
