from celery import shared_task


@shared_task(name="services.tasks.booking_holds_expire", time_limit=300)
def booking_holds_expire_task() -> int:
    from services.booking import booking_holds_expire

    return booking_holds_expire()
