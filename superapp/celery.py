"""The Celery app. Broker and results come from settings (Redis, or in-memory + eager by default).

The beat schedule lives in the database (django-celery-beat) so operators edit it in the admin;
`manage.py setup_schedules` writes each app's defaults (`<app>/schedules.py`, a list `SCHEDULES` of
(name, dotted task name, every N seconds)) into it, idempotently; `make run` and `make beat` call it.
"""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "superapp.settings")

app = Celery("superapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _filesystem_queue(sender, **kwargs):
    """The embedded default's broker is a folder (see settings): make sure it exists."""
    from django.conf import settings

    if sender.conf.broker_url.startswith("filesystem://"):
        Path(settings.CELERY_FILESYSTEM_QUEUE).mkdir(parents=True, exist_ok=True)
        Path(settings.CELERY_FILESYSTEM_QUEUE).parent.joinpath("control").mkdir(exist_ok=True)
