from django.apps import AppConfig


class TrafficConfig(AppConfig):
    name = "services.traffic"
    label = "traffic"
    verbose_name = "City Brain traffic"
