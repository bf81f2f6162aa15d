"""Settings of the booking agency (`SERVICES_*`: the names keep the prefix of the package the area came from),
defined in `superapp/settings.py` and read when used (`superapp.conf`): `conf.BOOKING_HOLD_MINUTES`."""

from superapp.conf import settings_reader

__getattr__ = settings_reader(__name__, "SERVICES_", {
    # Booking holds: how long inventory stays reserved for an unpaid booking.
    "BOOKING_HOLD_MINUTES": int,
})
