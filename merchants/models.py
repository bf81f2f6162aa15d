
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


# --- Opening hours ------------------------------------------------------------------------------
class OpeningHours(models.Model):
    """One opening interval on a weekday, in the merchant's own time zone.

    `closes <= opens` means the interval crosses midnight (a bar open 18:00-02:00 is open until 02:00 on
    the next day); `opens == closes` is open around the clock. A weekday may have several intervals
    (lunch and dinner service)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday ... 6 = Sunday")
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["merchant", "weekday", "opens"]
        verbose_name_plural = "opening hours"
        indexes = [models.Index(fields=["merchant", "weekday"], name="opening_hours_merchant_day")]
        constraints = [models.CheckConstraint(condition=models.Q(weekday__gte=0, weekday__lte=6),
                                              name="opening_hours_weekday_range")]

    def __str__(self) -> str:
        return f"{self.merchant_id} d{self.weekday} {self.opens:%H:%M}-{self.closes:%H:%M}"


class OpeningException(models.Model):
    """Special hours on one local date (holiday, private event). Any row for a date replaces the
    weekday's regular hours; a row without times means closed all day."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="opening_exceptions")
    date = models.DateField()
    opens = models.TimeField(null=True, blank=True)
    closes = models.TimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["merchant", "date", "opens"]
        indexes = [models.Index(fields=["merchant", "date"], name="opening_exception_day")]
        constraints = [models.CheckConstraint(
            condition=models.Q(opens__isnull=True, closes__isnull=True)
            | models.Q(opens__isnull=False, closes__isnull=False),
            name="opening_exception_both_or_neither")]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.date} {'closed' if self.opens is None else f'{self.opens}-{self.closes}'}"

    @property
    def is_closed(self) -> bool:
        return self.opens is None


class SavedMerchant(models.Model):
    """A user's favourite ("saved") merchant."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="saved_merchants")
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="saved_by")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "merchant"], name="saved_merchant_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} saved {self.merchant_id}"


# --- Trips --------------------------------------------------------------------------------------
class TripStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    CANCELLED = "cancelled", "Cancelled"


class TripReadStatus(models.TextChoices):
    """What a trip is as of now (`selectors.trip_status`): the stored `planned` reads `in_progress` on its
    dates at the destination and `completed` after them, with no job writing it."""

    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "Under way"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Trip(models.Model):
    """A user's planned stay in a city. While a trip is active (local dates at the destination) the
    app treats the user as a traveller there (see `selectors.user_current_city`)."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="trips")
    destination = models.ForeignKey(City, on_delete=models.PROTECT, related_name="trips")
    starts_on = models.DateField()
    ends_on = models.DateField()
    title = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=10, choices=TripStatus.choices, default=TripStatus.PLANNED)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_on", "-pk"]
        indexes = [models.Index(fields=["user", "starts_on", "ends_on"], name="trip_user_dates")]
        constraints = [models.CheckConstraint(condition=models.Q(ends_on__gte=models.F("starts_on")),
                                              name="trip_dates_ordered")]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.destination_id} {self.starts_on}..{self.ends_on}"
