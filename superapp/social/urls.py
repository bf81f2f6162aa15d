from django.urls import path

from superapp.social import apis

urlpatterns = [
    path("feed", apis.FeedApi.as_view(), name="social-feed"),
    path("posts", apis.PostListCreateApi.as_view(), name="social-posts"),
    path("posts/<int:post_id>", apis.PostDetailApi.as_view(), name="social-post"),
    path("posts/<int:post_id>/like", apis.PostLikeApi.as_view(), name="social-post-like"),
    path("posts/<int:post_id>/likes", apis.PostLikesApi.as_view(), name="social-post-likes"),
    path("posts/<int:post_id>/comments", apis.PostCommentsApi.as_view(), name="social-post-comments"),
    path("comments/<int:comment_id>", apis.CommentDetailApi.as_view(), name="social-comment"),
    path("reviews", apis.ReviewCreateApi.as_view(), name="social-reviews"),
    path("reviews/<int:review_id>", apis.ReviewDetailApi.as_view(), name="social-review"),
    path("merchants/<int:merchant_id>/reviews", apis.MerchantReviewsApi.as_view(), name="social-merchant-reviews"),
    path("checkins", apis.CheckInCreateApi.as_view(), name="social-checkins"),
    path("users/search", apis.UserSearchApi.as_view(), name="social-user-search"),
    path("users/<int:user_id>", apis.UserProfileApi.as_view(), name="social-user"),
    path("users/<int:user_id>/posts", apis.UserPostsApi.as_view(), name="social-user-posts"),
    path("users/<int:user_id>/follow", apis.FollowApi.as_view(), name="social-follow"),
    path("users/<int:user_id>/followers", apis.FollowersApi.as_view(), name="social-followers"),
    path("users/<int:user_id>/following", apis.FollowingApi.as_view(), name="social-following"),
    path("users/<int:user_id>/block", apis.BlockApi.as_view(), name="social-block"),
    path("blocks", apis.BlockListApi.as_view(), name="social-blocks"),
    path("friends", apis.FriendListApi.as_view(), name="social-friends"),
    path("friends/<int:user_id>", apis.FriendDetailApi.as_view(), name="social-friend"),
    path("friend-requests", apis.FriendRequestListCreateApi.as_view(), name="social-friend-requests"),
    path("friend-requests/<int:request_id>", apis.FriendRequestCancelApi.as_view(), name="social-friend-request"),
    path("friend-requests/<int:request_id>/accept", apis.FriendRequestAcceptApi.as_view(),
         name="social-friend-request-accept"),
    path("friend-requests/<int:request_id>/decline", apis.FriendRequestDeclineApi.as_view(),
         name="social-friend-request-decline"),
]
