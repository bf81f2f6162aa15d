"""Settings of the city services (`SERVICES_*`: the names keep the prefix of the package the area came from),
defined in `superapp/settings.py` and read when used (`superapp.conf`): `conf.BILL_REMINDER_DAYS`."""

from superapp.conf import settings_reader

__getattr__ = settings_reader(__name__, "SERVICES_", {
    # Bills: remind users of bills due within this many days.
    "BILL_REMINDER_DAYS": int,
})
