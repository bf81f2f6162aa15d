"""Try to leak the author's content through every read path, as every kind of viewer.

The author has a public post, a friends-only post, an only-me post, a friends-only review and an
only-me check-in at a merchant, a comment and a like on a third person's public post, and follows
that third person. Each viewer must see exactly what their relation allows, on every path.
"""

import pytest

from superapp.social import selectors, services
from tests.conftest import client_for
from tests.factories import MerchantFactory, UserFactory
from tests.social.conftest import befriend, post_by

pytestmark = pytest.mark.django_db

MARK = "zebra"  # a word only the author's items contain, for search

EXPECTED = {
    "author": {"public", "friends", "only_me", "review", "checkin"},
    "friend": {"public", "friends", "review"},
    "follower": {"public"},
    "stranger": {"public"},
    "blocked": set(),   # the author blocked this viewer
    "blocker": set(),   # this viewer blocked the author
}


@pytest.fixture
def world():
    author = UserFactory(username="author_zz", display_name="The Author")
    third = UserFactory()
    merchant = MerchantFactory()
    viewers = {"author": author, **{role: UserFactory() for role in EXPECTED if role != "author"}}
    befriend(author, viewers["friend"])
    for role in ("follower", "stranger", "blocked", "blocker"):
        if role != "stranger":
            services.follow_create(follower=viewers[role], followee_id=author.pk)
    services.follow_create(follower=author, followee_id=third.pk)
    items = {
        "public": post_by(author, f"{MARK} public"),
        "friends": post_by(author, f"{MARK} friends", visibility="friends"),
        "only_me": post_by(author, f"{MARK} only me", visibility="only_me"),
        "review": services.review_create(author=author, merchant_id=merchant.pk, rating=4, text=f"{MARK} review",
                                         visibility="friends").post,
        "checkin": services.checkin_create(user=author, merchant_id=merchant.pk, text=f"{MARK} checkin",
                                           visibility="only_me").post,
    }
    third_post = post_by(third, "third person's public post")
    services.comment_create(user=author, post_id=third_post.pk, text=f"{MARK} comment")
    services.like_create(user=author, post_id=third_post.pk)
    services.block_create(blocker=author, blocked_id=viewers["blocked"].pk)
    services.block_create(blocker=viewers["blocker"], blocked_id=author.pk)
    label_of = {post.pk: label for label, post in items.items()}
    return {"author": author, "third": third, "third_post": third_post, "merchant": merchant, "viewers": viewers,
            "items": items, "label_of": label_of}


def _labels(world, post_ids):
    return {world["label_of"][pk] for pk in post_ids if pk in world["label_of"]}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_no_read_path_leaks(world, role):
    viewer = world["viewers"][role]
    client = client_for(viewer)
    author, expected = world["author"], EXPECTED[role]

    # Timeline (the follower roles follow the author; blocks removed theirs).
    feed = client.get("/api/v1/feed?limit=100").json()["results"]
    in_feed = _labels(world, [p["id"] for p in feed])
    assert in_feed == (expected if role in ("author", "friend", "follower") else set())

    # Profile posts.
    response = client.get(f"/api/v1/users/{author.pk}/posts?limit=100")
    if role == "blocked":
        assert response.status_code == 404
    else:
        assert _labels(world, [p["id"] for p in response.json()["results"]]) == expected

    # Each post directly.
    for label, post in world["items"].items():
        status = client.get(f"/api/v1/posts/{post.pk}").status_code
        assert status == (200 if label in expected else 404), (label, status)

    # Search.
    found = client.get(f"/api/v1/posts?q={MARK}&limit=100").json()["results"]
    assert _labels(world, [p["id"] for p in found]) == expected

    # Merchant reviews and "friends who were here".
    reviews = client.get(f"/api/v1/merchants/{world['merchant'].pk}/reviews").json()
    assert _labels(world, [r["post"]["id"] for r in reviews["results"]]) == expected & {"review"}
    here = [u["id"] for u in reviews["friends_who_were_here"]["users"]]
    assert here == ([author.pk] if role == "friend" else [])
    assert reviews["rating_count"] == 1  # the aggregate counts every review; it reveals no one

    # Comments and likes on someone else's post.
    third_post = world["third_post"].pk
    commenters = [c["author"]["id"] for c in client.get(f"/api/v1/posts/{third_post}/comments").json()["results"]]
    likers = [like["user"]["id"] for like in client.get(f"/api/v1/posts/{third_post}/likes").json()["results"]]
    sees_author = role not in ("blocked", "blocker")
    assert (author.pk in commenters) is sees_author
    assert (author.pk in likers) is sees_author

    # People search and someone else's followers list.
    people = [u["id"] for u in client.get("/api/v1/users/search?q=author_zz").json()["results"]]
    assert (author.pk in people) is sees_author
    followers = [f["user"]["id"] for f in
                 client.get(f"/api/v1/users/{world['third'].pk}/followers").json()["results"]]
    assert (author.pk in followers) is sees_author


@pytest.mark.parametrize("role", ["friend", "follower", "stranger", "blocked", "blocker"])
def test_friends_who_visited_respects_visibility_and_blocks(world, role):
    viewer = world["viewers"][role]
    merchant = world["merchant"]
    visited = selectors.friends_who_visited(user=viewer, merchant_ids=[merchant.pk])
    # The follower follows the author, but the review is for friends and the check-in only for the author.
    assert visited == ({merchant.pk: [world["author"]]} if role == "friend" else {})
    # The answer for every merchant at once is the same rule.
    anywhere = selectors.friends_who_visited_anywhere(user=viewer, max_visits=100)
    assert {m: v for m, v in anywhere.items() if m == merchant.pk} == visited


def test_hidden_items_show_nowhere(world):
    friend = world["viewers"]["friend"]
    for post in world["items"].values():
        services.post_set_hidden(post_id=post.pk, hidden=True)
    client = client_for(friend)
    assert _labels(world, [p["id"] for p in client.get("/api/v1/feed").json()["results"]]) == set()
    assert client.get(f"/api/v1/posts/{world['items']['public'].pk}").status_code == 404
    assert client.get(f"/api/v1/merchants/{world['merchant'].pk}/reviews").json()["rating_count"] == 0
    assert selectors.friends_who_visited(user=friend, merchant_ids=[world["merchant"].pk]) == {}
