from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "superapp.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from superapp.accounts import authentication  # noqa: F401 - connects the user-cache signals
