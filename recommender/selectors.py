"""Recommender reads."""

from __future__ import annotations

from django.db.models import QuerySet

from recommender.models import ModelStatus, ModelVersion, TrainingConfig


def active_model_version() -> ModelVersion | None:
    """The version serving should use (at most one is active), or None before the first activation."""
    return ModelVersion.objects.filter(status=ModelStatus.ACTIVE).first()


def model_versions_recent(*, limit: int = 50) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("config").order_by("-created_at", "-pk")[:limit]


def training_config_current() -> TrainingConfig | None:
    return TrainingConfig.objects.filter(is_active=True).first()
