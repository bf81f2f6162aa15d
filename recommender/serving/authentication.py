"""Authentication for the recommendation endpoints: simplejwt's full check, one query for the user and the
cities a page needs."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.drainage import set_override
from rest_framework_simplejwt.authentication import JWTAuthentication

from superapp.accounts.models import User


class _UsersWithCities:
    """What simplejwt needs of `user_model` (`objects.get`, `DoesNotExist`), loading the home and current city
    in the same query: every recommendation page reads both (default city, "travellers from your city")."""

    DoesNotExist = User.DoesNotExist
    objects = User.objects.select_related("home_city", "current_city")


class ProfileJWTAuthentication(JWTAuthentication):
    """Exactly simplejwt's `JWTAuthentication` (signature, expiry, token type, user exists and is active),
    with the user's cities joined into its query: two queries fewer per request."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user_model = _UsersWithCities


class ProfileJWTScheme(SimpleJWTScheme):
    """The same bearer scheme (`jwtAuth`) in the OpenAPI schema as every other endpoint."""

    target_class = ProfileJWTAuthentication


set_override(ProfileJWTAuthentication, "suppress_collision_warning", True)
