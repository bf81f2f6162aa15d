"""Timeline jobs. Each takes ids, is safe to run twice, and is enqueued after commit."""

from celery import shared_task

from superapp.social import timeline


@shared_task(name="social.tasks.timeline_fan_out", time_limit=120, soft_time_limit=110, acks_late=True)
def timeline_fan_out_task(post_id: int) -> int:
    return timeline.timeline_fan_out(post_id=post_id)


@shared_task(name="social.tasks.timeline_backfill", time_limit=60, soft_time_limit=55, acks_late=True)
def timeline_backfill_task(user_id: int, author_id: int) -> int:
    return timeline.timeline_backfill(user_id=user_id, author_id=author_id)


@shared_task(name="social.tasks.timeline_rebuild", time_limit=120, soft_time_limit=110, acks_late=True)
def timeline_rebuild_task(user_id: int) -> int:
    return timeline.timeline_rebuild(user_id=user_id)
