from celery import shared_task

# Task names keep the `services.tasks.` prefix of the package this area came from: django-celery-beat's rows
# and queued messages refer to tasks by name.


@shared_task(name="services.tasks.bills_refresh", time_limit=1800)
def bills_refresh_task() -> int:
    from cityservices.services import bills_refresh_all

    return bills_refresh_all()


@shared_task(name="services.tasks.bill_reminders_send", time_limit=600)
def bill_reminders_send_task() -> int:
    from cityservices.services import bill_reminders_send

    return bill_reminders_send()


@shared_task(name="services.tasks.bills_settle_processing", time_limit=600)
def bills_settle_processing_task() -> int:
    """Bills charged from the wallet but not confirmed at the provider (a crash or an outage between the
    steps of `bill_pay`): confirm them again."""
    from cityservices.services import bills_settle_processing

    return bills_settle_processing()
