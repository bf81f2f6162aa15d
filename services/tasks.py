from celery import shared_task


@shared_task(name="services.tasks.booking_holds_expire", time_limit=300)
def booking_holds_expire_task() -> int:
    from services.booking import booking_holds_expire

    return booking_holds_expire()


@shared_task(name="services.tasks.bills_refresh", time_limit=1800)
def bills_refresh_task() -> int:
    from services.city_services import bills_refresh_all

    return bills_refresh_all()


@shared_task(name="services.tasks.bill_reminders_send", time_limit=600)
def bill_reminders_send_task() -> int:
    from services.city_services import bill_reminders_send

    return bill_reminders_send()


@shared_task(name="services.tasks.bills_settle_processing", time_limit=600)
def bills_settle_processing_task() -> int:
    """Bills charged from the wallet but not confirmed at the provider (a crash or an outage between the
    steps of `bill_pay`): confirm them again."""
    from services.city_services import bills_settle_processing

    return bills_settle_processing()


@shared_task(name="services.tasks.appointment_slots_open", time_limit=900)
def appointment_slots_open_task() -> int:
    from services.appointments import appointment_slots_open_all

    return appointment_slots_open_all()


@shared_task(name="services.tasks.appointment_reminders_send", time_limit=600)
def appointment_reminders_send_task() -> int:
    from services.appointments import appointment_reminders_send

    return appointment_reminders_send()
