"""The Celery app. Broker and results come from settings (Redis, or in-memory + eager by default).

The beat schedule lives in the database (django-celery-beat) so operators edit it in the admin;
`manage.py setup_schedules` writes each app's defaults (`<app>/schedules.py`, a list `SCHEDULES` of
(name, dotted task name, every N seconds)) into it, idempotently; `make run` and `make beat` call it.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "superapp.settings")

app = Celery("superapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
