from django.apps import AppConfig


class TrafficConfig(AppConfig):
    name = "services.traffic"
    label = "traffic"
    verbose_name = "City Brain traffic"

    def ready(self) -> None:
        from services.traffic import authentication  # noqa: F401  (registers the OpenAPI auth extension)
