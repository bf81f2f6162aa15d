"""Recommender reads."""

from __future__ import annotations

from recommender.models import ModelStatus, ModelVersion


def active_model_version() -> ModelVersion | None:
    """The version serving should use (at most one is active), or None before the first activation."""
    return ModelVersion.objects.filter(status=ModelStatus.ACTIVE).first()
