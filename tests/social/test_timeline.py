import pytest

from superapp.social import services, timeline
from superapp.social.models import Visibility
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.social.conftest import befriend, post_by

pytestmark = pytest.mark.django_db


def read_all(client, limit=3):
    """Every item of the timeline through the API, following `next`, and the sources used."""
    ids, sources, url = [], set(), f"/api/v1/feed?limit={limit}"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        ids += [p["id"] for p in response.json()["results"]]
        sources.add(response["X-Timeline-Source"])
        url = response.json()["next"]
    return ids, sources


def build_world(reader):
    """Followees with public, friends-only and only-me posts; an unfollowed author; a blocked one;
    a deleted and a hidden post; a stranger. Returns the expected timeline of `reader`, newest first."""
    friend, followee, stranger, former, blocked = UserFactory.create_batch(5)
    befriend(reader, friend)
    for author in (followee, former, blocked):
        services.follow_create(follower=reader, followee_id=author.pk)
    expected = []
    for round_ in range(3):
        expected.append(post_by(reader, f"mine {round_}", visibility=Visibility.ONLY_ME).pk)
        expected.append(post_by(friend, f"friend public {round_}").pk)
        expected.append(post_by(friend, f"friend friends-only {round_}", visibility=Visibility.FRIENDS).pk)
        post_by(friend, "friend only-me", visibility=Visibility.ONLY_ME)
        expected.append(post_by(followee, f"followee {round_}").pk)
        post_by(followee, "followee friends-only", visibility=Visibility.FRIENDS)
        post_by(stranger, "stranger")
        post_by(former, "former followee")
        post_by(blocked, "blocked")
    deleted = post_by(followee, "deleted soon")
    services.post_delete(user=followee, post_id=deleted.pk)
    hidden = post_by(friend, "hidden soon")
    services.post_set_hidden(post_id=hidden.pk, hidden=True)
    services.follow_delete(follower=reader, followee_id=former.pk)
    services.block_create(blocker=reader, blocked_id=blocked.pk)
    return sorted(expected, reverse=True)


def test_database_timeline_is_complete_and_ordered(user, django_capture_on_commit_callbacks, sql_branch):
    with django_capture_on_commit_callbacks(execute=True):
        expected = build_world(user)
    client = client_for(user)
    ids, _ = read_all(client)
    assert ids == expected


def test_timeline_page_is_two_queries(user, django_assert_num_queries, monkeypatch, sql_branch):
    monkeypatch.setattr(timeline, "redis_client", lambda: None)
    build_world(user)
    client = client_for(user)
    with django_assert_num_queries(2):  # candidate ids, cards
        page = client.get("/api/v1/feed?limit=5").json()
    assert len(page["results"]) == 5
    with django_assert_num_queries(2):
        client.get(page["next"])


def test_timeline_cards_match_the_post_serializer(user, merchant):
    from superapp.social import services
    from superapp.social.serializers import PostSerializer

    services.review_create(author=user, merchant_id=merchant.pk, rating=4, text="good")
    services.checkin_create(user=user, merchant_id=merchant.pk)
    post_by(user, "plain", photos=["https://img.example/a.jpg"])
    services.like_create(user=user, post_id=post_by(user, "liked").pk)
    cards = client_for(user).get("/api/v1/feed").json()["results"]
    serialized = [client_for(user).get(f"/api/v1/posts/{card['id']}").json() for card in cards]
    assert len(cards) == 4 and cards == serialized
    assert PostSerializer.Meta.fields == list(cards[0])


@pytest.mark.redis
def test_fan_out_and_database_give_the_same_timeline(user, django_capture_on_commit_callbacks, monkeypatch):
    client = client_for(user)
    assert client.get("/api/v1/feed")["X-Timeline-Source"] == "database"  # cold: rebuilds
    with django_capture_on_commit_callbacks(execute=True):
        expected = build_world(user)
    cached_ids, sources = read_all(client)
    assert sources == {"cache"}
    # The fan-out really put the items there (not a database read in disguise).
    members = set(timeline.redis_client().zrange(timeline.timeline_key(user.pk), 0, -1))
    assert {str(i).encode() for i in expected} <= members
    monkeypatch.setattr(timeline, "redis_client", lambda: None)
    database_ids, sources = read_all(client)
    assert sources == {"database"}
    assert cached_ids == database_ids == expected


