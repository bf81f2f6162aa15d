from django.apps import AppConfig


class SuperappConfig(AppConfig):
    name = "superapp"
    verbose_name = "Platform"
