from celery import shared_task

# Task names keep the `services.tasks.` prefix of the package this area came from: django-celery-beat's rows
# and queued messages refer to tasks by name.


@shared_task(name="services.tasks.booking_holds_expire", time_limit=300)
def booking_holds_expire_task() -> int:
    from bookings.services import booking_holds_expire

    return booking_holds_expire()