@pytest.mark.redis
def test_cold_cache_rebuilds_from_the_database(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        expected = build_world(user)
    client = client_for(user)
    # Fan-out never creates a timeline: the reader's was never read, so it is cold.
    assert not timeline.redis_client().exists(timeline.timeline_key(user.pk))
    first, _ = read_all(client, limit=100)
    cached, sources = read_all(client)
    assert first == cached == expected and sources == {"cache"}


@pytest.mark.redis
def test_warm_cache_page_is_two_queries(user, django_assert_num_queries, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        build_world(user)
    client = client_for(user)
    client.get("/api/v1/feed")  # warms
    with django_assert_num_queries(2):  # big accounts' ids, cards
        response = client.get("/api/v1/feed?limit=5")
    assert response["X-Timeline-Source"] == "cache" and len(response.json()["results"]) == 5


@pytest.mark.redis
def test_big_accounts_are_merged_at_read_time(user, settings, django_capture_on_commit_callbacks, sql_branch):
    settings.SOCIAL_FANOUT_MAX_FOLLOWERS = 2
    star, regular = UserFactory(), UserFactory()
    for fan in [user, *UserFactory.create_batch(2)]:
        services.follow_create(follower=fan, followee_id=star.pk)
    services.follow_create(follower=user, followee_id=regular.pk)
    client = client_for(user)
    client.get("/api/v1/feed")  # warm
    with django_capture_on_commit_callbacks(execute=True):
        posts = [post_by(star, "star 1").pk, post_by(regular, "regular 1").pk, post_by(star, "star 2").pk,
                 post_by(regular, "regular 2").pk, post_by(star, "star 3").pk]
    members = set(timeline.redis_client().zrange(timeline.timeline_key(user.pk), 0, -1))
    assert str(posts[0]).encode() not in members  # not fanned out...
    assert str(posts[1]).encode() in members
    ids, sources = read_all(client, limit=2)
    assert ids == sorted(posts, reverse=True) and sources == {"cache"}  # ...but merged on read


@pytest.mark.redis
def test_pages_past_the_capped_cache_come_from_the_database(user, settings, django_capture_on_commit_callbacks,
                                                           sql_branch):
    settings.SOCIAL_TIMELINE_CAP = 4
    followee = UserFactory()
    services.follow_create(follower=user, followee_id=followee.pk)
    client = client_for(user)
    client.get("/api/v1/feed")
    with django_capture_on_commit_callbacks(execute=True):
        posts = [post_by(followee, f"p{i}").pk for i in range(12)]
    assert timeline.redis_client().zcard(timeline.timeline_key(user.pk)) == 5  # 4 ids + the placeholder
    ids, sources = read_all(client, limit=2)
    assert ids == sorted(posts, reverse=True)
    assert sources == {"cache", "database"}


@pytest.mark.redis
def test_following_backfills_and_deleted_items_disappear(user, django_capture_on_commit_callbacks):
    author = UserFactory()
    older = post_by(author, "before the follow")
    client = client_for(user)
    client.get("/api/v1/feed")
    with django_capture_on_commit_callbacks(execute=True):
        services.follow_create(follower=user, followee_id=author.pk)
    assert str(older.pk).encode() in set(timeline.redis_client().zrange(timeline.timeline_key(user.pk), 0, -1))
    assert read_all(client)[0] == [older.pk]
    with django_capture_on_commit_callbacks(execute=True):
        services.post_delete(user=author, post_id=older.pk)
    assert read_all(client)[0] == []


@pytest.mark.redis
def test_first_page_is_rendered_once_and_never_served_stale(user, django_assert_num_queries,
                                                            django_capture_on_commit_callbacks):
    followee = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.follow_create(follower=user, followee_id=followee.pk)
    client = client_for(user)
    client.get("/api/v1/feed")  # cold: warms the timeline
    with django_capture_on_commit_callbacks(execute=True):
        first, second = post_by(followee, "one"), post_by(followee, "two")
    rendered = client.get("/api/v1/feed")
    assert rendered["X-Timeline-Source"] == "cache"
    with django_assert_num_queries(0):
        again = client.get("/api/v1/feed")
    assert again["X-Timeline-Source"] == "page-cache"
    assert again["Content-Type"] == "application/json" and again.json() == rendered.json()
    assert [p["id"] for p in again.json()["results"]] == [second.pk, first.pk]
    # My like changes my page; a new post, a delete and a hide change it for everyone.
    with django_capture_on_commit_callbacks(execute=True):
        services.like_create(user=user, post_id=first.pk)
    assert client.get("/api/v1/feed").json()["results"][1]["liked_by_me"] is True
    with django_capture_on_commit_callbacks(execute=True):
        third = post_by(followee, "three")
    assert [p["id"] for p in client.get("/api/v1/feed").json()["results"]] == [third.pk, second.pk, first.pk]
    with django_capture_on_commit_callbacks(execute=True):
        services.post_delete(user=followee, post_id=second.pk)
        services.post_set_hidden(post_id=third.pk, hidden=True)
    assert [p["id"] for p in client.get("/api/v1/feed").json()["results"]] == [first.pk]
    with django_capture_on_commit_callbacks(execute=True):
        services.follow_delete(follower=user, followee_id=followee.pk)
    assert client.get("/api/v1/feed").json()["results"] == []


@pytest.mark.parametrize("seed", range(2))
def test_timeline_cards_match_the_post_serializer_on_generated_posts(user, seed, monkeypatch):
    """`cards.post_cards` (the feed's fast rows) equal `PostSerializer` on generated posts: every kind, with and
    without merchant, city, photos, text; liked or not by the reader; counts of likes and comments."""
    import random

    from merchants.models import City, Vertical
    from superapp.social.serializers import PostSerializer
    from tests.factories import MerchantFactory

    monkeypatch.setattr(timeline, "redis_client", lambda: None)  # the database path renders every page
    rng = random.Random(seed)
    cities = list(City.objects.order_by("pk")[:3])
    merchants = [MerchantFactory(vertical=rng.choice(Vertical.values), city=place, latitude=None, longitude=None,
                                 time_zone="UTC", currency="EUR") for place in [*cities, None]]
    authors = [user, *UserFactory.create_batch(3)]
    for author in authors[1:]:
        author.display_name = rng.choice(["", "Ana María", "李雷"])
        author.avatar_url = rng.choice(["", "https://img.example/a.png"])
        author.save()
        services.follow_create(follower=user, followee_id=author.pk)
    ids, reviewed = [], set()
    for i in range(24):
        author = rng.choice(authors)
        photos = [f"https://img.example/{seed}/{i}/{n}.jpg" for n in range(rng.randint(0, 2))]
        kind = rng.choice(["post", "review", "checkin"])
        unreviewed = [m for m in merchants if (author.pk, m.pk) not in reviewed]
        if kind == "review" and unreviewed:
            merchant = rng.choice(unreviewed)
            reviewed.add((author.pk, merchant.pk))
            post = services.review_create(author=author, merchant_id=merchant.pk, rating=rng.randint(1, 5),
                                          text=rng.choice(["", "good"]), photos=photos).post
        elif kind in ("post", "review"):
            post = services.post_create(author=author, text=rng.choice(["", "hi", "ü" * 40]) or "x", photos=photos,
                                        merchant_id=rng.choice([None, rng.choice(merchants).pk]),
                                        city_id=rng.choice([None, *[c.pk for c in cities]]))
        else:
            post = services.checkin_create(user=author, merchant_id=rng.choice(merchants).pk,
                                           text=rng.choice(["", "here"]), photos=photos).post
        for liker in rng.sample(authors, rng.randint(0, 2)):
            services.like_create(user=liker, post_id=post.pk)
        for _ in range(rng.randint(0, 2)):
            services.comment_create(user=rng.choice(authors), post_id=post.pk, text="nice")
        ids.append(post.pk)
    client = client_for(user)
    cards, _ = read_all(client, limit=7)
    assert sorted(cards) == sorted(set(ids))
    page, url = [], "/api/v1/feed?limit=50"
    while url:
        body = client.get(url).json()
        page += body["results"]
        url = body["next"]
    for card in page:
        assert card == client.get(f"/api/v1/posts/{card['id']}").json()
        assert list(card) == PostSerializer.Meta.fields
