"""Settings of the services app, read from django.conf.settings with defaults and env overrides."""

import os

from django.conf import settings


def _int(name: str, default: int) -> int:
    return int(getattr(settings, name, os.environ.get(name, default)))


# Nearby search: the largest radius a client may ask for, and the largest page.
NEARBY_MAX_RADIUS_M = _int("SERVICES_NEARBY_MAX_RADIUS_M", 50_000)
NEARBY_MAX_LIMIT = _int("SERVICES_NEARBY_MAX_LIMIT", 100)
# Booking holds: how long inventory stays reserved for an unpaid booking.
BOOKING_HOLD_MINUTES = _int("SERVICES_BOOKING_HOLD_MINUTES", 15)
# Bills: remind users of bills due within this many days.
BILL_REMINDER_DAYS = _int("SERVICES_BILL_REMINDER_DAYS", 3)
# Nearby index (services.geo_index): how often a process checks for changes, and its maximum age.
GEO_INDEX_CHECK_S = float(getattr(settings, "SERVICES_GEO_INDEX_CHECK_S",
                                  os.environ.get("SERVICES_GEO_INDEX_CHECK_S", 2)))
GEO_INDEX_MAX_AGE_S = float(getattr(settings, "SERVICES_GEO_INDEX_MAX_AGE_S",
                                    os.environ.get("SERVICES_GEO_INDEX_MAX_AGE_S", 300)))
# Public-service appointments: how many days ahead slots are opened, and when reminders go out.
APPOINTMENT_DAYS_AHEAD = _int("SERVICES_APPOINTMENT_DAYS_AHEAD", 14)
APPOINTMENT_REMINDER_HOURS = _int("SERVICES_APPOINTMENT_REMINDER_HOURS", 24)
