"""City services' tables: providers, bill accounts and bills, transit cards, parking, notifications.

The tables keep the Django app label `services` (and so their names, `services_*`, and their migrations in
`merchants/migrations/`): the area moved out of the old `services/` package without a schema change."""


from django.db import models
from django.utils import timezone

from merchants.models import City, Merchant


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
    backend = models.CharField(max_length=200, default="cityservices.providers.SimulatedProvider")
    hourly_rate = models.BigIntegerField(null=True, blank=True, help_text="Parking: price per hour, minor units")
    is_active = models.BooleanField(default=True)

    class Meta:
        app_label = "services"
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
        app_label = "services"
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
        app_label = "services"
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
        app_label = "services"
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
        app_label = "services"
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
        app_label = "services"
        ordering = ["-pk"]


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
        app_label = "services"
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "dedupe_key"], name="notification_dedupe")]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.title}"
