"""Settings of the booking agency, read from django.conf.settings with defaults and env overrides (names keep the
`SERVICES_` prefix of the package the area came from)."""

import os

from django.conf import settings


def _int(name: str, default: int) -> int:
    return int(getattr(settings, name, os.environ.get(name, default)))


# Booking holds: how long inventory stays reserved for an unpaid booking.
BOOKING_HOLD_MINUTES = _int("SERVICES_BOOKING_HOLD_MINUTES", 15)
