from django.db import models
from django.utils import timezone


class City(models.Model):
    """Reference data: where people live, travel and pay. Loaded by a data migration."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    country_code = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    currency = models.CharField(max_length=3, help_text="ISO 4217")
    time_zone = models.CharField(max_length=64, help_text="IANA time zone, e.g. Asia/Shanghai")
    latitude = models.FloatField()
    longitude = models.FloatField()
    vat_rate = models.DecimalField(max_digits=5, decimal_places=4, help_text="Country VAT rate, e.g. 0.1300")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "cities"

    def __str__(self) -> str:
        return f"{self.name} ({self.country_code})"


class Vertical(models.TextChoices):
    RESTAURANT = "restaurant", "Restaurant"
    LEISURE = "leisure", "Leisure"
    TRAVEL = "travel", "Travel"
    SHOPPING = "shopping", "Shopping"
    CITY_SERVICE = "city_service", "City service"


class Category(models.Model):
    """A tree of categories within a vertical, e.g. restaurant > hotpot."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120, unique=True)
    vertical = models.CharField(max_length=20, choices=Vertical.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    class Meta:
        ordering = ["vertical", "slug"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.slug


class Merchant(models.Model):
    """Anything that can be paid, booked, reviewed or recommended: a restaurant, a shop, a hotel, a
    utility company. A merchant abroad may be listed without accepting the wallet."""

    name = models.CharField(max_length=200)
    vertical = models.CharField(max_length=20, choices=Vertical.choices, db_index=True)
    categories = models.ManyToManyField(Category, blank=True, related_name="merchants")
    city = models.ForeignKey(City, null=True, blank=True, on_delete=models.PROTECT, related_name="merchants")
    address = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone of the premises")
    price_level = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 (cheap) to 4 (expensive)")
    languages = models.JSONField(default=list, blank=True, help_text="Languages spoken, e.g. ['zh', 'en']")
    photos = models.JSONField(default=list, blank=True, help_text="Photo URLs")
    currency = models.CharField(max_length=3, default="CNY", help_text="Settlement currency")
    accepts_wallet = models.BooleanField(default=True, db_index=True)
    tax_free = models.BooleanField(default=False, db_index=True)
    requires_confirmation = models.BooleanField(
        default=False, help_text="Payments stay pending until the merchant confirms them."
    )
    rating_count = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True, db_index=True)
    is_placeholder = models.BooleanField(
        default=False, help_text="Created by an interaction import for an unknown item id; has no location."
    )
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Bounding-box prefilter for nearby search: latitude range first, then longitude.
            models.Index(fields=["latitude", "longitude"], name="merchant_lat_lon"),
            models.Index(fields=["city", "vertical", "is_active"], name="merchant_city_vertical"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def rating_average(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 2) if self.rating_count else None


class StaffRole(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    CASHIER = "cashier", "Cashier"


class MerchantStaff(models.Model):
    """A user working for a merchant. Owners and managers edit the listing and refund; cashiers see
    payments and bookings."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="staff")
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="merchant_roles")
    role = models.CharField(max_length=10, choices=StaffRole.choices, default=StaffRole.CASHIER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "user"], name="merchant_staff_unique")]
        verbose_name_plural = "merchant staff"

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} @ {self.merchant_id}"
