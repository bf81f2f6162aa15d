"""Write every app's default periodic jobs into django-celery-beat's tables (idempotent).

Each app may have a `schedules.py` with `SCHEDULES = [(name, dotted task name, every_s), ...]`.
Operators then edit the jobs in the admin (Periodic tasks); existing rows keep their edited interval.
"""

import importlib
import json

from django.apps import apps
from django.core.management import BaseCommand
from django_celery_beat.models import IntervalSchedule, PeriodicTask


def default_schedules() -> list[tuple[str, str, int]]:
    found = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise
            continue
        found.extend(module.SCHEDULES)
    return found


class Command(BaseCommand):
    help = "Create the default Celery beat schedule in the database."

    def handle(self, *args, **options):
        schedules = default_schedules()
        created = 0
        for name, task, every_s in schedules:
            interval, _ = IntervalSchedule.objects.get_or_create(every=every_s, period=IntervalSchedule.SECONDS)
            _, was_created = PeriodicTask.objects.get_or_create(
                name=name, defaults={"task": task, "interval": interval, "kwargs": json.dumps({})}
            )
            created += was_created
        self.stdout.write(f"Periodic tasks: {created} created, {len(schedules) - created} kept.")
