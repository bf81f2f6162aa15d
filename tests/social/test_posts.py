import pytest

from recommender.models import Interaction
from superapp.social import services
from superapp.social.models import Comment, Like, Post
from tests.conftest import client_for
from tests.social.conftest import post_by
from tests.superapp.test_api_conventions import assert_error_shape

pytestmark = pytest.mark.django_db


def test_create_post_with_merchant_tag_takes_its_city(auth_client, merchant):
    response = auth_client.post("/api/v1/posts", {"text": "Great noodles", "photos": ["https://img.example/1.jpg"],
                                                  "merchant_id": merchant.pk, "visibility": "friends"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["merchant"]["id"] == merchant.pk and body["city"]["id"] == merchant.city_id
    assert body["visibility"] == "friends" and body["kind"] == "post" and body["liked_by_me"] is False


@pytest.mark.parametrize(("payload", "code"), [
    ({"text": "x" * 2001}, "text_too_long"),
    ({"text": "x", "photos": [f"https://img.example/{i}.jpg" for i in range(11)]}, "too_many_photos"),
    ({"text": "   "}, "empty_post"),
    ({"text": "x", "visibility": "everyone"}, "validation_error"),
    ({"text": "x", "merchant_id": 999999}, "merchant_not_found"),
    ({"text": "x", "city_id": 999999}, "unknown_city"),
])
def test_bad_posts_are_rejected_and_nothing_is_written(auth_client, payload, code):
    response = auth_client.post("/api/v1/posts", payload, format="json")
    assert response.status_code in (400, 404)
    assert_error_shape(response, response.status_code, code)
    assert not Post.objects.exists()


def test_only_the_author_edits_or_deletes(user, other_user):
    post = post_by(user, "first")
    assert_error_shape(client_for(other_user).patch(f"/api/v1/posts/{post.pk}", {"text": "hacked"}, format="json"),
                       404, "post_not_found")
    assert_error_shape(client_for(other_user).delete(f"/api/v1/posts/{post.pk}"), 404, "post_not_found")
    edited = client_for(user).patch(f"/api/v1/posts/{post.pk}", {"text": "second", "visibility": "only_me"},
                                    format="json")
    assert edited.json()["text"] == "second" and edited.json()["visibility"] == "only_me"
    assert client_for(user).delete(f"/api/v1/posts/{post.pk}").status_code == 204
    assert not Post.objects.exists()


def test_like_unlike_and_event_for_merchant_tagged_posts(user, other_user, merchant,
                                                         django_capture_on_commit_callbacks):
    post = post_by(user, "at a merchant", merchant_id=merchant.pk)
    client = client_for(other_user)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/posts/{post.pk}/like").json() == {"post_id": post.pk, "liked": True,
                                                                       "like_count": 1}
    assert client.post(f"/api/v1/posts/{post.pk}/like").status_code == 200
    likes = client_for(user).get(f"/api/v1/posts/{post.pk}/likes").json()["results"]
    assert [like["user"]["id"] for like in likes] == [other_user.pk]
    event = Interaction.objects.get(kind="like")
    assert (event.user_id, event.merchant_id, event.source) == (other_user.pk, merchant.pk,
                                                                 f"like:{Like.objects.get().pk}")
    assert client.delete(f"/api/v1/posts/{post.pk}/like").json()["like_count"] == 0


def test_like_of_untagged_post_is_not_an_event(user, other_user, django_capture_on_commit_callbacks):
    post = post_by(user)
    with django_capture_on_commit_callbacks(execute=True):
        services.like_create(user=other_user, post_id=post.pk)
    assert not Interaction.objects.exists()


def test_comments_create_list_and_delete(user, other_user, make_user):
    post = post_by(user)
    client = client_for(other_user)
    created = client.post(f"/api/v1/posts/{post.pk}/comments", {"text": "Nice!"}, format="json")
    assert created.status_code == 201
    client.post(f"/api/v1/posts/{post.pk}/comments", {"text": "Again"}, format="json")
    listed = client_for(user).get(f"/api/v1/posts/{post.pk}/comments").json()["results"]
    assert [c["text"] for c in listed] == ["Nice!", "Again"]  # oldest first
    assert Post.objects.get().comment_count == 2
    # A stranger cannot delete it; the post's author can.
    assert_error_shape(client_for(make_user()).delete(f"/api/v1/comments/{created.json()['id']}"), 404)
    assert client_for(user).delete(f"/api/v1/comments/{created.json()['id']}").status_code == 204
    assert Post.objects.get().comment_count == 1


def test_bad_comments_write_nothing(user, other_user):
    post = post_by(user)
    private = post_by(user, "secret", visibility="only_me")
    client = client_for(other_user)
    assert_error_shape(client.post(f"/api/v1/posts/{post.pk}/comments", {"text": "x" * 1001}, format="json"),
                       400, "text_too_long")
    assert_error_shape(client.post(f"/api/v1/posts/{private.pk}/comments", {"text": "hi"}, format="json"),
                       404, "post_not_found")
    assert_error_shape(client.post(f"/api/v1/posts/{private.pk}/like"), 404, "post_not_found")
    assert not Comment.objects.exists() and not Like.objects.exists()


def test_blocked_user_cannot_like_or_comment(user, other_user):
    post = post_by(user)
    services.block_create(blocker=user, blocked_id=other_user.pk)
    client = client_for(other_user)
    assert_error_shape(client.post(f"/api/v1/posts/{post.pk}/like"), 404, "post_not_found")
    assert_error_shape(client.post(f"/api/v1/posts/{post.pk}/comments", {"text": "hi"}, format="json"), 404)
    assert not Comment.objects.exists() and not Like.objects.exists()


def test_invalid_cursor_and_limit_are_400(auth_client):
    assert_error_shape(auth_client.get("/api/v1/feed?cursor=bogus!"), 400, "invalid_cursor")
    assert_error_shape(auth_client.get("/api/v1/feed?limit=0"), 400, "validation_error")
    assert_error_shape(auth_client.get("/api/v1/feed?limit=101"), 400, "validation_error")
