"""Social settings (`SOCIAL_*`): defined in `superapp/settings.py` (defaults, environment), read from
`django.conf.settings` when used (`superapp.conf.setting`), so `override_settings` applies. The text limits
below are constants of the API (the schema states them), not settings."""

from __future__ import annotations

from superapp.conf import setting


def timeline_redis_url() -> str:
    """The timelines' Redis (`SOCIAL_TIMELINE_REDIS_URL`, else `REDIS_URL`; empty: no timelines cache)."""
    return setting("SOCIAL_TIMELINE_REDIS_URL") or setting("REDIS_URL")


def fanout_max_followers() -> int:
    """Authors with more followers than this are not fanned out on write; readers merge their recent
    items at read time instead (one post would otherwise cost that many Redis writes)."""
    return setting("SOCIAL_FANOUT_MAX_FOLLOWERS", int)


def timeline_cap() -> int:
    """Item ids kept per cached timeline; older pages are read from the database."""
    return setting("SOCIAL_TIMELINE_CAP", int)


def timeline_ttl_s() -> int:
    """Cached timelines of users who stop reading expire; the next read rebuilds from the database."""
    return setting("SOCIAL_TIMELINE_TTL_S", int)


def fanout_batch() -> int:
    return setting("SOCIAL_FANOUT_BATCH", int)


POST_TEXT_MAX = 2000
REVIEW_TEXT_MAX = 5000
COMMENT_TEXT_MAX = 1000
PHOTOS_MAX = 10
PHOTO_URL_MAX = 500
SEARCH_QUERY_MAX = 100
