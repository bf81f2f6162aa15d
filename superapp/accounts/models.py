from django.contrib.auth.models import AbstractUser
from django.db import models

LANGUAGES = [("en", "English"), ("zh", "Chinese"), ("de", "German"), ("fr", "French"), ("ja", "Japanese")]


class User(AbstractUser):
    """A person using the app. The profile lives on the user row: one query serves `/me` and auth.

    `current_city` differs from `home_city` while the user travels; the wallet (tax-free, traveller
    coupons) and the recommender (recommendations at the destination) read both.
    """

    email = models.EmailField(blank=True, db_index=True)
    display_name = models.CharField(max_length=80, blank=True)
    avatar_url = models.URLField(blank=True)
    language = models.CharField(max_length=8, choices=LANGUAGES, default="en")
    home_city = models.ForeignKey(
        "services.City", null=True, blank=True, on_delete=models.PROTECT, related_name="residents"
    )
    current_city = models.ForeignKey(
        "services.City", null=True, blank=True, on_delete=models.PROTECT, related_name="visitors"
    )
    home_currency = models.CharField(max_length=3, default="CNY")
    # Picked at onboarding (verticals, category slugs, free words); the cold-start recommender reads them.
    preferences = models.JSONField(default=list, blank=True)
    is_imported = models.BooleanField(
        default=False, help_text="Created by a data import: has no password and cannot log in."
    )
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # Evidence of residence, never editable by the user: the country of an identity document an operator
    # checked (admin). Tax-free shopping, VAT refunds and travellers-only offers read it, not the profile's
    # home/current city (see `merchants.selectors.user_is_traveller`).
    verified_country = models.CharField(
        max_length=2, blank=True, default="",
        help_text="ISO 3166 alpha-2 country of the identity document an operator verified; blank: unverified.")
    verified_country_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def is_traveller(self) -> bool:
        """By the profile alone (`/me`); `merchants.selectors.user_location` also counts an active trip."""
        from merchants.selectors import away_from_home  # the one traveller rule; imported late: a model module

        return away_from_home(home_city_id=self.home_city_id, city_id=self.current_city_id)
