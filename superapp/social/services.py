"""Social writes: the graph, posts, reviews, check-ins, likes and comments.

Every write validates first and writes in one transaction, so bad input writes nothing. Timeline
fan-out and recommender events run after commit (never for rolled-back work).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from merchants.exceptions import MerchantNotFound
from merchants.models import City, Merchant
from merchants.services import merchant_rating_add
from payments.models import Payment, PaymentStatus
from superapp.accounts.models import User
from superapp.db import create_once
from superapp.events import InteractionKind, interaction_on_commit
from superapp.social import conf
from superapp.social import exceptions as exc
from superapp.social.models import (
    Block,
    CheckIn,
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
from superapp.social.selectors import blocked_by_ids_sq, post_visible_q

_UNSET: Any = object()


# --- helpers ------------------------------------------------------------------------------------------
def _stats_add(user_id: int, **deltas: int) -> None:
    """Add to a user's counters atomically (F() expressions; the row is created on first use)."""
    updates = {field: F(field) + delta for field, delta in deltas.items()}
    if SocialStats.objects.filter(user_id=user_id).update(**updates):
        return
    try:
        with transaction.atomic():
            SocialStats.objects.create(user_id=user_id, **{f: max(d, 0) for f, d in deltas.items()})
    except IntegrityError:  # created concurrently: add to that row instead
        SocialStats.objects.filter(user_id=user_id).update(**updates)


def _on_commit_fan_out(post_id: int) -> None:
    from superapp.social.tasks import timeline_fan_out_task

    transaction.on_commit(lambda: timeline_fan_out_task.delay(post_id))


def _on_commit_backfill(user_id: int, author_id: int) -> None:
    from superapp.social.tasks import timeline_backfill_task

    transaction.on_commit(lambda: timeline_backfill_task.delay(user_id, author_id))


def _on_commit_touch(*user_ids: int) -> None:
    """These users' rendered first pages may be wrong after this commit (see timeline_touch)."""
    from superapp.social.timeline import timeline_touch

    transaction.on_commit(lambda: timeline_touch(user_ids=list(user_ids)))


def _on_commit_epoch() -> None:
    """A post changed for everyone who may see it (deleted, hidden, edited): all rendered pages go stale."""
    from superapp.social.timeline import timeline_epoch_bump

    transaction.on_commit(timeline_epoch_bump)


def _target_user(*, actor: User, user_id: int) -> User:
    """The user `actor` acts on. A user who blocked `actor` does not exist for them (404); a user
    `actor` blocked must be unblocked first (409)."""
    user = User.objects.filter(pk=user_id, is_active=True).exclude(pk__in=blocked_by_ids_sq(actor.pk)).first()
    if user is None:
        raise exc.UserNotFound()
    if Block.objects.filter(blocker=actor, blocked=user).exists():
        raise exc.UserBlocked()
    return user


def _validate_text(text: str, limit: int, field: str = "text") -> str:
    text = (text or "").strip()
    if len(text) > limit:
        raise exc.TextTooLong(f"The {field} is {len(text)} characters; the limit is {limit}.",
                              details={field: [f"At most {limit} characters."]})
    return text


def _validate_photos(photos: Sequence[str] | None) -> list[str]:
    photos = list(photos or [])
    if len(photos) > conf.PHOTOS_MAX:
        raise exc.TooManyPhotos(f"At most {conf.PHOTOS_MAX} photos.",
                                details={"photos": [f"At most {conf.PHOTOS_MAX}."]})
    for url in photos:
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > conf.PHOTO_URL_MAX:
            raise exc.ValidationFailed("Each photo must be an http(s) URL of at most 500 characters.",
                                       code="invalid_photo_url", details={"photos": [str(url)[:100]]})
    return photos


def _validate_rating(rating: Any) -> int:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise exc.RatingOutOfRange(details={"rating": ["An integer from 1 to 5."]})
    return rating


def _validate_visibility(visibility: str) -> str:
    if visibility not in Visibility.values:
        raise exc.ValidationFailed(f"visibility must be one of {Visibility.values}.", code="invalid_visibility")
    return visibility


def _active_merchant(merchant_id: int) -> Merchant:
    merchant = Merchant.objects.filter(pk=merchant_id, is_active=True).first()
    if merchant is None:
        raise MerchantNotFound()
    return merchant


# --- follows ----------------------------------------------------------------------------------------
def follow_create(*, follower: User, followee_id: int) -> tuple[Follow, bool]:
    """Follow a user. Returns (follow, created); following twice is a no-op."""
    if follower.pk == followee_id:
        raise exc.CannotFollowSelf()
    followee = _target_user(actor=follower, user_id=followee_id)
    with transaction.atomic():
        follow, created = _follow_ensure(follower_id=follower.pk, followee_id=followee.pk)
    return follow, created


