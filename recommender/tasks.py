"""Celery jobs of the recommender."""

from __future__ import annotations

import logging

from celery import shared_task

from recommender.exceptions import NotEnoughData, TrainingInProgress
from recommender.models import TrainingConfig
from recommender.services import model_train

logger = logging.getLogger(__name__)


@shared_task(name="recommender.tasks.retrain", time_limit=2 * 60 * 60, soft_time_limit=110 * 60)
def retrain(config_id: int | None = None, triggered_by: str = "beat") -> dict:
    """Train the active (or given) configuration; safe to run twice: a concurrent run exits on the lock."""
    config = TrainingConfig.objects.filter(pk=config_id).first() if config_id else None
    try:
        version = model_train(config=config, triggered_by=triggered_by)
    except TrainingInProgress:
        logger.info("recommender.retrain: another run holds the lock; skipping")
        return {"status": "skipped", "reason": "training_in_progress"}
    except NotEnoughData as exc:
        logger.info("recommender.retrain: %s", exc.message)
        return {"status": "skipped", "reason": "not_enough_data"}
    return {"status": version.status, "version": version.pk, "reason": version.reason,
            "ndcg": version.metrics.get("ndcg"), "timings": version.stage_timings}
