"""The social graph and its content.

Graph: `Follow` (one-way), `Friendship` (mutual, stored as two rows so "my friends" is one index range),
`FriendRequest`, `Block`. Content: every timeline item is a `Post` (kind post, review or check-in) so
visibility, likes, comments, moderation and the timeline work the same for all three; `Review` and
`CheckIn` hang off their post with the merchant-specific fields.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"
    FRIENDS = "friends", "Friends"
    ONLY_ME = "only_me", "Only me"


class Follow(models.Model):
    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following_rows")
    followee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follower_rows")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique"),
            models.CheckConstraint(condition=~models.Q(follower=models.F("followee")), name="follow_not_self"),
        ]
        # Fan-out and "followers of X" walk this index.
        indexes = [models.Index(fields=["followee", "follower"], name="follow_followee")]

    def __str__(self) -> str:
        return f"{self.follower_id} -> {self.followee_id}"


class Friendship(models.Model):
    """One row per direction: (a, b) and (b, a) exist together, written in one transaction."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="friendship_rows")
    friend = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "friend"], name="friendship_unique"),
            models.CheckConstraint(condition=~models.Q(user=models.F("friend")), name="friendship_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} <-> {self.friend_id}"


class FriendRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled"


class FriendRequest(models.Model):
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="friend_requests_sent")
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="friend_requests_received")
    status = models.CharField(max_length=10, choices=FriendRequestStatus.choices, default=FriendRequestStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["from_user", "to_user"], condition=models.Q(status="pending"),
                                    name="friend_request_one_pending"),
            models.CheckConstraint(condition=~models.Q(from_user=models.F("to_user")),
                                   name="friend_request_not_self"),
        ]
        indexes = [models.Index(fields=["to_user", "status"], name="friend_request_inbox")]

    def __str__(self) -> str:
        return f"{self.from_user_id} -> {self.to_user_id} ({self.status})"


class Block(models.Model):
    """`blocked` sees nothing of `blocker` and cannot interact with them (and vice versa for content)."""

    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique"),
            models.CheckConstraint(condition=~models.Q(blocker=models.F("blocked")), name="block_not_self"),
        ]
        indexes = [models.Index(fields=["blocked", "blocker"], name="block_blocked")]

    def __str__(self) -> str:
        return f"{self.blocker_id} x {self.blocked_id}"


class SocialStats(models.Model):
    """Counters per user, kept with F() updates by the graph and content services. `followers_count`
    decides whether a user's posts are fanned out on write or merged at read time."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="social_stats")
    followers_count = models.PositiveIntegerField(default=0, db_index=True)
    following_count = models.PositiveIntegerField(default=0)
    friends_count = models.PositiveIntegerField(default=0)
    posts_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "social stats"

    def __str__(self) -> str:
        return f"stats of {self.user_id}"


class PostKind(models.TextChoices):
    POST = "post", "Post"
    REVIEW = "review", "Review"
    CHECKIN = "checkin", "Check-in"


class Post(models.Model):
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts")
    kind = models.CharField(max_length=10, choices=PostKind.choices, default=PostKind.POST)
    text = models.TextField(blank=True)
    photos = models.JSONField(default=list, blank=True, help_text="Photo URLs")
    merchant = models.ForeignKey("services.Merchant", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="social_posts")
    city = models.ForeignKey("services.City", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    is_hidden = models.BooleanField(default=False, help_text="Hidden by moderation: shown to nobody.")
    like_count = models.PositiveIntegerField(default=0)
    comment_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # Profile pages, the database timeline and the read-time merge of big accounts: newest by author.
            models.Index(fields=["author", "-id"], name="post_author_id"),
            models.Index(fields=["merchant", "kind", "-id"], name="post_merchant_kind"),
            models.Index(fields=["city", "-id"], name="post_city"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} by {self.author_id}"


class Review(models.Model):
    """One per user per merchant; text, photos and visibility live on the post."""

    post = models.OneToOneField(Post, on_delete=models.CASCADE, related_name="review")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews")
    merchant = models.ForeignKey("services.Merchant", on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["author", "merchant"], name="review_one_per_user_merchant"),
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}* by {self.author_id} for {self.merchant_id}"


class CheckIn(models.Model):
    post = models.OneToOneField(Post, on_delete=models.CASCADE, related_name="checkin")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="checkins")
    merchant = models.ForeignKey("services.Merchant", on_delete=models.CASCADE, related_name="checkins")
    # "Share this visit": the wallet payment behind it; one check-in per payment.
    payment = models.OneToOneField("payments.Payment", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="social_checkin")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["merchant", "user"], name="checkin_merchant_user")]
        verbose_name = "check-in"

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.merchant_id}"


class Like(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "user"], name="like_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} likes {self.post_id}"


class Comment(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    text = models.TextField()
    is_hidden = models.BooleanField(default=False, help_text="Hidden by moderation.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["post", "id"], name="comment_post")]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.post_id}"
