from django.apps import AppConfig


class AppointmentsConfig(AppConfig):
    """Its models keep the Django app label `services` (see `merchants.apps`): tables, migrations and admin URLs
    did not move with the code."""

    name = "appointments"
    verbose_name = "Public-service appointments"
