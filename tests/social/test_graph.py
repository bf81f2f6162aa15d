import pytest

from superapp.social import services
from superapp.social.models import Block, Follow, FriendRequest, Friendship, SocialStats
from tests.conftest import client_for
from tests.factories import UserFactory, city
from tests.social.conftest import befriend
from tests.superapp.test_api_conventions import assert_error_shape

pytestmark = pytest.mark.django_db


def stats(user):
    return SocialStats.objects.get(user=user)


def test_follow_and_unfollow_update_counts(auth_client, user, other_user):
    assert auth_client.post(f"/api/v1/users/{other_user.pk}/follow").status_code == 201
    assert auth_client.post(f"/api/v1/users/{other_user.pk}/follow").status_code == 200  # idempotent
    assert Follow.objects.filter(follower=user, followee=other_user).count() == 1
    assert stats(other_user).followers_count == 1 and stats(user).following_count == 1
    assert auth_client.delete(f"/api/v1/users/{other_user.pk}/follow").json() == {"user_id": other_user.pk,
                                                                                  "following": False}
    assert stats(other_user).followers_count == 0 and not Follow.objects.exists()


def test_following_oneself_is_400_and_writes_nothing(auth_client, user):
    assert_error_shape(auth_client.post(f"/api/v1/users/{user.pk}/follow"), 400, "cannot_follow_self")
    assert not Follow.objects.exists()


def test_following_an_unknown_user_is_404(auth_client):
    assert_error_shape(auth_client.post("/api/v1/users/999999/follow"), 404, "user_not_found")


def test_followers_list_is_cursor_paginated(user, django_assert_num_queries):
    fans = UserFactory.create_batch(5)
    for fan in fans:
        services.follow_create(follower=fan, followee_id=user.pk)
    client = client_for(user)
    with django_assert_num_queries(2):  # the user check, the page
        first = client.get(f"/api/v1/users/{user.pk}/followers?limit=3").json()
    assert [r["user"]["id"] for r in first["results"]] == [f.pk for f in reversed(fans[2:])]
    second = client.get(first["next"]).json()
    assert [r["user"]["id"] for r in second["results"]] == [fans[1].pk, fans[0].pk]
    assert second["next"] is None
    following = client_for(fans[0]).get(f"/api/v1/users/{fans[0].pk}/following").json()
    assert [r["user"]["id"] for r in following["results"]] == [user.pk]


def test_friend_request_accept_makes_mutual_friends_who_follow_each_other(user, other_user):
    response = client_for(user).post("/api/v1/friend-requests", {"to_user_id": other_user.pk}, format="json")
    assert response.status_code == 201
    request_id = response.json()["id"]
    incoming = client_for(other_user).get("/api/v1/friend-requests").json()["results"]
    assert [r["id"] for r in incoming] == [request_id]
    # Only the addressee can accept.
    assert_error_shape(client_for(user).post(f"/api/v1/friend-requests/{request_id}/accept"), 404)
    accepted = client_for(other_user).post(f"/api/v1/friend-requests/{request_id}/accept")
    assert accepted.json()["status"] == "accepted"
    assert Friendship.objects.filter(user=user, friend=other_user).exists()
    assert Friendship.objects.filter(user=other_user, friend=user).exists()
    assert Follow.objects.filter(follower=user, followee=other_user).exists()
    assert Follow.objects.filter(follower=other_user, followee=user).exists()
    assert [f["user"]["id"] for f in client_for(user).get("/api/v1/friends").json()["results"]] == [other_user.pk]
    again = client_for(other_user).post(f"/api/v1/friend-requests/{request_id}/accept")
    assert_error_shape(again, 409, "friend_request_not_pending")
    dup = client_for(user).post("/api/v1/friend-requests", {"to_user_id": other_user.pk}, format="json")
    assert_error_shape(dup, 409, "already_friends")


