from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from superapp.accounts.models import User
from superapp.accounts.serializers import CitySummarySerializer
from superapp.social import conf
from superapp.social import exceptions as exc
from superapp.social.models import Block, Comment, Follow, FriendRequest, Friendship, Like, Post, Review, Visibility

# (field, DRF error code) -> the specific domain error a client can act on.
_SPECIFIC_ERRORS: dict[tuple[str, str], type[exc.DomainError]] = {
    ("rating", "max_value"): exc.RatingOutOfRange,
    ("rating", "min_value"): exc.RatingOutOfRange,
    ("text", "max_length"): exc.TextTooLong,
    ("photos", "max_length"): exc.TooManyPhotos,
}


def validated(serializer: serializers.Serializer) -> dict[str, Any]:
    """`is_valid` that turns well-known failures into specific error codes (`rating_out_of_range`,
    `text_too_long`, `too_many_photos`) and everything else into `validation_error`."""
    if serializer.is_valid():
        return serializer.validated_data
    errors = serializer.errors
    for field, details in errors.items():
        for detail in details if isinstance(details, list) else []:
            error_class = _SPECIFIC_ERRORS.get((field, getattr(detail, "code", "")))
            if error_class is not None:
                raise error_class(str(detail), details=dict(errors))
    raise serializers.ValidationError(errors)


# --- output -------------------------------------------------------------------------------------------
class UserSummarySerializer(serializers.ModelSerializer):
    # Blank is a valid stored value (no avatar); the schema's "uri" format would reject "".
    avatar_url = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "avatar_url"]
        read_only_fields = fields


class MerchantSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    vertical = serializers.CharField()
    city_id = serializers.IntegerField(allow_null=True)


class CityTagSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class PostSerializer(serializers.ModelSerializer):
    author = UserSummarySerializer()
    merchant = MerchantSummarySerializer(allow_null=True)
    city = CityTagSerializer(allow_null=True)
    photos = serializers.ListField(child=serializers.URLField())
    liked_by_me = serializers.BooleanField(default=False)
    review_id = serializers.SerializerMethodField()
    rating = serializers.SerializerMethodField()
    checkin_id = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = ["id", "kind", "author", "text", "photos", "merchant", "city", "visibility", "like_count",
                  "comment_count", "liked_by_me", "review_id", "rating", "checkin_id", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_review_id(self, post: Post) -> int | None:
        review = getattr(post, "review", None) if post.kind == "review" else None
        return review.pk if review else None

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=1, max_value=5))
    def get_rating(self, post: Post) -> int | None:
        review = getattr(post, "review", None) if post.kind == "review" else None
        return review.rating if review else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_checkin_id(self, post: Post) -> int | None:
        checkin = getattr(post, "checkin", None) if post.kind == "checkin" else None
        return checkin.pk if checkin else None


class FeedPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="Link to the next (older) page, or null at the end.")
    previous = serializers.URLField(allow_null=True, help_text="Always null: the feed pages forward only.")
    results = PostSerializer(many=True)


class ReviewSerializer(serializers.ModelSerializer):
    # A review from `selectors.merchant_reviews`/`review_get_visible` carries `liked_by_me` for its post.
    post = PostSerializer()

    class Meta:
        model = Review
        fields = ["id", "merchant_id", "rating", "post", "created_at", "updated_at"]
        read_only_fields = fields

    def to_representation(self, instance):
        if hasattr(instance, "liked_by_me"):
            instance.post.liked_by_me = instance.liked_by_me
        return super().to_representation(instance)


class CheckInSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    merchant_id = serializers.IntegerField()
    payment_id = serializers.IntegerField(allow_null=True, help_text="The shared wallet payment, if any.")
    post = PostSerializer()
    created_at = serializers.DateTimeField()


class FriendsHereSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    users = UserSummarySerializer(many=True)


class MerchantReviewsPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    rating_count = serializers.IntegerField()
    rating_average = serializers.FloatField(allow_null=True)
    friends_who_were_here = FriendsHereSerializer()
    results = ReviewSerializer(many=True)