def _follow_ensure(*, follower_id: int, followee_id: int) -> tuple[Follow, bool]:
    follow, created = create_once(Follow, follower_id=follower_id, followee_id=followee_id)
    if not created:
        return follow, False
    _stats_add(follower_id, following_count=1)
    _stats_add(followee_id, followers_count=1)
    _on_commit_backfill(follower_id, followee_id)
    _on_commit_touch(follower_id)
    return follow, True


def follow_delete(*, follower: User, followee_id: int) -> bool:
    with transaction.atomic():
        return _follow_remove(follower_id=follower.pk, followee_id=followee_id)


def _follow_remove(*, follower_id: int, followee_id: int) -> bool:
    deleted, _ = Follow.objects.filter(follower_id=follower_id, followee_id=followee_id).delete()
    if deleted:
        _stats_add(follower_id, following_count=-1)
        _stats_add(followee_id, followers_count=-1)
        _on_commit_touch(follower_id)
    return bool(deleted)


# --- friends -----------------------------------------------------------------------------------------
def friend_request_create(*, from_user: User, to_user_id: int) -> FriendRequest:
    """Ask to be friends. If the other person already asked us, this accepts their request."""
    if from_user.pk == to_user_id:
        raise exc.CannotTargetSelf("You cannot befriend yourself.")
    to_user = _target_user(actor=from_user, user_id=to_user_id)
    if Friendship.objects.filter(user=from_user, friend=to_user).exists():
        raise exc.AlreadyFriends()
    reverse = FriendRequest.objects.filter(from_user=to_user, to_user=from_user,
                                           status=FriendRequestStatus.PENDING).first()
    if reverse is not None:
        return friend_request_accept(user=from_user, request_id=reverse.pk)
    try:
        with transaction.atomic():
            return FriendRequest.objects.create(from_user=from_user, to_user=to_user)
    except IntegrityError:
        raise exc.FriendRequestExists()


def friend_request_accept(*, user: User, request_id: int) -> FriendRequest:
    """Accept: both become friends and follow each other. Only the addressee can accept."""
    with transaction.atomic():
        request = FriendRequest.objects.select_for_update().filter(pk=request_id, to_user=user).first()
        if request is None:
            raise exc.FriendRequestNotFound()
        if request.status != FriendRequestStatus.PENDING:
            raise exc.FriendRequestNotPending()
        if Block.objects.filter(Q(blocker=user, blocked_id=request.from_user_id)
                                | Q(blocker_id=request.from_user_id, blocked=user)).exists():
            raise exc.FriendRequestNotFound()
        request.status = FriendRequestStatus.ACCEPTED
        request.responded_at = timezone.now()
        request.save(update_fields=["status", "responded_at"])
        a, b = sorted([request.from_user_id, request.to_user_id])
        _, created = Friendship.objects.get_or_create(user_id=a, friend_id=b)
        Friendship.objects.get_or_create(user_id=b, friend_id=a)
        if created:
            _stats_add(a, friends_count=1)
            _stats_add(b, friends_count=1)
            _on_commit_touch(a, b)
        _follow_ensure(follower_id=a, followee_id=b)
        _follow_ensure(follower_id=b, followee_id=a)
        # Friends-only posts became visible to each other: backfill both cached timelines.
        _on_commit_backfill(a, b)
        _on_commit_backfill(b, a)
    return request


def friend_request_decline(*, user: User, request_id: int) -> FriendRequest:
    return _friend_request_close(request_id=request_id, filters={"to_user": user},
                                 status=FriendRequestStatus.DECLINED)


def friend_request_cancel(*, user: User, request_id: int) -> FriendRequest:
    return _friend_request_close(request_id=request_id, filters={"from_user": user},
                                 status=FriendRequestStatus.CANCELLED)


def _friend_request_close(*, request_id: int, filters: dict[str, Any], status: str) -> FriendRequest:
    with transaction.atomic():
        request = FriendRequest.objects.select_for_update().filter(pk=request_id, **filters).first()
        if request is None:
            raise exc.FriendRequestNotFound()
        if request.status != FriendRequestStatus.PENDING:
            raise exc.FriendRequestNotPending()
        request.status = status
        request.responded_at = timezone.now()
        request.save(update_fields=["status", "responded_at"])
    return request


