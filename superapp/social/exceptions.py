"""Social domain errors; each has a stable `code` rendered in the shared error shape."""

from superapp.exceptions import Conflict, DomainError, NotFound, ValidationFailed


class UserNotFound(NotFound):
    code = "user_not_found"
    default_message = "No such user."


class PostNotFound(NotFound):
    code = "post_not_found"
    default_message = "No such post, or you cannot see it."


class CommentNotFound(NotFound):
    code = "comment_not_found"
    default_message = "No such comment."


class ReviewNotFound(NotFound):
    code = "review_not_found"
    default_message = "No such review."


class FriendRequestNotFound(NotFound):
    code = "friend_request_not_found"
    default_message = "No such friend request."


class CannotFollowSelf(ValidationFailed):
    code = "cannot_follow_self"
    default_message = "You cannot follow yourself."


class CannotTargetSelf(ValidationFailed):
    code = "cannot_target_self"
    default_message = "You cannot do this to yourself."


class UserBlocked(Conflict):
    code = "user_blocked"
    default_message = "You blocked this user; unblock them first."


class AlreadyFriends(Conflict):
    code = "already_friends"
    default_message = "You are already friends."


class FriendRequestExists(Conflict):
    code = "friend_request_exists"
    default_message = "A friend request between you is already pending."


class FriendRequestNotPending(Conflict):
    code = "friend_request_not_pending"
    default_message = "This friend request was already answered."


class DuplicateReview(Conflict):
    code = "duplicate_review"
    default_message = "You already reviewed this merchant; edit your review instead."


class RatingOutOfRange(ValidationFailed):
    code = "rating_out_of_range"
    default_message = "The rating must be an integer from 1 to 5."


class TextTooLong(ValidationFailed):
    code = "text_too_long"
    default_message = "The text is too long."


class TooManyPhotos(ValidationFailed):
    code = "too_many_photos"
    default_message = "Too many photos."


class EmptyPost(ValidationFailed):
    code = "empty_post"
    default_message = "A post needs text or at least one photo."


class PaymentNotShareable(DomainError):
    status_code = 400
    code = "payment_not_shareable"
    default_message = "This payment is not your own succeeded payment at this merchant."


class PaymentAlreadyShared(Conflict):
    code = "payment_already_shared"
    default_message = "This payment was already shared as a check-in."
