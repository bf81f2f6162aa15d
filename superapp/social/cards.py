"""Post cards as plain dicts straight from `.values()`: the timeline's hot path skips model
instances and DRF field machinery. The shape is exactly `serializers.PostSerializer`'s (a test
checks they agree); the serializer still documents it in the schema."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.fields import DateTimeField

_FIELDS = (
    "id", "kind", "text", "photos", "visibility", "like_count", "comment_count", "created_at", "updated_at",
    "author_id", "author__username", "author__display_name", "author__avatar_url",
    "merchant_id", "merchant__name", "merchant__vertical", "merchant__city_id",
    "city_id", "city__name", "city__slug", "review__id", "review__rating", "checkin__id", "liked_by_me",
)
_datetime = DateTimeField()


def post_cards(posts: QuerySet) -> list[dict[str, Any]]:
    """Evaluate `posts` (from `selectors.posts_visible_to`, sliced/ordered) into API cards. One query."""
    return [_card(row) for row in posts.values(*_FIELDS)]


def _card(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "author": {"id": row["author_id"], "username": row["author__username"],
                   "display_name": row["author__display_name"], "avatar_url": row["author__avatar_url"]},
        "text": row["text"],
        "photos": row["photos"],
        "merchant": None if row["merchant_id"] is None else {
            "id": row["merchant_id"], "name": row["merchant__name"], "vertical": row["merchant__vertical"],
            "city_id": row["merchant__city_id"]},
        "city": None if row["city_id"] is None else {
            "id": row["city_id"], "name": row["city__name"], "slug": row["city__slug"]},
        "visibility": row["visibility"],
        "like_count": row["like_count"],
        "comment_count": row["comment_count"],
        "liked_by_me": bool(row["liked_by_me"]),
        "review_id": row["review__id"],
        "rating": row["review__rating"],
        "checkin_id": row["checkin__id"],
        "created_at": _datetime.to_representation(row["created_at"]),
        "updated_at": _datetime.to_representation(row["updated_at"]),
    }
