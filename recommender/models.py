from django.conf import settings
from django.db import models
from django.utils import timezone

from superapp.events import InteractionKind  # noqa: F401  (defined with the events other apps send)


class Interaction(models.Model):
    """One signal of a user about a merchant. Append-only; confidence is derived at training time.

    `value` depends on the kind: the amount in the merchant's major units for payments and refunds,
    the rating for reviews, a weight for imports, 1 otherwise.
    """

    # No index of its own on `user`: the two below lead with it (every payment writes each index of this table).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="interactions",
                             db_index=False)
    merchant = models.ForeignKey("services.Merchant", on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(max_length=16, choices=InteractionKind.choices)
    value = models.FloatField(default=1.0)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.CharField(max_length=64, blank=True, help_text="What emitted it, e.g. payment:123")
    client_event_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "occurred_at"], name="interaction_user_time")]
        constraints = [
            # Partial: only client events carry an id (NULLs never conflict), so server-side rows stay out of it.
            models.UniqueConstraint(fields=["user", "client_event_id"], name="interaction_client_event_unique",
                                    condition=models.Q(client_event_id__isnull=False)),
            models.UniqueConstraint(fields=["kind", "source"], condition=~models.Q(source=""),
                                    name="interaction_source_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.merchant_id}"


class Algorithm(models.TextChoices):
    ALS = "als", "Implicit ALS"
    BPR = "bpr", "Bayesian personalised ranking"
    ITEMKNN = "itemknn", "Item-item nearest neighbours"
    RP3BETA = "rp3beta", "RP3beta random walk item-item"
    EASE = "ease", "EASE dense item-item"
    BLEND = "blend", "Blend of two models"


class SplitKind(models.TextChoices):
    AUTO = "auto", "Time-based when every interaction has a timestamp, else random per user"
    TIME = "time", "Time-based per user (latest interactions are the test set)"
    RANDOM = "random", "Random per user"


class TrainingConfig(models.Model):
    """How to train: algorithm, hyperparameters and evaluation protocol. The active one is what the beat
    job trains; `tune_recommender` writes its best find here."""

    name = models.CharField(max_length=80, unique=True)
    algorithm = models.CharField(max_length=16, choices=Algorithm.choices, default=Algorithm.ALS)
    params = models.JSONField(default=dict, blank=True,
                              help_text="Overrides of the algorithm's defaults, e.g. {\"factors\": 64}.")
    is_active = models.BooleanField(default=False, help_text="The configuration scheduled retraining uses.")
    k = models.PositiveSmallIntegerField(default=10, help_text="Cut-off of the evaluation metrics.")
    split = models.CharField(max_length=8, choices=SplitKind.choices, default=SplitKind.AUTO)
    test_fraction = models.FloatField(default=0.2)
    eval_users = models.PositiveIntegerField(
        default=5000, help_text="Users whose latest interactions are held out to evaluate each run.")
    data_window_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Only train on the last N days (empty: all interactions).")
    seed = models.IntegerField(default=42)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True),
                                    name="training_config_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.algorithm})"


class ModelStatus(models.TextChoices):
    TRAINED = "trained", "Trained"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected"
    RETIRED = "retired", "Retired"
    FAILED = "failed", "Failed"


class ModelVersion(models.Model):
    """One training run and its artifact. At most one version is active; serving loads that one."""

    config = models.ForeignKey(TrainingConfig, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="versions")
    algorithm = models.CharField(max_length=16, choices=Algorithm.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=ModelStatus.choices, default=ModelStatus.TRAINED,
                              db_index=True)
    reason = models.TextField(blank=True, help_text="Why it was activated, rejected, retired or failed.")
    triggered_by = models.CharField(max_length=32, blank=True, help_text="beat, command, admin, seed...")
    data_from = models.DateTimeField(null=True, blank=True)
    data_to = models.DateTimeField(null=True, blank=True)
    n_interactions = models.PositiveBigIntegerField(default=0)
    n_users = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    nnz = models.PositiveBigIntegerField(default=0, help_text="Non-zero (user, merchant) pairs trained on.")
    split = models.JSONField(default=dict, blank=True)
    stage_timings = models.JSONField(default=dict, blank=True, help_text="Seconds per stage.")
    metrics = models.JSONField(default=dict, blank=True)
    baseline_metrics = models.JSONField(default=dict, blank=True, help_text="Popularity on the same split.")
    artifact_path = models.CharField(max_length=500, blank=True)
    artifact_checksum = models.CharField(max_length=64, blank=True)
    artifact_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="active"),
                                    name="model_version_one_active"),
        ]

    def __str__(self) -> str:
        return f"v{self.pk} {self.algorithm} ({self.status})"

    @property
    def ndcg(self) -> float | None:
        return self.metrics.get("ndcg")


class TrainingLock(models.Model):
    """A named lock row for the embedded default (no Redis): inserting it takes the lock."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=128)
    acquired_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder}"
