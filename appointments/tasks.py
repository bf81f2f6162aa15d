from celery import shared_task

# Task names keep the `services.tasks.` prefix of the package this area came from: django-celery-beat's rows
# and queued messages refer to tasks by name.


@shared_task(name="services.tasks.appointment_slots_open", time_limit=900)
def appointment_slots_open_task() -> int:
    from appointments.services import appointment_slots_open_all

    return appointment_slots_open_all()


@shared_task(name="services.tasks.appointment_reminders_send", time_limit=600)
def appointment_reminders_send_task() -> int:
    from appointments.services import appointment_reminders_send

    return appointment_reminders_send()