def friendship_delete(*, user: User, friend_id: int) -> bool:
    """Unfriend (both directions). Follows stay: unfollowing is a separate choice."""
    with transaction.atomic():
        return _friendship_remove(user.pk, friend_id)


def _friendship_remove(a: int, b: int) -> bool:
    deleted, _ = Friendship.objects.filter(Q(user_id=a, friend_id=b) | Q(user_id=b, friend_id=a)).delete()
    if deleted:
        _stats_add(a, friends_count=-1)
        _stats_add(b, friends_count=-1)
        _on_commit_touch(a, b)
    return bool(deleted)


# --- blocks ------------------------------------------------------------------------------------------
def block_create(*, blocker: User, blocked_id: int) -> Block:
    """Block a user: they no longer see anything of the blocker nor interact with them. Follows and
    friendship both ways end and pending friend requests are cancelled."""
    if blocker.pk == blocked_id:
        raise exc.CannotTargetSelf("You cannot block yourself.")
    # Blocking someone who blocked you is allowed (and must not reveal that they did).
    if not User.objects.filter(pk=blocked_id, is_active=True).exists():
        raise exc.UserNotFound()
    with transaction.atomic():
        block, _ = Block.objects.get_or_create(blocker=blocker, blocked_id=blocked_id)
        _on_commit_touch(blocker.pk, blocked_id)
        _follow_remove(follower_id=blocker.pk, followee_id=blocked_id)
        _follow_remove(follower_id=blocked_id, followee_id=blocker.pk)
        _friendship_remove(blocker.pk, blocked_id)
        FriendRequest.objects.filter(
            Q(from_user=blocker, to_user_id=blocked_id) | Q(from_user_id=blocked_id, to_user=blocker),
            status=FriendRequestStatus.PENDING,
        ).update(status=FriendRequestStatus.CANCELLED, responded_at=timezone.now())
    return block


def block_delete(*, blocker: User, blocked_id: int) -> bool:
    with transaction.atomic():
        deleted, _ = Block.objects.filter(blocker=blocker, blocked_id=blocked_id).delete()
        _on_commit_touch(blocker.pk, blocked_id)
    return bool(deleted)


# --- posts --------------------------------------------------------------------------------------------
def post_create(*, author: User, text: str = "", photos: Sequence[str] | None = None,
                merchant_id: int | None = None, city_id: int | None = None,
                visibility: str = Visibility.PUBLIC) -> Post:
    text = _validate_text(text, conf.POST_TEXT_MAX)
    photos = _validate_photos(photos)
    visibility = _validate_visibility(visibility)
    if not text and not photos:
        raise exc.EmptyPost()
    merchant = _active_merchant(merchant_id) if merchant_id is not None else None
    if city_id is not None and not City.objects.filter(pk=city_id).exists():
        raise exc.ValidationFailed("No such city.", code="unknown_city", details={"city_id": ["Unknown city."]})
    if city_id is None and merchant is not None:
        city_id = merchant.city_id
    with transaction.atomic():
        post = Post.objects.create(author=author, kind=PostKind.POST, text=text, photos=photos,
                                   merchant=merchant, city_id=city_id, visibility=visibility)
        _stats_add(author.pk, posts_count=1)
        _on_commit_fan_out(post.pk)
    return post


def _own_post_for_update(*, user: User, post_id: int) -> Post:
    post = Post.objects.select_for_update().filter(pk=post_id, author=user).first()
    if post is None:
        raise exc.PostNotFound()
    return post


_VISIBILITY_RANK = {Visibility.ONLY_ME: 0, Visibility.FRIENDS: 1, Visibility.PUBLIC: 2}


def post_update(*, user: User, post_id: int, text: str = _UNSET, photos: Sequence[str] | None = _UNSET,
                visibility: str = _UNSET) -> Post:
    """Edit my post (any kind). Widening the audience pushes it to the newly allowed timelines."""
    with transaction.atomic():
        post = _own_post_for_update(user=user, post_id=post_id)
        limit = conf.REVIEW_TEXT_MAX if post.kind == PostKind.REVIEW else conf.POST_TEXT_MAX
        if text is not _UNSET:
            post.text = _validate_text(text, limit)
        if photos is not _UNSET:
            post.photos = _validate_photos(photos)
        widened = False
        if visibility is not _UNSET:
            visibility = _validate_visibility(visibility)
            widened = _VISIBILITY_RANK[visibility] > _VISIBILITY_RANK[post.visibility]
            post.visibility = visibility
        if post.kind == PostKind.POST and not post.text and not post.photos:
            raise exc.EmptyPost()
        post.save()
        _on_commit_epoch()
        if widened:
            _on_commit_fan_out(post.pk)
    return post


