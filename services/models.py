import datetime

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


# --- Booking agency -----------------------------------------------------------------------------
class ProductKind(models.TextChoices):
    HOTEL_ROOM = "hotel_room", "Hotel room (per night)"
    TABLE = "table", "Restaurant table (per time slot)"
    TOUR = "tour", "Tour or ticket (per date, per person)"


class Product(models.Model):
    """Something a merchant sells by date: a room type, a table, a tour. Prices are per night (rooms), per
    table (tables, a deposit) or per person (tours), in minor units of `currency`."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="products")
    kind = models.CharField(max_length=12, choices=ProductKind.choices)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price_amount = models.BigIntegerField(help_text="Default price in minor units (per night/table/person)")
    currency = models.CharField(max_length=3)
    max_party_size = models.PositiveSmallIntegerField(default=2, help_text="Guests per room, seats per table, "
                                                                           "tickets per booking")
    start_time = models.TimeField(default=datetime.time(15), help_text="Local check-in / start time (tables: per slot)")
    free_cancellation_hours = models.PositiveIntegerField(default=24, help_text="Free cancellation until this "
                                                                                "many hours before the start")
    cancellation_fee_percent = models.PositiveSmallIntegerField(default=100, help_text="Fee after that, 0-100 %")
    hold_minutes = models.PositiveSmallIntegerField(default=15)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["merchant", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price_amount__gt=0), name="product_price_positive"),
            models.CheckConstraint(condition=models.Q(cancellation_fee_percent__lte=100), name="product_fee_percent"),
            models.CheckConstraint(condition=models.Q(max_party_size__gte=1), name="product_party_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.merchant_id}"


class InventorySlot(models.Model):
    """Units of a product on one local date and start time (rooms for a night, tables at 19:30, tickets).
    Invariant: 0 <= reserved <= capacity, where reserved counts held and confirmed units; it is only changed
    with the row locked (select_for_update), so two holds can never take the same last unit."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="slots")
    date = models.DateField()
    start_time = models.TimeField()
    capacity = models.PositiveIntegerField()
    reserved = models.PositiveIntegerField(default=0)
    price_amount = models.BigIntegerField(null=True, blank=True, help_text="Overrides the product's price")

    class Meta:
        ordering = ["product", "date", "start_time"]
        constraints = [
            models.UniqueConstraint(fields=["product", "date", "start_time"], name="inventory_slot_unique"),
            models.CheckConstraint(condition=models.Q(reserved__lte=models.F("capacity")),
                                   name="inventory_not_overbooked"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.date} {self.start_time} {self.reserved}/{self.capacity}"

    @property
    def available(self) -> int:
        return self.capacity - self.reserved


class BookingStatus(models.TextChoices):
    HELD = "held", "Held (unpaid)"
    CONFIRMED = "confirmed", "Confirmed (paid)"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Hold expired"


class Booking(models.Model):
    """quote -> hold (inventory reserved until `hold_expires_at`) -> pay -> confirmed; or expired/cancelled,
    which release the inventory. Amounts in minor units of `currency`."""

    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="bookings")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="bookings")
    status = models.CharField(max_length=10, choices=BookingStatus.choices, default=BookingStatus.HELD)
    party_size = models.PositiveSmallIntegerField()
    units = models.PositiveSmallIntegerField(help_text="Rooms, tables or tickets taken from each slot")
    first_date = models.DateField()
    last_date = models.DateField(help_text="Last night for rooms (check-out is the day after)")
    starts_at = models.DateTimeField(help_text="Local start (check-in, table time, tour start) as an instant")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    hold_expires_at = models.DateTimeField(db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="bookings")
    refund = models.ForeignKey("payments.Refund", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="bookings")
    cancellation_fee = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    slots = models.ManyToManyField(InventorySlot, through="BookingSlot", related_name="bookings")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["status", "hold_expires_at"], name="booking_hold_expiry"),
                   models.Index(fields=["user", "status"], name="booking_user_status")]

    def __str__(self) -> str:
        return f"booking {self.pk} {self.status}"


