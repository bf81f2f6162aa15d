"""Thin views: validate, call one service or selector, serialize."""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from superapp.accounts.serializers import CitySummarySerializer
from superapp.api import DefaultCursorPagination, cursor_page, page_with, validated
from superapp.social import selectors, services, timeline
from superapp.social import serializers as s
from superapp.social.conf import SEARCH_QUERY_MAX
from superapp.social.models import (
    PostKind,
)

TAG_FEED = ["social: feed & posts"]
TAG_GRAPH = ["social: graph"]
TAG_REVIEWS = ["social: reviews & check-ins"]

LIMIT_PARAM = OpenApiParameter("limit", int, description="Page size, 1-100 (default 20).")
CURSOR_PARAM = OpenApiParameter("cursor", str, description="Opaque cursor from a previous page's `next` link.")


class OldestFirstPagination(DefaultCursorPagination):
    ordering = "pk"


def _limit(request, default: int = 20) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    field = serializers.IntegerField(min_value=1, max_value=100)
    try:
        return field.run_validation(raw)
    except serializers.ValidationError as error:
        raise serializers.ValidationError({"limit": error.detail})


def _post_out(request, post_id: int):
    return s.PostSerializer(selectors.post_get_visible(viewer=request.user, post_id=post_id)).data


# --- feed -----------------------------------------------------------------------------------------------
class FeedApi(APIView):
    @extend_schema(responses={200: s.FeedPageSerializer}, tags=TAG_FEED, parameters=[CURSOR_PARAM, LIMIT_PARAM],
                   summary="My timeline: posts, reviews and check-ins of people I follow, and mine",
                   description="Newest first; follow `next` for older items. A page may hold fewer than "
                               "`limit` items when some became invisible; only a null `next` means the end.")
    def get(self, request):
        limit = _limit(request)
        before = timeline.cursor_decode(request.query_params.get("cursor"))
        page = timeline.feed_for_user(viewer=request.user, before=before, limit=limit)
        next_url = None
        if page.next_cursor is not None:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor",
                                           timeline.cursor_encode(page.next_cursor))
        headers = {"X-Timeline-Source": page.source}
        if request.accepted_renderer.format != "json":  # the browsable API
            return Response({"next": next_url, "previous": None, "results": page.items}, headers=headers)
        # The cards are JSON already (a cached first page is stored rendered): splice, do not re-encode.
        body = b'{"next":%b,"previous":null,"results":%b}' % (orjson.dumps(next_url), page.items_json)
        return HttpResponse(body, content_type="application/json", headers=headers)


# --- posts ----------------------------------------------------------------------------------------------
class PostSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=SEARCH_QUERY_MAX)
    city_id = serializers.IntegerField(required=False, min_value=1)
    merchant_id = serializers.IntegerField(required=False, min_value=1)
    kind = serializers.ChoiceField(choices=PostKind.choices, required=False)


class PostListCreateApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.PostSerializer(many=True)}, tags=TAG_FEED, parameters=[PostSearchQuerySerializer],
                   summary="Search posts I may see (text, city, merchant, kind)")
    def get(self, request):
        p = validated(PostSearchQuerySerializer, request.query_params)
        found = selectors.posts_search(viewer=request.user, query=p.get("q", ""), city_id=p.get("city_id"),
                                       merchant_id=p.get("merchant_id"), kind=p.get("kind"))
        return cursor_page(self, request, found, s.PostSerializer)

    @extend_schema(request=s.PostCreateSerializer, responses={201: s.PostSerializer}, tags=TAG_FEED,
                   summary="Write a post (text, photos, optional merchant and city tags, visibility)")
    def post(self, request):
        data = s.validated(s.PostCreateSerializer(data=request.data))
        post = services.post_create(author=request.user, **data)
        return Response(_post_out(request, post.pk), status=status.HTTP_201_CREATED)