def test_crossing_friend_requests_become_a_friendship(user, other_user):
    services.friend_request_create(from_user=user, to_user_id=other_user.pk)
    services.friend_request_create(from_user=other_user, to_user_id=user.pk)
    assert Friendship.objects.count() == 2
    assert not FriendRequest.objects.filter(status="pending").exists()


def test_duplicate_pending_request_and_decline(user, other_user):
    services.friend_request_create(from_user=user, to_user_id=other_user.pk)
    dup = client_for(user).post("/api/v1/friend-requests", {"to_user_id": other_user.pk}, format="json")
    assert_error_shape(dup, 409, "friend_request_exists")
    request = FriendRequest.objects.get()
    assert client_for(other_user).post(f"/api/v1/friend-requests/{request.pk}/decline").json()["status"] == "declined"
    assert not Friendship.objects.exists()


def test_unfriend_removes_both_rows(user, other_user):
    befriend(user, other_user)
    assert client_for(other_user).delete(f"/api/v1/friends/{user.pk}").status_code == 204
    assert not Friendship.objects.exists()
    assert stats(user).friends_count == 0


def test_block_removes_follows_and_friendship_both_ways(user, other_user):
    befriend(user, other_user)
    assert client_for(user).post(f"/api/v1/users/{other_user.pk}/block").status_code == 201
    assert not Follow.objects.exists() and not Friendship.objects.exists()
    assert stats(user).followers_count == 0 and stats(other_user).following_count == 0
    assert [b["user"]["id"] for b in client_for(user).get("/api/v1/blocks").json()["results"]] == [other_user.pk]


def test_blocked_user_cannot_see_or_reach_the_blocker(user, other_user):
    services.block_create(blocker=user, blocked_id=other_user.pk)
    blocked = client_for(other_user)
    assert_error_shape(blocked.get(f"/api/v1/users/{user.pk}"), 404, "user_not_found")
    assert_error_shape(blocked.post(f"/api/v1/users/{user.pk}/follow"), 404, "user_not_found")
    assert_error_shape(blocked.get(f"/api/v1/users/{user.pk}/followers"), 404, "user_not_found")
    assert_error_shape(blocked.post("/api/v1/friend-requests", {"to_user_id": user.pk}, format="json"), 404)
    assert blocked.get("/api/v1/users/search?q=" + user.username).json()["results"] == []
    # The blocker must unblock before following.
    assert_error_shape(client_for(user).post(f"/api/v1/users/{other_user.pk}/follow"), 409, "user_blocked")
    assert not Follow.objects.exists() and not FriendRequest.objects.exists()
    assert client_for(user).delete(f"/api/v1/users/{other_user.pk}/block").status_code == 204
    assert not Block.objects.exists()
    assert blocked.get(f"/api/v1/users/{user.pk}").status_code == 200


def test_profile_shows_counts_and_relationship(user, other_user):
    befriend(user, other_user)
    body = client_for(user).get(f"/api/v1/users/{other_user.pk}").json()
    assert body["followers_count"] == 1 and body["friends_count"] == 1
    assert body["relationship"] == {"is_me": False, "is_following": True, "follows_me": True, "is_friend": True,
                                    "is_blocked": False, "friend_request": None}


def test_profile_names_the_home_city_like_me_does(user, other_user):
    home = city("zurich")
    other_user.home_city = home
    other_user.save()
    body = client_for(user).get(f"/api/v1/users/{other_user.pk}").json()
    me = client_for(other_user).get("/api/v1/me").json()
    assert body["home_city"] == me["home_city"] and body["home_city"]["id"] == home.pk
    assert body["home_city_id"] == home.pk  # the old name, until 0.3.0


def test_user_search_finds_people_by_name(user, make_user):
    target = make_user(username="zoe_traveller", display_name="Zoe Q")
    results = client_for(user).get("/api/v1/users/search?q=zoe").json()["results"]
    assert [r["id"] for r in results] == [target.pk]
    assert_error_shape(client_for(user).get("/api/v1/users/search?q=z"), 400, "validation_error")
