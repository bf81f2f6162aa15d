from django.apps import AppConfig


class CityServicesConfig(AppConfig):
    """Its models keep the Django app label `services` (see `merchants.apps`): tables, migrations and admin URLs
    did not move with the code."""

    name = "cityservices"
    verbose_name = "City services"