class PostDetailApi(APIView):
    @extend_schema(responses={200: s.PostSerializer}, tags=TAG_FEED, summary="One post (404 if I cannot see it)")
    def get(self, request, post_id: int):
        return Response(_post_out(request, post_id))

    @extend_schema(request=s.PostUpdateSerializer, responses={200: s.PostSerializer}, tags=TAG_FEED,
                   summary="Edit my post, review or check-in (text, photos, visibility)")
    def patch(self, request, post_id: int):
        data = s.validated(s.PostUpdateSerializer(data=request.data, partial=True))
        services.post_update(user=request.user, post_id=post_id, **data)
        return Response(_post_out(request, post_id))

    @extend_schema(responses={204: None}, tags=TAG_FEED, summary="Delete my post (a review leaves the rating)")
    def delete(self, request, post_id: int):
        services.post_delete(user=request.user, post_id=post_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PostLikeApi(APIView):
    @extend_schema(request=None, responses={200: s.LikeStateSerializer, 201: s.LikeStateSerializer},
                   tags=TAG_FEED, summary="Like a post (200 if I already liked it)")
    def post(self, request, post_id: int):
        _, created = services.like_create(user=request.user, post_id=post_id)
        return self._state(request, post_id, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={200: s.LikeStateSerializer}, tags=TAG_FEED, summary="Remove my like")
    def delete(self, request, post_id: int):
        services.like_delete(user=request.user, post_id=post_id)
        return self._state(request, post_id, status.HTTP_200_OK)

    def _state(self, request, post_id: int, code: int) -> Response:
        post = selectors.post_get_visible(viewer=request.user, post_id=post_id)
        return Response({"post_id": post.pk, "liked": post.liked_by_me, "like_count": post.like_count}, status=code)


class PostLikesApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.LikeSerializer(many=True)}, tags=TAG_FEED, summary="Who liked a post")
    def get(self, request, post_id: int):
        return cursor_page(self, request, selectors.likes_for(viewer=request.user, post_id=post_id), s.LikeSerializer)


