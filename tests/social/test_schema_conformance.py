"""Social responses match the OpenAPI schema for the data users really have (regressions from the CI fuzzer)."""

import pytest

from superapp.social import services
from superapp.social.models import Visibility
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.schema_conformance import assert_conforms
from tests.social.conftest import befriend, post_by

pytestmark = pytest.mark.django_db


def test_user_summaries_of_users_without_avatar_match_the_schema(user):
    # No avatar is stored as "", which is not a "uri": the schema must not promise one.
    friend, blocked, asked = (UserFactory(avatar_url="") for _ in range(3))
    befriend(user, friend)
    services.block_create(blocker=user, blocked_id=blocked.pk)
    pending = services.friend_request_create(from_user=user, to_user_id=asked.pk)
    post = post_by(friend, visibility=Visibility.FRIENDS)
    services.follow_create(follower=friend, followee_id=user.pk)
    client = client_for(user)

    friends = assert_conforms(client.get("/api/v1/friends"), "get", "/api/v1/friends")
    assert friends["results"][0]["user"]["avatar_url"] == ""
    assert_conforms(client.get("/api/v1/blocks"), "get", "/api/v1/blocks")
    assert_conforms(client.get("/api/v1/friend-requests?direction=outgoing"), "get", "/api/v1/friend-requests")
    feed = assert_conforms(client.get("/api/v1/feed"), "get", "/api/v1/feed")
    assert [item["id"] for item in feed["results"]] == [post.pk]
    assert_conforms(client.get(f"/api/v1/posts/{post.pk}"), "get", "/api/v1/posts/{post_id}")
    assert_conforms(client.get(f"/api/v1/users/{user.pk}/followers"), "get", "/api/v1/users/{user_id}/followers")
    assert_conforms(client.delete(f"/api/v1/friend-requests/{pending.pk}"), "delete",
                    "/api/v1/friend-requests/{request_id}")
