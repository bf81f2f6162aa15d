"""Demo social world: friendships and follows, posts, reviews, check-ins, likes and comments.

People have taste: each crowd user leans to one or two clusters of categories (Chinese food,
European food, nightlife, wellness, culture, shopping...), visits mostly in their home city (and
where they travel now), and rates by taste and the merchant's own quality, so reviews and check-ins
are a learnable signal for the recommender. Named users get a story: alice's friends have been to
Davos, where she is now, so "friends were here" has something to say.

Bulk inserts only (a few seconds); counters and rating summaries (through the merchants' service) are
computed once at the end. The recommender's seeder turns the reviews, check-ins and likes into interactions
with the same (kind, source) keys the services send.
Without merchants (services not seeded) it writes merchant-less posts only.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from merchants.models import Merchant
from merchants.services import merchant_ratings_replace
from superapp.accounts.models import User
from superapp.social.models import (
    CheckIn,
    Comment,
    Follow,
    Friendship,
    Like,
    Post,
    PostKind,
    Review,
    SocialStats,
    Visibility,
)

TASTES = {
    "chinese-food": ["hotpot", "dim-sum", "zhejiang-cuisine", "noodles", "tea"],
    "japanese-food": ["sushi", "ramen", "karaoke"],
    "european-food": ["swiss", "fondue", "french", "italian", "pizza", "british"],
    "quick-bites": ["burger", "pizza", "noodles", "cafe", "ramen"],
    "nightlife": ["bar", "karaoke", "cinema"],
    "wellness": ["spa", "fitness", "cafe", "tea"],
    "culture": ["museum", "tour", "attraction-ticket", "cinema"],
    "outdoors": ["ski", "tour", "hostel", "car-rental"],
    "shopping": ["fashion", "department-store", "electronics", "souvenir", "supermarket"],
    "luxury": ["luxury", "watches", "hotel", "spa", "french"],
}
NAMED_TASTES = {
    "alice": ["chinese-food", "luxury", "outdoors"], "bob": ["chinese-food", "nightlife"],
    "chen": ["quick-bites", "shopping"], "dora": ["european-food", "outdoors"],
    "emma": ["european-food", "culture"], "frank": ["nightlife", "quick-bites"],
    "gina": ["japanese-food", "wellness"], "hugo": ["quick-bites", "culture"],
}
NAMED_FRIENDS = [("alice", "bob"), ("alice", "chen"), ("bob", "chen"), ("alice", "dora"), ("dora", "emma"),
                 ("emma", "frank"), ("gina", "hugo"), ("frank", "hugo"), ("alice", "gina")]
VISIBILITY_WEIGHTS = ([Visibility.PUBLIC, Visibility.FRIENDS, Visibility.ONLY_ME], [70, 25, 5])
REVIEW_TEXT = {
    5: ["Outstanding, will be back.", "Best in town, hands down.", "Loved every minute."],
    4: ["Very good, a little busy.", "Solid choice, friendly staff.", "Good value, recommended."],
    3: ["Fine, nothing special.", "Okay for a quick visit.", "Decent but overpriced."],
    2: ["Disappointing this time.", "Slow service, average quality."],
    1: ["Would not go again.", "Not worth it at all."],
}
POST_TEXT = ["Lovely weekend in {city}!", "Sunset walk around {city}.", "Exploring {city} with friends.",
             "Rainy day in {city}, coffee time.", "New week, new plans in {city}."]
DAYS_BACK = 120


def seed(*, rng, stdout) -> None:
    users = list(User.objects.filter(is_active=True, is_staff=False, is_imported=False)
                 .select_related("home_city", "current_city").order_by("pk"))
    if not users:
        stdout.write("  social: no users, nothing to do")
        return
    with transaction.atomic():
        _seed(rng=rng, stdout=stdout, users=users)


def _seed(*, rng, stdout, users: list[User]) -> None:
    now = timezone.now()
    by_name = {u.username: u for u in users}
    crowd = [u for u in users if u.username not in NAMED_TASTES]
    tastes = {u.pk: NAMED_TASTES.get(u.username) or rng.sample(sorted(TASTES), rng.choice([1, 2, 2, 3]))
              for u in users}

    # --- merchants by city and category ----------------------------------------------------------------
    merchants = {m.pk: m for m in Merchant.objects.filter(is_active=True).exclude(vertical="city_service")}
    leaves: dict[int, set[str]] = defaultdict(set)
    for merchant_id, slug in Merchant.categories.through.objects.filter(merchant_id__in=list(merchants)).values_list(
            "merchant_id", "category__slug"):
        leaves[merchant_id].add(slug)
    by_city: dict[int, list[Merchant]] = defaultdict(list)
    for merchant in sorted(merchants.values(), key=lambda m: m.pk):
        by_city[merchant.city_id].append(merchant)
    quality = {pk: rng.gauss(0, 0.8) for pk in sorted(merchants)}  # some places are simply better

    # --- graph ------------------------------------------------------------------------------------------
    friend_pairs: set[tuple[int, int]] = set()

    def befriend(a: User, b: User) -> None:
        if a.pk != b.pk:
            friend_pairs.add((min(a.pk, b.pk), max(a.pk, b.pk)))

    for a, b in NAMED_FRIENDS:
        if a in by_name and b in by_name:
            befriend(by_name[a], by_name[b])
    same_city: dict[int | None, list[User]] = defaultdict(list)
    for u in crowd:
        same_city[u.home_city_id].append(u)
    for u in crowd:
        neighbours = same_city[u.home_city_id]
        for other in rng.sample(neighbours, min(len(neighbours), rng.randint(1, 4))):
            befriend(u, other)
        if rng.random() < 0.3 and crowd:
            befriend(u, rng.choice(crowd))
    for name, user in sorted(by_name.items()):
        if name in NAMED_TASTES:
            locals_ = same_city.get(user.home_city_id) or crowd
            for other in rng.sample(locals_, min(len(locals_), 5)):
                befriend(user, other)
    follow_pairs = {(a, b) for a, b in friend_pairs} | {(b, a) for a, b in friend_pairs}
    # A few crowd "influencers" collect follows (power law): the rank decides the odds.
    influencers = rng.sample(crowd, min(len(crowd), 12))
    for u in users:
        for rank, star in enumerate(influencers):
            if star.pk != u.pk and rng.random() < 0.5 / (rank + 1):
                follow_pairs.add((u.pk, star.pk))
        for other in rng.sample(users, min(len(users), rng.randint(0, 6))):
            if other.pk != u.pk:
                follow_pairs.add((u.pk, other.pk))

    def when(days_back_max: float = DAYS_BACK) -> datetime:
        return now - timedelta(days=rng.uniform(0.05, days_back_max), minutes=rng.randint(0, 600))

    Friendship.objects.bulk_create(
        [Friendship(user_id=a, friend_id=b, created_at=when()) for a, b in sorted(friend_pairs)]
        + [Friendship(user_id=b, friend_id=a, created_at=when()) for a, b in sorted(friend_pairs)],
        ignore_conflicts=True)
    Follow.objects.bulk_create([Follow(follower_id=a, followee_id=b, created_at=when())
                                for a, b in sorted(follow_pairs)], ignore_conflicts=True)

    # --- visits: check-ins and reviews, by taste, mostly at home ------------------------------------------
    events: list[dict] = []  # sorted by time before insert, so post ids follow time
    reviewed: set[tuple[int, int]] = set()
    for u in users:
        liked_leaves = {leaf for taste in tastes[u.pk] for leaf in TASTES[taste]}
        home, current = u.home_city_id, u.current_city_id
        trip_cities = [c for c in sorted(by_city) if c != home]
        for _ in range(rng.randint(6, 22) if u.username not in NAMED_TASTES else 14):
            roll = rng.random()
            if current and current != home and roll < 0.35:
                city_id, days = current, 10  # travelling now: recent visits there
            elif roll < 0.85 or not trip_cities:
                city_id, days = home, DAYS_BACK
            else:
                city_id, days = rng.choice(trip_cities), DAYS_BACK  # an earlier trip
            candidates = by_city.get(city_id) or []
            if not candidates:
                continue
            matching = [m for m in candidates if leaves[m.pk] & liked_leaves]
            merchant = rng.choice(matching if matching and rng.random() < 0.85 else candidates)
            match = 1.0 if leaves[merchant.pk] & liked_leaves else -0.8
            rating = max(1, min(5, round(3.4 + quality[merchant.pk] + 0.7 * match + rng.gauss(0, 0.6))))
            visibility = rng.choices(*VISIBILITY_WEIGHTS)[0]
            at = when(days)
            events.append({"kind": PostKind.CHECKIN, "user": u, "merchant": merchant, "at": at,
                           "visibility": visibility, "text": rng.choice(["", "", f"At {merchant.name}"])})
            if (u.pk, merchant.pk) not in reviewed and rng.random() < 0.45:
                reviewed.add((u.pk, merchant.pk))
                events.append({"kind": PostKind.REVIEW, "user": u, "merchant": merchant, "rating": rating,
                               "at": at + timedelta(hours=rng.uniform(1, 30)), "visibility": visibility,
                               "text": rng.choice(REVIEW_TEXT[rating])})
    # alice is in Davos now: a few of her friends were there before her.
    alice = by_name.get("alice")
    davos = alice.current_city_id if alice else None
    if alice and by_city.get(davos):
        alice_friends = sorted(b if a == alice.pk else a for a, b in friend_pairs if alice.pk in (a, b))
        spots = rng.sample(by_city[davos], min(3, len(by_city[davos])))
        for friend_id in alice_friends[:4]:
            friend = next(u for u in users if u.pk == friend_id)
            for merchant in spots[: rng.randint(1, len(spots))]:
                events.append({"kind": PostKind.CHECKIN, "user": friend, "merchant": merchant, "at": when(60),
                               "visibility": Visibility.FRIENDS, "text": f"Great time at {merchant.name}"})
    # Plain posts, some tagged with a city (or a merchant there).
    for u in users:
        for _ in range(rng.randint(0, 4)):
            city = u.current_city if rng.random() < 0.5 else u.home_city
            tagged = rng.choice(by_city[city.pk]) if city and by_city.get(city.pk) and rng.random() < 0.3 else None
            events.append({"kind": PostKind.POST, "user": u, "merchant": tagged, "at": when(),
                           "visibility": rng.choices(*VISIBILITY_WEIGHTS)[0], "city": city,
                           "text": rng.choice(POST_TEXT).format(city=city.name if city else "town"),
                           "photos": [f"https://images.superapp.example/posts/{u.pk}-{rng.randint(1, 10**6)}.jpg"]
                           if rng.random() < 0.5 else []})
    events.sort(key=lambda e: e["at"])

    posts = Post.objects.bulk_create([
        Post(author=e["user"], kind=e["kind"], text=e["text"], photos=e.get("photos", []),
             merchant=e.get("merchant"), city_id=(e["merchant"].city_id if e.get("merchant") else
                                                  (e["city"].pk if e.get("city") else None)),
             visibility=e["visibility"], created_at=e["at"]) for e in events])
    if posts and posts[0].pk is None:  # backends without RETURNING: read the ids back in insert order
        posts = list(Post.objects.order_by("-pk")[: len(events)])[::-1]
    reviews, checkins = [], []
    for event, post in zip(events, posts, strict=True):
        if event["kind"] == PostKind.REVIEW:
            reviews.append(Review(post=post, author=event["user"], merchant=event["merchant"],
                                  rating=event["rating"], created_at=event["at"]))
        elif event["kind"] == PostKind.CHECKIN:
            checkins.append(CheckIn(post=post, user=event["user"], merchant=event["merchant"],
                                    created_at=event["at"]))
    Review.objects.bulk_create(reviews)
    CheckIn.objects.bulk_create(checkins)
    reviews = list(Review.objects.filter(post__in=[r.post for r in reviews]).order_by("pk"))
    checkins = list(CheckIn.objects.filter(post__in=[c.post for c in checkins]).order_by("pk"))

    # --- likes and comments from friends and followers on what they may see ------------------------------
    followers_of: dict[int, list[int]] = defaultdict(list)
    for a, b in sorted(follow_pairs):
        followers_of[b].append(a)
    friends_of: dict[int, set[int]] = defaultdict(set)
    for a, b in friend_pairs:
        friends_of[a].add(b)
        friends_of[b].add(a)
    likes, comments = [], []
    for post in posts:
        if post.visibility == Visibility.ONLY_ME:
            continue
        audience = followers_of[post.author_id]
        if post.visibility == Visibility.FRIENDS:
            audience = [f for f in audience if f in friends_of[post.author_id]]
        for fan in rng.sample(audience, min(len(audience), rng.choice([0, 0, 1, 1, 2, 3]))):
            likes.append(Like(post=post, user_id=fan, created_at=post.created_at + timedelta(hours=rng.uniform(0, 48))))
        for fan in rng.sample(audience, min(len(audience), rng.choice([0, 0, 0, 1, 2]))):
            comments.append(Comment(post=post, author_id=fan, text=rng.choice(["Looks great!", "Wish I was there",
                                                                             "Adding this to my list", "Wow"]),
                                    created_at=post.created_at + timedelta(hours=rng.uniform(0, 72))))
    Like.objects.bulk_create(likes, ignore_conflicts=True)
    Comment.objects.bulk_create(comments)
    _recount(posts=posts)
    stdout.write(f"  social: {len(friend_pairs)} friendships, {len(follow_pairs)} follows, {len(posts)} posts "
                 f"({len(reviews)} reviews, {len(checkins)} check-ins), {len(likes)} likes, {len(comments)} comments"
                 + ("" if merchants else "; no merchants yet, so no reviews or check-ins"))


def _recount(*, posts: list[Post]) -> None:
    """Counters the services keep incrementally, computed once for the bulk-inserted world."""

    def count_of(queryset) -> Coalesce:
        return Coalesce(Subquery(queryset.annotate(n=Count("pk")).values("n")[:1]), 0)

    # One UPDATE each (the seed runs on a fresh world, so every row is ours to recount).
    Post.objects.filter(pk__in=[p.pk for p in posts]).update(
        like_count=count_of(Like.objects.filter(post_id=OuterRef("pk")).order_by().values("post_id")),
        comment_count=count_of(Comment.objects.filter(post_id=OuterRef("pk")).order_by().values("post_id")),
    )
    stats: dict[int, SocialStats] = {}

    def row(user_id: int) -> SocialStats:
        return stats.setdefault(user_id, SocialStats(user_id=user_id))

    for user_id, n in Follow.objects.values_list("followee_id").annotate(n=Count("id")):
        row(user_id).followers_count = n
    for user_id, n in Follow.objects.values_list("follower_id").annotate(n=Count("id")):
        row(user_id).following_count = n
    for user_id, n in Friendship.objects.values_list("user_id").annotate(n=Count("id")):
        row(user_id).friends_count = n
    for user_id, n in Post.objects.values_list("author_id").annotate(n=Count("id")):
        row(user_id).posts_count = n
    SocialStats.objects.all().delete()
    SocialStats.objects.bulk_create(stats.values())

    visible = Review.objects.filter(post__is_hidden=False).order_by().values("merchant_id")
    merchant_ratings_replace(ratings={r["merchant_id"]: (r["n"], r["total"])
                                      for r in visible.annotate(n=Count("pk"), total=Sum("rating"))})