class BookingSlot(models.Model):
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="booking_slots")
    slot = models.ForeignKey(InventorySlot, on_delete=models.PROTECT, related_name="booking_slots")
    units = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["booking", "slot"], name="booking_slot_unique")]


# --- City services ------------------------------------------------------------------------------
class ServiceKind(models.TextChoices):
    ELECTRICITY = "electricity", "Electricity"
    WATER = "water", "Water"
    GAS = "gas", "Gas"
    PHONE = "phone", "Phone and internet"
    TRANSIT = "transit", "Transit card"
    PARKING = "parking", "Parking"
    OFFICE = "office", "Public office (appointments)"


BILL_KINDS = (ServiceKind.ELECTRICITY, ServiceKind.WATER, ServiceKind.GAS, ServiceKind.PHONE)


class ServiceProvider(models.Model):
    """A city's utility, telecom, transit or parking operator. It is paid like any merchant: `merchant` is its
    account in the wallet. `backend` names the class that talks to it (a simulator until a real API exists)."""

    city = models.ForeignKey(City, on_delete=models.PROTECT, related_name="service_providers")
    kind = models.CharField(max_length=12, choices=ServiceKind.choices)
    name = models.CharField(max_length=200)
    code = models.SlugField(max_length=80, unique=True)
    merchant = models.OneToOneField(Merchant, on_delete=models.PROTECT, related_name="service_provider")
    customer_number_pattern = models.CharField(max_length=100, default=r"^\d{8,12}$",
                                               help_text="Regular expression a customer/card number must match")
    backend = models.CharField(max_length=200, default="services.providers.SimulatedProvider")
    hourly_rate = models.BigIntegerField(null=True, blank=True, help_text="Parking: price per hour, minor units")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["city", "kind", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.city_id})"


class BillAccount(models.Model):
    """A user's customer account at a provider (e.g. the electricity meter at home)."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="bill_accounts")
    provider = models.ForeignKey(ServiceProvider, on_delete=models.PROTECT, related_name="bill_accounts")
    customer_number = models.CharField(max_length=40)
    nickname = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "provider", "customer_number"],
                                               name="bill_account_unique")]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.customer_number}"


class BillStatus(models.TextChoices):
    DUE = "due", "Due"
    PAID = "paid", "Paid"


class BillReadStatus(models.TextChoices):
    """What a bill is as of now (`city_services.bill_status`): a stored `due` past its due date at the
    provider reads `overdue`, with no job writing it; one paid from the wallet that the provider has not
    confirmed yet reads `processing`."""

    DUE = "due", "Due"
    OVERDUE = "overdue", "Overdue"
    PROCESSING = "processing", "Processing"
    PAID = "paid", "Paid"


class Bill(models.Model):
    """A bill as the provider issued it; paid at most once (the row is locked while paying)."""

    account = models.ForeignKey(BillAccount, on_delete=models.CASCADE, related_name="bills")
    reference = models.CharField(max_length=64, help_text="The provider's bill reference")
    period = models.CharField(max_length=7, help_text="Billing month, YYYY-MM")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    due_on = models.DateField(db_index=True)
    status = models.CharField(max_length=4, choices=BillStatus.choices, default=BillStatus.DUE)
    paid_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="city_bills")
    receipt_number = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_on", "pk"]
        constraints = [models.UniqueConstraint(fields=["account", "reference"], name="bill_reference_unique")]
        indexes = [models.Index(fields=["status", "due_on"], name="bill_status_due")]

    def __str__(self) -> str:
        return f"bill {self.reference} {self.status}"


class TransitCard(models.Model):
    """A transit card linked to the app; its balance is stored value held by the operator, credited by
    wallet payments to the operator (see TransitTopUp)."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="transit_cards")
    provider = models.ForeignKey(ServiceProvider, on_delete=models.PROTECT, related_name="transit_cards")
    card_number = models.CharField(max_length=40)
    balance = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["provider", "card_number"], name="transit_card_unique"),
                       models.CheckConstraint(condition=models.Q(balance__gte=0), name="transit_card_balance")]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.card_number}"


