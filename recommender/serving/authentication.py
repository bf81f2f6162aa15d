"""Authentication for the recommendation endpoints: simplejwt's full check with the user row from the
accounts app's cache (`CachedUserJWTAuthentication`: no query when the row is cached in Redis), and the
user's home and current city from the per-process catalogue (reference data), so a page reads no user or
city row from the database."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.drainage import set_override

from recommender.serving.catalogue import city
from superapp.accounts.authentication import CachedUserJWTAuthentication


class ProfileJWTAuthentication(CachedUserJWTAuthentication):
    """`CachedUserJWTAuthentication` (signature, expiry, token type, user exists and is active, revocation),
    with the user's cities attached from the catalogue: every page reads both (default city, "travellers
    from your city")."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        for name in ("home_city", "current_city"):
            found = city(getattr(user, f"{name}_id"))
            if found is not None:
                setattr(user, name, found)  # the related-object cache: no lazy query
        return user


class ProfileJWTScheme(SimpleJWTScheme):
    """The same bearer scheme (`jwtAuth`) in the OpenAPI schema as every other endpoint."""

    target_class = ProfileJWTAuthentication


set_override(ProfileJWTAuthentication, "suppress_collision_warning", True)
