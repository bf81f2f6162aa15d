from django.apps import AppConfig


class TrafficConfig(AppConfig):
    name = "traffic"
    label = "traffic"
    verbose_name = "City Brain traffic"

    def ready(self) -> None:
        from traffic import authentication  # noqa: F401  (registers the OpenAPI auth extension)