class TransitTopUp(models.Model):
    card = models.ForeignKey(TransitCard, on_delete=models.CASCADE, related_name="top_ups")
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, related_name="transit_top_ups")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]


class ParkingSession(models.Model):
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="parking_sessions")
    provider = models.ForeignKey(ServiceProvider, on_delete=models.PROTECT, related_name="parking_sessions")
    plate = models.CharField(max_length=16)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, related_name="parking_sessions")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]


class PublicService(models.Model):
    """A service a public office (a `ServiceProvider` of kind `office`) gives by appointment: an ID card, a residence
    registration... `fee` (minor units of the office's currency, 0 = free) is paid through the wallet to the office's
    merchant account when booking. Slots are opened from the office's opening hours (`appointment_slots_open`)."""

    office = models.ForeignKey(ServiceProvider, on_delete=models.PROTECT, related_name="public_services")
    code = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    fee = models.BigIntegerField(default=0, help_text="Minor units of the office's currency; 0 = free")
    duration_minutes = models.PositiveSmallIntegerField(default=15)
    capacity_per_slot = models.PositiveSmallIntegerField(default=1, help_text="Counters serving it at once")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["office", "name"]
        constraints = [models.UniqueConstraint(fields=["office", "code"], name="public_service_code_unique"),
                       models.CheckConstraint(condition=models.Q(fee__gte=0), name="public_service_fee_gte_0"),
                       models.CheckConstraint(condition=models.Q(duration_minutes__gte=5),
                                              name="public_service_duration_gte_5")]

    def __str__(self) -> str:
        return f"{self.name} ({self.office_id})"


class AppointmentSlot(models.Model):
    """A time at an office for one service, for up to `capacity` people. Invariant: `booked` (appointments not
    cancelled) never exceeds `capacity`; changed only under the row lock, backed by a CHECK constraint."""

    service = models.ForeignKey(PublicService, on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField(db_index=True)
    capacity = models.PositiveSmallIntegerField()
    booked = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["starts_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["service", "starts_at"], name="appointment_slot_unique"),
                       models.CheckConstraint(condition=models.Q(booked__lte=models.F("capacity")),
                                              name="appointment_slot_not_overbooked")]

    def __str__(self) -> str:
        return f"{self.service_id} @ {self.starts_at:%Y-%m-%d %H:%M}"


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CANCELLED = "cancelled", "Cancelled"


class AppointmentReadStatus(models.TextChoices):
    """What an appointment is as of now (`selectors.appointment_status`): a stored `booked` appointment reads
    `in_progress` from its start for the service's duration and `completed` after it, with no job writing it."""

    BOOKED = "booked", "Booked"
    IN_PROGRESS = "in_progress", "Under way"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Appointment(models.Model):
    """A user's appointment in a slot. The fee, if any, was paid with `payment` and refunded with `refund` on
    cancellation (full refund until the start)."""

    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="appointments")
    slot = models.ForeignKey(AppointmentSlot, on_delete=models.PROTECT, related_name="appointments")
    status = models.CharField(max_length=10, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED)
    fee = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="appointments")
    refund = models.ForeignKey("payments.Refund", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="appointments")
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "slot"], condition=models.Q(status="booked"),
                                               name="appointment_one_per_user_and_slot")]

    def __str__(self) -> str:
        return f"appointment {self.pk} {self.status}"


class Notification(models.Model):
    """Something the app shows in the user's inbox (bill reminders, ...). `dedupe_key` makes jobs that create
    them safe to run twice."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "dedupe_key"], name="notification_dedupe")]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.title}"