class CommentSerializer(serializers.ModelSerializer):
    author = UserSummarySerializer()

    class Meta:
        model = Comment
        fields = ["id", "post_id", "author", "text", "created_at"]
        read_only_fields = fields


class LikeSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer()

    class Meta:
        model = Like
        fields = ["id", "user", "created_at"]
        read_only_fields = fields


class LikeStateSerializer(serializers.Serializer):
    post_id = serializers.IntegerField()
    liked = serializers.BooleanField()
    like_count = serializers.IntegerField()


class FollowerSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(source="follower")

    class Meta:
        model = Follow
        fields = ["id", "user", "created_at"]
        read_only_fields = fields


class FolloweeSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(source="followee")

    class Meta:
        model = Follow
        fields = ["id", "user", "created_at"]
        read_only_fields = fields


class FollowStateSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    following = serializers.BooleanField()


class FriendSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(source="friend")

    class Meta:
        model = Friendship
        fields = ["id", "user", "created_at"]
        read_only_fields = fields


class BlockSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(source="blocked")

    class Meta:
        model = Block
        fields = ["id", "user", "created_at"]
        read_only_fields = fields


class FriendRequestSerializer(serializers.ModelSerializer):
    from_user = UserSummarySerializer()
    to_user = UserSummarySerializer()

    class Meta:
        model = FriendRequest
        fields = ["id", "from_user", "to_user", "status", "created_at", "responded_at"]
        read_only_fields = fields


class RelationshipSerializer(serializers.Serializer):
    is_me = serializers.BooleanField()
    is_following = serializers.BooleanField()
    follows_me = serializers.BooleanField()
    is_friend = serializers.BooleanField()
    is_blocked = serializers.BooleanField(help_text="I blocked this user.")
    friend_request = serializers.ChoiceField(choices=["incoming", "outgoing"], allow_null=True)


@extend_schema_serializer(deprecate_fields=["home_city_id"])
class SocialProfileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()
    home_city = CitySummarySerializer(allow_null=True)
    home_city_id = serializers.IntegerField(allow_null=True, help_text="Deprecated: read `home_city.id`; sent "
                                                                       "until 0.3.0.")
    followers_count = serializers.IntegerField()
    following_count = serializers.IntegerField()
    friends_count = serializers.IntegerField()
    posts_count = serializers.IntegerField()
    relationship = RelationshipSerializer()


# --- input --------------------------------------------------------------------------------------------
def _photos_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=serializers.URLField(max_length=conf.PHOTO_URL_MAX),
                                 max_length=conf.PHOTOS_MAX, help_text=f"Up to {conf.PHOTOS_MAX} photo URLs.",
                                 **kwargs)


class PostCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=conf.POST_TEXT_MAX, allow_blank=True, required=False, default="",
                                 trim_whitespace=True)
    photos = _photos_field(required=False, default=list)
    merchant_id = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    city_id = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PUBLIC)


class PostUpdateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=conf.REVIEW_TEXT_MAX, allow_blank=True, required=False)
    photos = _photos_field(required=False)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)


class ReviewCreateSerializer(serializers.Serializer):
    merchant_id = serializers.IntegerField(min_value=1)
    rating = serializers.IntegerField(min_value=1, max_value=5)
    text = serializers.CharField(max_length=conf.REVIEW_TEXT_MAX, allow_blank=True, required=False, default="")
    photos = _photos_field(required=False, default=list)
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PUBLIC)


class ReviewUpdateSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False)
    text = serializers.CharField(max_length=conf.REVIEW_TEXT_MAX, allow_blank=True, required=False)
    photos = _photos_field(required=False)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)


class CheckInCreateSerializer(serializers.Serializer):
    merchant_id = serializers.IntegerField(min_value=1)
    payment_id = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, default=None,
        help_text="Share this visit: one of my own succeeded wallet payments at this merchant, once.")
    text = serializers.CharField(max_length=conf.POST_TEXT_MAX, allow_blank=True, required=False, default="")
    photos = _photos_field(required=False, default=list)
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PUBLIC)


class CommentCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=conf.COMMENT_TEXT_MAX)


class FriendRequestCreateSerializer(serializers.Serializer):
    to_user_id = serializers.IntegerField(min_value=1)
