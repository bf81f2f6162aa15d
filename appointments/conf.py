"""Settings of the appointments area (`SERVICES_*`: the names keep the prefix of the package the area came
from), defined in `superapp/settings.py` and read when used (`superapp.conf`): `conf.APPOINTMENT_DAYS_AHEAD`."""

from superapp.conf import settings_reader

__getattr__ = settings_reader(__name__, "SERVICES_", {
    # Public-service appointments: how many days ahead slots are opened, and when reminders go out.
    "APPOINTMENT_DAYS_AHEAD": int,
    "APPOINTMENT_REMINDER_HOURS": int,
})
