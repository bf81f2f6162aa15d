from django.conf import settings
from django.db import models
from django.utils import timezone


class InteractionKind(models.TextChoices):
    PAYMENT = "payment", "Payment"
    REFUND = "refund", "Refund (negative signal)"
    COUPON = "coupon", "Coupon redemption"
    BOOKING = "booking", "Booking confirmed"
    REVIEW = "review", "Review (value = rating 1-5)"
    CHECKIN = "checkin", "Check-in"
    LIKE = "like", "Like of a post tagged with the merchant"
    VIEW = "view", "Merchant viewed"
    SAVE = "save", "Merchant saved"
    IMPRESSION = "impression", "Impression (client)"
    CLICK = "click", "Click (client)"
    DISMISS = "dismiss", "Dismiss (client, negative)"
    IMPORT = "import", "Imported (value = weight)"


class Interaction(models.Model):
    """One signal of a user about a merchant. Append-only; confidence is derived at training time.

    `value` depends on the kind: the amount in the merchant's major units for payments and refunds,
    the rating for reviews, a weight for imports, 1 otherwise.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="interactions")
    merchant = models.ForeignKey("services.Merchant", on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(max_length=16, choices=InteractionKind.choices)
    value = models.FloatField(default=1.0)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.CharField(max_length=64, blank=True, help_text="What emitted it, e.g. payment:123")
    client_event_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "occurred_at"], name="interaction_user_time")]
        constraints = [
            models.UniqueConstraint(fields=["user", "client_event_id"], name="interaction_client_event_unique"),
            models.UniqueConstraint(fields=["kind", "source"], condition=~models.Q(source=""),
                                    name="interaction_source_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.merchant_id}"
