from django.contrib import admin

from superapp.social import services
from superapp.social.models import (
    Block,
    CheckIn,
    Comment,
    Follow,
    FriendRequest,
    Friendship,
    Like,
    Post,
    Review,
    SocialStats,
)


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "author", "merchant", "city", "visibility", "is_hidden", "like_count",
                    "comment_count", "created_at"]
    list_filter = ["kind", "visibility", "is_hidden", "city"]
    search_fields = ["text", "author__username", "merchant__name"]
    list_select_related = ["author", "merchant", "city"]
    raw_id_fields = ["author", "merchant"]
    readonly_fields = ["like_count", "comment_count", "is_hidden", "created_at", "updated_at"]
    actions = ["hide", "unhide"]

    @admin.action(description="Hide (moderation): nobody sees it; a review leaves the rating")
    def hide(self, request, queryset):
        for post_id in queryset.values_list("id", flat=True):
            services.post_set_hidden(post_id=post_id, hidden=True)

    @admin.action(description="Restore hidden posts")
    def unhide(self, request, queryset):
        for post_id in queryset.values_list("id", flat=True):
            services.post_set_hidden(post_id=post_id, hidden=False)


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "author", "rating", "created_at", "updated_at"]
    list_filter = ["rating"]
    search_fields = ["merchant__name", "author__username", "post__text"]
    list_select_related = ["merchant", "author"]
    raw_id_fields = ["post", "author", "merchant"]
    readonly_fields = ["rating"]  # edits go through the service so the merchant's summary stays right


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "merchant", "created_at"]
    search_fields = ["merchant__name", "user__username"]
    list_select_related = ["user", "merchant"]
    raw_id_fields = ["post", "user", "merchant"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["id", "post", "author", "is_hidden", "created_at"]
    list_filter = ["is_hidden"]
    search_fields = ["text", "author__username"]
    list_select_related = ["author"]
    raw_id_fields = ["post", "author"]


@admin.register(Like)
class LikeAdmin(admin.ModelAdmin):
    list_display = ["id", "post", "user", "created_at"]
    search_fields = ["user__username"]
    raw_id_fields = ["post", "user"]


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["id", "follower", "followee", "created_at"]
    search_fields = ["follower__username", "followee__username"]
    list_select_related = ["follower", "followee"]
    raw_id_fields = ["follower", "followee"]


@admin.register(Friendship)
class FriendshipAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "friend", "created_at"]
    search_fields = ["user__username", "friend__username"]
    list_select_related = ["user", "friend"]
    raw_id_fields = ["user", "friend"]


@admin.register(FriendRequest)
class FriendRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "from_user", "to_user", "status", "created_at", "responded_at"]
    list_filter = ["status"]
    search_fields = ["from_user__username", "to_user__username"]
    list_select_related = ["from_user", "to_user"]
    raw_id_fields = ["from_user", "to_user"]


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["id", "blocker", "blocked", "created_at"]
    search_fields = ["blocker__username", "blocked__username"]
    list_select_related = ["blocker", "blocked"]
    raw_id_fields = ["blocker", "blocked"]


@admin.register(SocialStats)
class SocialStatsAdmin(admin.ModelAdmin):
    list_display = ["user", "followers_count", "following_count", "friends_count", "posts_count"]
    search_fields = ["user__username"]
    ordering = ["-followers_count"]
    raw_id_fields = ["user"]
