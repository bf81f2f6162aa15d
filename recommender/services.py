"""Recommender writes. Other apps call `interaction_record_on_commit` to report a signal."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from recommender.models import Interaction
from recommender.serving.tasks import user_vector_refresh


def interaction_record(*, user_id: int, merchant_id: int, kind: str, value: float = 1.0,
                       occurred_at: datetime | None = None, source: str = "") -> Interaction | None:
    """Store one interaction. Idempotent on (kind, source): replaying an event stores it once."""
    try:
        with transaction.atomic():
            transaction.on_commit(lambda: user_vector_refresh.delay(user_id))  # serving: near-real-time profile
            return Interaction.objects.create(
                user_id=user_id, merchant_id=merchant_id, kind=kind, value=value,
                occurred_at=occurred_at or timezone.now(), source=source,
            )
    except IntegrityError:
        return None


def interaction_record_on_commit(*, user_id: int, merchant_id: int, kind: str, value: float = 1.0,
                                 occurred_at: datetime | None = None, source: str = "") -> None:
    """Emit an interaction after the surrounding transaction commits (never for rolled-back work)."""
    when = occurred_at or timezone.now()
    transaction.on_commit(lambda: interaction_record(
        user_id=user_id, merchant_id=merchant_id, kind=kind, value=value, occurred_at=when, source=source,
    ))