def post_delete(*, user: User, post_id: int) -> None:
    """Delete my post (a review's rating leaves the merchant's summary in the same transaction).
    Cached timelines may still hold the id; reads drop ids that no longer exist."""
    with transaction.atomic():
        post = _own_post_for_update(user=user, post_id=post_id)
        _post_remove(post)


def _post_remove(post: Post) -> None:
    review = Review.objects.select_for_update().filter(post=post).first()
    if review is not None and not post.is_hidden:
        _rating_summary_add(review.merchant_id, count=-1, total=-review.rating)
    post.delete()
    _stats_add(post.author_id, posts_count=-1)
    _on_commit_epoch()


def post_set_hidden(*, post_id: int, hidden: bool) -> Post:
    """Moderation: hide or restore a post. A hidden review stops counting in the merchant's rating."""
    with transaction.atomic():
        post = Post.objects.select_for_update().get(pk=post_id)
        if post.is_hidden == hidden:
            return post
        review = Review.objects.select_for_update().filter(post=post).first()
        if review is not None:
            sign = -1 if hidden else 1
            _rating_summary_add(review.merchant_id, count=sign, total=sign * review.rating)
        post.is_hidden = hidden
        post.save(update_fields=["is_hidden", "updated_at"])
        _on_commit_epoch()
        if not hidden:
            _on_commit_fan_out(post.pk)
    return post


# --- reviews --------------------------------------------------------------------------------------------
def _rating_summary_add(merchant_id: int, *, count: int, total: int) -> None:
    # Invariant: rating_count / rating_sum equal the count / sum over the merchant's visible-to-anyone
    # (not hidden) reviews. The merchants' service adds under the row lock in the review's own transaction
    # and makes nearby show the new rating at once.
    merchant_rating_add(merchant_id=merchant_id, count=count, total=total)


def review_create(*, author: User, merchant_id: int, rating: int, text: str = "",
                  photos: Sequence[str] | None = None, visibility: str = Visibility.PUBLIC) -> Review:
    rating = _validate_rating(rating)
    text = _validate_text(text, conf.REVIEW_TEXT_MAX)
    photos = _validate_photos(photos)
    visibility = _validate_visibility(visibility)
    merchant = _active_merchant(merchant_id)
    if Review.objects.filter(author=author, merchant=merchant).exists():
        raise exc.DuplicateReview(details={"review_id": Review.objects.get(author=author, merchant=merchant).pk})
    try:
        with transaction.atomic():
            post = Post.objects.create(author=author, kind=PostKind.REVIEW, text=text, photos=photos,
                                       merchant=merchant, city_id=merchant.city_id, visibility=visibility)
            # The unique (author, merchant) constraint settles a race between two first reviews.
            review = Review.objects.create(post=post, author=author, merchant=merchant, rating=rating)
            _rating_summary_add(merchant.pk, count=1, total=rating)
            _stats_add(author.pk, posts_count=1)
            interaction_on_commit(user_id=author.pk, merchant_id=merchant.pk, kind=InteractionKind.REVIEW,
                                  value=float(rating), source=f"review:{review.pk}")
            _on_commit_fan_out(post.pk)
    except IntegrityError:
        raise exc.DuplicateReview()
    return review


def review_update(*, user: User, review_id: int, rating: int = _UNSET, text: str = _UNSET,
                  photos: Sequence[str] | None = _UNSET, visibility: str = _UNSET) -> Review:
    if rating is not _UNSET:
        rating = _validate_rating(rating)
    with transaction.atomic():
        # Lock the review so two concurrent edits apply their rating deltas one after the other.
        review = Review.objects.select_for_update().filter(pk=review_id, author=user).first()
        if review is None:
            raise exc.ReviewNotFound()
        post_update(user=user, post_id=review.post_id, text=text, photos=photos, visibility=visibility)
        if rating is not _UNSET and rating != review.rating:
            hidden = Post.objects.filter(pk=review.post_id, is_hidden=True).exists()
            if not hidden:
                _rating_summary_add(review.merchant_id, count=0, total=rating - review.rating)
            review.rating = rating
            review.save(update_fields=["rating", "updated_at"])
            _on_commit_epoch()
            # A new rating is a new signal; the recommender reads the latest review per user and merchant.
            interaction_on_commit(
                user_id=user.pk, merchant_id=review.merchant_id, kind=InteractionKind.REVIEW, value=float(rating),
                source=f"review:{review.pk}:{review.updated_at.timestamp():.6f}",
            )
    return Review.objects.select_related("post", "post__author", "post__merchant", "post__city").get(pk=review.pk)


