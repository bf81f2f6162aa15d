"""Celery jobs of recommendation serving."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="recommender.serving.tasks.user_vector_refresh", time_limit=60, ignore_result=True)
def user_vector_refresh(user_id: int) -> bool:
    """Recalculate and cache one user's vector after a new interaction (safe to run twice: idempotent)."""
    from recommender.serving.services import user_vector_refresh as refresh

    return refresh(user_id)
