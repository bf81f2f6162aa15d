"""Social reads. Every read path goes through `posts_visible_to` / `users_visible_to`, so visibility
(public / friends / only me), moderation and blocks are decided in one place, in SQL.

The relations of the viewer (friends, followees, blocks) are correlated subqueries rather than id
lists fetched first: a page is one query whatever the size of the viewer's graph.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, QuerySet

from merchants.exceptions import MerchantNotFound
from merchants.models import Merchant
from superapp.accounts.models import User
from superapp.social import exceptions as exc
from superapp.social.models import (
    Block,
    Comment,
    Follow,
    FriendRequest,
    FriendRequestStatus,
    Friendship,
    Like,
    Post,
    PostKind,
    Review,
    SocialStats,
    Visibility,
)


# --- relations as subqueries ----------------------------------------------------------------------
def friend_ids_sq(user_id: int) -> QuerySet:
    return Friendship.objects.filter(user_id=user_id).values("friend_id")


def followee_ids_sq(user_id: int) -> QuerySet:
    return Follow.objects.filter(follower_id=user_id).values("followee_id")


def blocked_by_ids_sq(user_id: int) -> QuerySet:
    """Users who blocked `user_id`: they are invisible to them."""
    return Block.objects.filter(blocked_id=user_id).values("blocker_id")


def blocking_ids_sq(user_id: int) -> QuerySet:
    """Users `user_id` blocked: their content is hidden from the blocker too."""
    return Block.objects.filter(blocker_id=user_id).values("blocked_id")


def _not_blocked_q(viewer_id: int, field: str) -> Q:
    return ~Q(**{f"{field}__in": blocked_by_ids_sq(viewer_id)}) & ~Q(**{f"{field}__in": blocking_ids_sq(viewer_id)})


def post_visible_q(viewer_id: int, prefix: str = "") -> Q:
    """Posts `viewer_id` may see: not hidden, author not blocked either way, and the author is the
    viewer, or the post is public, or it is for friends and the viewer is a friend."""
    p = prefix
    audience = (
        Q(**{f"{p}author_id": viewer_id})
        | Q(**{f"{p}visibility": Visibility.PUBLIC})
        | Q(**{f"{p}visibility": Visibility.FRIENDS, f"{p}author_id__in": friend_ids_sq(viewer_id)})
    )
    return Q(**{f"{p}is_hidden": False}) & _not_blocked_q(viewer_id, f"{p}author_id") & audience


def posts_visible_to(viewer: User) -> QuerySet[Post]:
    """Visible posts with everything a card needs, in one query."""
    return (
        Post.objects.filter(post_visible_q(viewer.pk))
        .select_related("author", "merchant", "city", "review", "checkin")
        .annotate(liked_by_me=Exists(Like.objects.filter(post_id=OuterRef("pk"), user_id=viewer.pk)))
    )


def users_visible_to(viewer: User) -> QuerySet[User]:
    """Users `viewer` may see in lists: active, and no block either way."""
    return User.objects.filter(is_active=True).filter(_not_blocked_q(viewer.pk, "pk"))


# --- single objects --------------------------------------------------------------------------------
def user_get_visible(*, viewer: User, user_id: int) -> User:
    """A blocker is invisible to the user they blocked (404), like an unknown id."""
    user = (User.objects.filter(pk=user_id, is_active=True).exclude(pk__in=blocked_by_ids_sq(viewer.pk))
            .select_related("social_stats", "home_city").first())
    if user is None:
        raise exc.UserNotFound()
    return user


def post_get_visible(*, viewer: User, post_id: int) -> Post:
    post = posts_visible_to(viewer).filter(pk=post_id).first()
    if post is None:
        raise exc.PostNotFound()
    return post


def merchant_get(*, merchant_id: int) -> Merchant:
    merchant = Merchant.objects.filter(pk=merchant_id, is_active=True).first()
    if merchant is None:
        raise MerchantNotFound()
    return merchant


def user_stats(*, user: User) -> SocialStats:
    """The user's counters (all zero, unsaved, for a user who never did anything social)."""
    return getattr(user, "social_stats", None) or SocialStats(user=user)


def user_relationship(*, viewer: User, user: User) -> dict[str, object]:
    """How `viewer` relates to `user`: for the profile card. Two small queries."""
    if viewer.pk == user.pk:
        return {"is_me": True, "is_following": False, "follows_me": False, "is_friend": False,
                "is_blocked": False, "friend_request": None}
    follows = set(Follow.objects.filter(Q(follower=viewer, followee=user) | Q(follower=user, followee=viewer))
                  .values_list("follower_id", flat=True))
    pending = FriendRequest.objects.filter(
        Q(from_user=viewer, to_user=user) | Q(from_user=user, to_user=viewer), status=FriendRequestStatus.PENDING
    ).values_list("from_user_id", flat=True).first()
    return {
        "is_me": False,
        "is_following": viewer.pk in follows,
        "follows_me": user.pk in follows,
        "is_friend": Friendship.objects.filter(user=viewer, friend=user).exists(),
        "is_blocked": Block.objects.filter(blocker=viewer, blocked=user).exists(),
        "friend_request": None if pending is None else ("outgoing" if pending == viewer.pk else "incoming"),
    }


# --- lists -------------------------------------------------------------------------------------------
def profile_posts(*, viewer: User, user_id: int) -> QuerySet[Post]:
    user_get_visible(viewer=viewer, user_id=user_id)
    return posts_visible_to(viewer).filter(author_id=user_id)


