"""Celery jobs of recommendation serving."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="recommender.serving.tasks.user_vector_refresh", time_limit=60, ignore_result=True)
def user_vector_refresh(user_id: int) -> bool:
    """Recalculate and cache one user's vector after a new interaction, and rebuild their materialised list
    (safe to run twice: idempotent)."""
    from recommender.serving.services import user_vector_refresh as refresh

    return refresh(user_id)


@shared_task(name="recommender.serving.tasks.user_vectors_refresh", time_limit=120, ignore_result=True)
def user_vectors_refresh(user_ids: list[int]) -> int:
    """`user_vector_refresh` for each user of a batch (`superapp.publish.publish_batched`: the users with new
    interactions in the last fraction of a second in one web process). Returns how many got a vector."""
    from recommender.serving.services import users_vector_refresh

    return users_vector_refresh(user_ids)


@shared_task(name="recommender.serving.tasks.user_vectors_refresh_after_events", time_limit=120, ignore_result=True)
def user_vectors_refresh_after_events(user_ids: list[int]) -> int:
    """`user_vectors_refresh` after the app's own events (`POST /events`: impressions, clicks, views), which
    leave the users' coupon eligibility as it was, so its cached answer is kept."""
    from recommender.serving.services import users_vector_refresh

    return users_vector_refresh(user_ids, eligibility_may_change=False)


@shared_task(name="recommender.serving.tasks.candidate_list_build", time_limit=60, ignore_result=True)
def candidate_list_build(user_id: int) -> bool:
    """Build one user's materialised list for the active version (after a miss or a trip change)."""
    from recommender.serving.materialise import candidate_list_build as build

    return build(user_id)


@shared_task(name="recommender.serving.tasks.candidate_lists_build_version", time_limit=6 * 60 * 60,
             soft_time_limit=6 * 60 * 60 - 60)
def candidate_lists_build_version(version_id: int) -> dict:
    """Build every known user's list for a newly activated version, in chunks, logging progress. Safe to run
    twice (lists are overwritten with the same content); stops when a newer version is activated."""
    from recommender.serving.materialise import candidate_lists_build_version as build

    result = build(version_id)
    logger.info("recommender: candidate lists for v%s: %s", version_id, result)
    return result
