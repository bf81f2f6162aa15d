# (name, dotted task name, every N seconds): defaults for django-celery-beat, see setup_schedules.
SCHEDULES = [
    ("Open public-service appointment slots ahead", "services.tasks.appointment_slots_open", 6 * 60 * 60),
    ("Remind users of appointments coming up", "services.tasks.appointment_reminders_send", 15 * 60),
]
