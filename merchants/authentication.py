"""Authentication for hot read endpoints that do not need the user's row."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.drainage import set_override
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings


class StatelessJWTAuthentication(JWTAuthentication):
    """The access token's signature, expiry and type are verified as usual, but the user is not loaded from the
    database: `request.user` is a `TokenUser` carrying the token's user id (what simplejwt's
    `JWTStatelessUserAuthentication` does). Trade-off: a user deactivated meanwhile keeps access until the token
    expires (`JWT_ACCESS_MINUTES`), so use it only for reads of public data that do not depend on who asks."""

    def get_user(self, validated_token):
        return api_settings.TOKEN_USER_CLASS(validated_token)


class StatelessJWTScheme(SimpleJWTScheme):
    """The same bearer scheme (`jwtAuth`) in the OpenAPI schema as every other endpoint."""

    target_class = StatelessJWTAuthentication


set_override(StatelessJWTAuthentication, "suppress_collision_warning", True)