def review_delete(*, user: User, review_id: int) -> None:
    with transaction.atomic():
        review = Review.objects.filter(pk=review_id, author=user).first()
        if review is None:
            raise exc.ReviewNotFound()
        post = _own_post_for_update(user=user, post_id=review.post_id)
        _post_remove(post)


# --- check-ins ------------------------------------------------------------------------------------------
def checkin_create(*, user: User, merchant_id: int, text: str = "", photos: Sequence[str] | None = None,
                   visibility: str = Visibility.PUBLIC, payment_id: int | None = None) -> CheckIn:
    """Check in at a merchant; with `payment_id`, "share this visit" from one of my own succeeded
    wallet payments at that merchant (each payment once)."""
    text = _validate_text(text, conf.POST_TEXT_MAX)
    photos = _validate_photos(photos)
    visibility = _validate_visibility(visibility)
    merchant = _active_merchant(merchant_id)
    payment = None
    if payment_id is not None:
        # Someone else's payment, a failed or pending one, or one at another merchant all get the same
        # answer: the check-in must not reveal whether a payment id exists.
        payment = Payment.objects.filter(pk=payment_id, payer=user, merchant=merchant,
                                         status=PaymentStatus.SUCCEEDED).first()
        if payment is None:
            raise exc.PaymentNotShareable(details={"payment_id": [str(payment_id)]})
        if CheckIn.objects.filter(payment=payment).exists():
            raise exc.PaymentAlreadyShared()
    try:
        with transaction.atomic():
            post = Post.objects.create(author=user, kind=PostKind.CHECKIN, text=text, photos=photos,
                                       merchant=merchant, city_id=merchant.city_id, visibility=visibility)
            # The unique payment column settles two concurrent shares of the same payment.
            checkin = CheckIn.objects.create(post=post, user=user, merchant=merchant, payment=payment)
            _stats_add(user.pk, posts_count=1)
            interaction_on_commit(user_id=user.pk, merchant_id=merchant.pk, kind=InteractionKind.CHECKIN,
                                  value=1.0, source=f"checkin:{checkin.pk}")
            _on_commit_fan_out(post.pk)
    except IntegrityError:
        if payment is None:
            raise
        raise exc.PaymentAlreadyShared()
    return checkin


# --- likes and comments -------------------------------------------------------------------------------
def _visible_post(*, user: User, post_id: int) -> Post:
    post = Post.objects.filter(post_visible_q(user.pk)).filter(pk=post_id).first()
    if post is None:
        raise exc.PostNotFound()
    return post


def like_create(*, user: User, post_id: int) -> tuple[Like, bool]:
    """Like a post I can see; liking twice is a no-op. A like of a merchant-tagged post is a signal."""
    post = _visible_post(user=user, post_id=post_id)
    with transaction.atomic():
        like, created = create_once(Like, post=post, user=user)
        if not created:
            return like, False
        Post.objects.filter(pk=post.pk).update(like_count=F("like_count") + 1)
        _on_commit_touch(user.pk)
        if post.merchant_id:
            interaction_on_commit(user_id=user.pk, merchant_id=post.merchant_id, kind=InteractionKind.LIKE,
                                  value=1.0, source=f"like:{like.pk}")
    return like, True


def like_delete(*, user: User, post_id: int) -> bool:
    post = _visible_post(user=user, post_id=post_id)
    with transaction.atomic():
        deleted, _ = Like.objects.filter(post=post, user=user).delete()
        if deleted:
            Post.objects.filter(pk=post.pk).update(like_count=F("like_count") - 1)
            _on_commit_touch(user.pk)
    return bool(deleted)


def comment_create(*, user: User, post_id: int, text: str) -> Comment:
    text = _validate_text(text, conf.COMMENT_TEXT_MAX)
    if not text:
        raise exc.ValidationFailed("A comment needs text.", code="empty_comment", details={"text": ["Required."]})
    post = _visible_post(user=user, post_id=post_id)
    with transaction.atomic():
        comment = Comment.objects.create(post=post, author=user, text=text)
        Post.objects.filter(pk=post.pk).update(comment_count=F("comment_count") + 1)
    return comment


def comment_delete(*, user: User, comment_id: int) -> None:
    """The comment's author or the post's author may delete it."""
    with transaction.atomic():
        comment = (Comment.objects.select_for_update(of=("self",))
                   .filter(Q(author=user) | Q(post__author=user), pk=comment_id).first())
        if comment is None:
            raise exc.CommentNotFound()
        Post.objects.filter(pk=comment.post_id).update(comment_count=F("comment_count") - 1)
        comment.delete()