def posts_search(*, viewer: User, query: str = "", city_id: int | None = None, merchant_id: int | None = None,
                 kind: str | None = None) -> QuerySet[Post]:
    posts = posts_visible_to(viewer)
    if query:
        posts = posts.filter(text__icontains=query)
    if city_id:
        posts = posts.filter(city_id=city_id)
    if merchant_id:
        posts = posts.filter(merchant_id=merchant_id)
    if kind:
        posts = posts.filter(kind=kind)
    return posts


def users_search(*, viewer: User, query: str) -> QuerySet[User]:
    return users_visible_to(viewer).filter(
        Q(username__icontains=query) | Q(display_name__icontains=query)
    ).exclude(is_imported=True)


def followers_of(*, viewer: User, user_id: int) -> QuerySet[Follow]:
    user_get_visible(viewer=viewer, user_id=user_id)
    return (Follow.objects.filter(followee_id=user_id).filter(_not_blocked_q(viewer.pk, "follower_id"))
            .select_related("follower"))


def following_of(*, viewer: User, user_id: int) -> QuerySet[Follow]:
    user_get_visible(viewer=viewer, user_id=user_id)
    return (Follow.objects.filter(follower_id=user_id).filter(_not_blocked_q(viewer.pk, "followee_id"))
            .select_related("followee"))


def friends_of(*, user: User) -> QuerySet[Friendship]:
    return Friendship.objects.filter(user=user).select_related("friend")


def blocks_of(*, user: User) -> QuerySet[Block]:
    return Block.objects.filter(blocker=user).select_related("blocked")


def friend_requests_of(*, user: User, direction: str) -> QuerySet[FriendRequest]:
    requests = FriendRequest.objects.filter(status=FriendRequestStatus.PENDING).select_related("from_user", "to_user")
    if direction == "outgoing":
        return requests.filter(from_user=user)
    return requests.filter(to_user=user)


def comments_for(*, viewer: User, post_id: int) -> QuerySet[Comment]:
    post_get_visible(viewer=viewer, post_id=post_id)
    return (Comment.objects.filter(post_id=post_id, is_hidden=False).filter(_not_blocked_q(viewer.pk, "author_id"))
            .select_related("author"))


def likes_for(*, viewer: User, post_id: int) -> QuerySet[Like]:
    post_get_visible(viewer=viewer, post_id=post_id)
    return Like.objects.filter(post_id=post_id).filter(_not_blocked_q(viewer.pk, "user_id")).select_related("user")


def reviews_visible_to(viewer: User) -> QuerySet[Review]:
    """Reviews `viewer` may see, with what a review card needs (`liked_by_me` of its post)."""
    return (
        Review.objects.filter(post_visible_q(viewer.pk, prefix="post__"))
        .select_related("post", "post__author", "post__merchant", "post__city")
        .annotate(liked_by_me=Exists(Like.objects.filter(post_id=OuterRef("post_id"), user_id=viewer.pk)))
    )


def merchant_reviews(*, viewer: User, merchant_id: int) -> QuerySet[Review]:
    """The merchant's reviews `viewer` may see (check the merchant exists with `merchant_get`)."""
    return reviews_visible_to(viewer).filter(merchant_id=merchant_id)


def review_get_visible(*, viewer: User, review_id: int) -> Review:
    review = reviews_visible_to(viewer).filter(pk=review_id).first()
    if review is None:
        raise exc.ReviewNotFound()
    return review


def users_with_a_circle(*, user_ids: Iterable[int]) -> set[int]:
    """Which of these users have friends or follow someone: for anyone else `friends_who_visited` is empty,
    whatever the merchants (a caller asking for many users skips them). Two queries."""
    user_ids = list(user_ids)
    return (set(Friendship.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True).distinct())
            | set(Follow.objects.filter(follower_id__in=user_ids).values_list("follower_id", flat=True).distinct()))


def _circle_visits(user: User) -> QuerySet[Post]:
    """Check-ins and reviews by friends and followees of `user` that `user` may see (visibility, blocks,
    moderation), newest first: what "friends were here" is told from."""
    circle = Q(author_id__in=friend_ids_sq(user.pk)) | Q(author_id__in=followee_ids_sq(user.pk))
    return (
        Post.objects.filter(kind__in=[PostKind.REVIEW, PostKind.CHECKIN], merchant_id__isnull=False)
        .filter(post_visible_q(user.pk)).filter(circle).exclude(author_id=user.pk)
        .select_related("author").order_by("-id")
    )


def _by_merchant(visits: Iterable[Post]) -> dict[int, list[User]]:
    result: dict[int, list[User]] = {}
    seen: set[tuple[int, int]] = set()
    for post in visits:
        key = (post.merchant_id, post.author_id)
        if key in seen:
            continue
        seen.add(key)
        result.setdefault(post.merchant_id, []).append(post.author)
    return result


def friends_who_visited(*, user: User, merchant_ids: Iterable[int]) -> dict[int, list[User]]:
    """For each merchant, the friends and followees of `user` who checked in there or reviewed it,
    most recent first, each once. Only visits `user` may see count (visibility, blocks, moderation),
    so an explanation like "3 friends were here" never reveals a private check-in. One query.
    Merchants nobody visited are absent from the result."""
    merchant_ids = list({int(m) for m in merchant_ids})
    if not merchant_ids:
        return {}
    return _by_merchant(_circle_visits(user).filter(merchant_id__in=merchant_ids))


def friends_who_visited_anywhere(*, user: User, max_visits: int) -> dict[int, list[User]] | None:
    """`friends_who_visited` for every merchant at once (the same rule), or None when the visits `user` may
    see number more than `max_visits` (ask per merchant instead). One query."""
    visits = list(_circle_visits(user)[:max_visits + 1])
    if len(visits) > max_visits:
        return None
    return _by_merchant(visits)