class PostCommentsApi(APIView):
    pagination_class = OldestFirstPagination

    @extend_schema(responses={200: s.CommentSerializer(many=True)},
                   tags=TAG_FEED, summary="Comments on a post, oldest first")
    def get(self, request, post_id: int):
        found = selectors.comments_for(viewer=request.user, post_id=post_id)
        return cursor_page(self, request, found, s.CommentSerializer, ordering="pk")

    @extend_schema(request=s.CommentCreateSerializer, responses={201: s.CommentSerializer}, tags=TAG_FEED,
                   summary="Comment on a post I can see")
    def post(self, request, post_id: int):
        data = s.validated(s.CommentCreateSerializer(data=request.data))
        comment = services.comment_create(user=request.user, post_id=post_id, text=data["text"])
        return Response(s.CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class CommentDetailApi(APIView):
    @extend_schema(responses={204: None}, tags=TAG_FEED, summary="Delete a comment (mine, or on my post)")
    def delete(self, request, comment_id: int):
        services.comment_delete(user=request.user, comment_id=comment_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- reviews and check-ins ------------------------------------------------------------------------------
def _review_out(request, review_id: int):
    return s.ReviewSerializer(selectors.review_get_visible(viewer=request.user, review_id=review_id)).data


class ReviewCreateApi(APIView):
    @extend_schema(request=s.ReviewCreateSerializer, responses={201: s.ReviewSerializer}, tags=TAG_REVIEWS,
                   summary="Review a merchant (one per merchant; 409 duplicate_review, edit it instead)")
    def post(self, request):
        data = s.validated(s.ReviewCreateSerializer(data=request.data))
        review = services.review_create(author=request.user, **data)
        return Response(_review_out(request, review.pk), status=status.HTTP_201_CREATED)


class ReviewDetailApi(APIView):
    @extend_schema(responses={200: s.ReviewSerializer}, tags=TAG_REVIEWS, summary="One review")
    def get(self, request, review_id: int):
        return Response(_review_out(request, review_id))

    @extend_schema(request=s.ReviewUpdateSerializer, responses={200: s.ReviewSerializer}, tags=TAG_REVIEWS,
                   summary="Edit my review (rating, text, photos, visibility)")
    def patch(self, request, review_id: int):
        data = s.validated(s.ReviewUpdateSerializer(data=request.data, partial=True))
        services.review_update(user=request.user, review_id=review_id, **data)
        return Response(_review_out(request, review_id))

    @extend_schema(responses={204: None}, tags=TAG_REVIEWS, summary="Delete my review")
    def delete(self, request, review_id: int):
        services.review_delete(user=request.user, review_id=review_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MerchantReviewsApi(APIView):
    @extend_schema(responses={200: s.MerchantReviewsPageSerializer}, tags=TAG_REVIEWS,
                   parameters=[CURSOR_PARAM, LIMIT_PARAM],
                   summary="A merchant's reviews I may see, newest first, and which friends were here")
    def get(self, request, merchant_id: int):
        merchant = selectors.merchant_get(merchant_id=merchant_id)
        reviews = selectors.merchant_reviews(viewer=request.user, merchant_id=merchant.pk)
        page = cursor_page(self, request, reviews, s.ReviewSerializer)
        friends = selectors.friends_who_visited(user=request.user, merchant_ids=[merchant.pk]).get(merchant.pk, [])
        return page_with(page, {
            "rating_count": merchant.rating_count,
            "rating_average": merchant.rating_average,
            "friends_who_were_here": {"count": len(friends),
                                      "users": s.UserSummarySerializer(friends[:10], many=True).data},
        })


class CheckInCreateApi(APIView):
    @extend_schema(request=s.CheckInCreateSerializer, responses={201: s.CheckInSerializer}, tags=TAG_REVIEWS,
                   summary="Check in at a merchant (optionally sharing a wallet payment there)")
    def post(self, request):
        data = s.validated(s.CheckInCreateSerializer(data=request.data))
        checkin = services.checkin_create(user=request.user, **data)
        body = {"id": checkin.pk, "merchant_id": checkin.merchant_id, "payment_id": checkin.payment_id,
                "created_at": checkin.created_at,
                "post": _post_out(request, checkin.post_id)}
        return Response(body, status=status.HTTP_201_CREATED)


# --- graph ----------------------------------------------------------------------------------------------
class UserProfileApi(APIView):
    @extend_schema(responses={200: s.SocialProfileSerializer}, tags=TAG_GRAPH,
                   summary="A user's social profile and how I relate to them")
    def get(self, request, user_id: int):
        user = selectors.user_get_visible(viewer=request.user, user_id=user_id)
        stats = selectors.user_stats(user=user)
        return Response({
            "id": user.pk, "username": user.username, "display_name": user.display_name,
            "avatar_url": user.avatar_url, "home_city_id": user.home_city_id,
            "home_city": CitySummarySerializer(user.home_city).data if user.home_city else None,
            "followers_count": stats.followers_count, "following_count": stats.following_count,
            "friends_count": stats.friends_count, "posts_count": stats.posts_count,
            "relationship": selectors.user_relationship(viewer=request.user, user=user),
        })


class UserPostsApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.PostSerializer(many=True)}, tags=TAG_FEED, summary="A user's posts that I may see")
    def get(self, request, user_id: int):
        found = selectors.profile_posts(viewer=request.user, user_id=user_id)
        return cursor_page(self, request, found, s.PostSerializer)


class UserSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(min_length=2, max_length=SEARCH_QUERY_MAX)


class UserSearchApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.UserSummarySerializer(many=True)},
                   tags=TAG_GRAPH, parameters=[UserSearchQuerySerializer], summary="Find people by name")
    def get(self, request):
        query = validated(UserSearchQuerySerializer, request.query_params)
        found = selectors.users_search(viewer=request.user, query=query["q"])
        return cursor_page(self, request, found, s.UserSummarySerializer)


class FollowApi(APIView):
    @extend_schema(request=None, responses={200: s.FollowStateSerializer, 201: s.FollowStateSerializer},
                   tags=TAG_GRAPH, summary="Follow a user (200 if already following)")
    def post(self, request, user_id: int):
        _, created = services.follow_create(follower=request.user, followee_id=user_id)
        return Response({"user_id": user_id, "following": True},
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={200: s.FollowStateSerializer}, tags=TAG_GRAPH, summary="Unfollow a user")
    def delete(self, request, user_id: int):
        selectors.user_get_visible(viewer=request.user, user_id=user_id)
        services.follow_delete(follower=request.user, followee_id=user_id)
        return Response({"user_id": user_id, "following": False})


class FollowersApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.FollowerSerializer(many=True)},
                   tags=TAG_GRAPH, summary="A user's followers, newest first")
    def get(self, request, user_id: int):
        found = selectors.followers_of(viewer=request.user, user_id=user_id)
        return cursor_page(self, request, found, s.FollowerSerializer)


class FollowingApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.FolloweeSerializer(many=True)},
                   tags=TAG_GRAPH, summary="Whom a user follows, newest first")
    def get(self, request, user_id: int):
        found = selectors.following_of(viewer=request.user, user_id=user_id)
        return cursor_page(self, request, found, s.FolloweeSerializer)


class BlockApi(APIView):
    @extend_schema(request=None, responses={201: s.BlockSerializer}, tags=TAG_GRAPH,
                   summary="Block a user: they see nothing of me and cannot interact; follows and friendship end")
    def post(self, request, user_id: int):
        block = services.block_create(blocker=request.user, blocked_id=user_id)
        return Response(s.BlockSerializer(block).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None}, tags=TAG_GRAPH, summary="Unblock a user")
    def delete(self, request, user_id: int):
        services.block_delete(blocker=request.user, blocked_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlockListApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.BlockSerializer(many=True)}, tags=TAG_GRAPH, summary="Users I blocked")
    def get(self, request):
        return cursor_page(self, request, selectors.blocks_of(user=request.user), s.BlockSerializer)


class FriendListApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.FriendSerializer(many=True)}, tags=TAG_GRAPH, summary="My friends")
    def get(self, request):
        return cursor_page(self, request, selectors.friends_of(user=request.user), s.FriendSerializer)


class FriendDetailApi(APIView):
    @extend_schema(responses={204: None}, tags=TAG_GRAPH, summary="Unfriend (follows stay)")
    def delete(self, request, user_id: int):
        services.friendship_delete(user=request.user, friend_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FriendRequestQuerySerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["incoming", "outgoing"], required=False, default="incoming")


class FriendRequestListCreateApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.FriendRequestSerializer(many=True)},
                   tags=TAG_GRAPH, parameters=[FriendRequestQuerySerializer], summary="My pending friend requests")
    def get(self, request):
        query = validated(FriendRequestQuerySerializer, request.query_params)
        found = selectors.friend_requests_of(user=request.user, direction=query["direction"])
        return cursor_page(self, request, found, s.FriendRequestSerializer)

    @extend_schema(request=s.FriendRequestCreateSerializer, responses={201: s.FriendRequestSerializer},
                   tags=TAG_GRAPH, summary="Ask someone to be friends (accepts theirs if they already asked)")
    def post(self, request):
        data = s.validated(s.FriendRequestCreateSerializer(data=request.data))
        friend_request = services.friend_request_create(from_user=request.user, to_user_id=data["to_user_id"])
        return Response(s.FriendRequestSerializer(friend_request).data, status=status.HTTP_201_CREATED)


class FriendRequestCancelApi(APIView):
    @extend_schema(responses={200: s.FriendRequestSerializer}, tags=TAG_GRAPH, summary="Cancel my friend request")
    def delete(self, request, request_id: int):
        friend_request = services.friend_request_cancel(user=request.user, request_id=request_id)
        return Response(s.FriendRequestSerializer(friend_request).data)


class FriendRequestAcceptApi(APIView):
    @extend_schema(request=None, responses={200: s.FriendRequestSerializer}, tags=TAG_GRAPH,
                   summary="Accept a friend request: we become friends and follow each other")
    def post(self, request, request_id: int):
        friend_request = services.friend_request_accept(user=request.user, request_id=request_id)
        return Response(s.FriendRequestSerializer(friend_request).data)


class FriendRequestDeclineApi(APIView):
    @extend_schema(request=None, responses={200: s.FriendRequestSerializer}, tags=TAG_GRAPH,
                   summary="Decline a friend request")
    def post(self, request, request_id: int):
        friend_request = services.friend_request_decline(user=request.user, request_id=request_id)
        return Response(s.FriendRequestSerializer(friend_request).data)
