from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """The first successful response to a money-moving POST, keyed by (user, endpoint, key).

    The row is inserted in the same database transaction as the work it guards, so it exists if and
    only if the work committed: a crash between the two cannot leave one without the other.
    """

    # Found through `idempotency_key_unique` (user first): no second index to write on every money request.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    endpoint = models.CharField(max_length=255)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path, query and body.")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "endpoint", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} [{self.key}]"


class AttemptCounter(models.Model):
    """How many attempts at something guessable (a password, a bill-account proof, a sign-up from one address)
    one identity made in the current window; see `superapp.attempts`. Kept in the database, not the cache, so
    the limits hold across processes and while Redis is down."""

    key = models.CharField(max_length=80, primary_key=True, help_text="scope and a hash of the identity")
    count = models.PositiveIntegerField(default=0)
    window_ends = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count} until {self.window_ends:%Y-%m-%d %H:%M:%S}"
