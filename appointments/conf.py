"""Settings of the appointments area, read from django.conf.settings with defaults and env overrides (names keep the
`SERVICES_` prefix of the package the area came from)."""

import os

from django.conf import settings


def _int(name: str, default: int) -> int:
    return int(getattr(settings, name, os.environ.get(name, default)))


# Public-service appointments: how many days ahead slots are opened, and when reminders go out.
APPOINTMENT_DAYS_AHEAD = _int("SERVICES_APPOINTMENT_DAYS_AHEAD", 14)

APPOINTMENT_REMINDER_HOURS = _int("SERVICES_APPOINTMENT_REMINDER_HOURS", 24)
