"""Settings of the city services, read from django.conf.settings with defaults and env overrides (names keep the
`SERVICES_` prefix of the package the area came from)."""

import os

from django.conf import settings


def _int(name: str, default: int) -> int:
    return int(getattr(settings, name, os.environ.get(name, default)))


# Bills: remind users of bills due within this many days.
BILL_REMINDER_DAYS = _int("SERVICES_BILL_REMINDER_DAYS", 3)
