from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "superapp.accounts"
    label = "accounts"
    verbose_name = "Accounts"
