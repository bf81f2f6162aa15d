"""JWT authentication that reads the user row from a Redis cache instead of the database.

simplejwt's `JWTAuthentication` fetches the user row on every request (so an inactive or deleted
user is refused at once). That one query was the biggest single cost of a cached timeline read. This
class keeps the same checks (unknown user, `is_active`, the revoke claim when enabled) but reads the
row from Redis, kept correct by a per-user generation number:

- `auth:user:{id}` holds `(generation, row values)` for `ROW_TTL_S` (an hour);
- `auth:user:{id}:gen` is bumped by every save or delete of that user (a signal, at once and again
  after the transaction commits);
- a reader fetches both keys in ONE round trip and uses the row only if its generation is current.
  On a miss it reads the generation first, then the database, and stores the row under the
  generation it read: a save that commits meanwhile bumps the generation, so the stored row is
  never used. Deactivating or deleting a user refuses their tokens on the next request, as before.

Bulk `QuerySet.update()` and raw SQL on `accounts_user` send no signal: call `user_cache_invalidate`
after them (nothing in the code base does either today); the row TTL bounds how long a forgotten call can
serve an old row. `users_cache_warm` stores the rows of many users ahead of their requests (the
recommender does it when it builds their lists, so a page meets the row warm) with the same protocol.
Without Redis (the embedded default) every request reads the database, as simplejwt does: a per-process
cache could not be invalidated across gunicorn workers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import pickle
import time
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.drainage import set_override
from rest_framework_simplejwt.authentication import JWTAuthentication, JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from superapp.accounts.models import User
from superapp.cache import cache_keys_in_redis, cache_value_decode, redis_client
from superapp.process_cache import ProcessCacheMap

logger = logging.getLogger(__name__)

ROW_TTL_S = 3_600
# Outlives every row stored under it (rows live ROW_TTL_S): a generation key that expired while a row stored
# under an older generation lived on would read 0 again and could match a row stored before the first bump.
GENERATION_TTL_S = 86_400
assert ROW_TTL_S <= GENERATION_TTL_S
_FIELDS = tuple(f.attname for f in User._meta.concrete_fields)


def _row_key(user_id) -> str:
    return f"auth:user:{user_id}"


def _generation_key(user_id) -> str:
    return f"auth:user:{user_id}:gen"


def _redis():
    if not getattr(settings, "AUTH_USER_CACHE", True):
        return None
    return redis_client(timeout_s=settings.REDIS_AUTH_SOCKET_TIMEOUT_S)


def _from_database(user_id) -> User | None:
    return User.objects.filter(pk=user_id).first()


def _from_database_many(user_ids: list) -> list[User]:
    return list(User.objects.filter(pk__in=user_ids))


def _packed(user: User, generation: int) -> bytes:
    return pickle.dumps((generation, tuple(getattr(user, name) for name in _FIELDS)))


def _cached_row(raw: bytes | None, generation: bytes | None) -> User | None:
    """The row stored in `auth:user:{id}` if it was stored under the current generation, else None."""
    if raw is None:
        return None
    stored_generation, values = pickle.loads(raw)  # noqa: S301 - written by this module only
    return User.from_db("default", _FIELDS, values) if stored_generation == int(generation or 0) else None


def user_get_cached(user_id) -> User | None:
    """The user row for a token's user id (None if there is no such user), from Redis when current."""
    return user_and_keys_get_cached(user_id, also=())[0]


def user_and_keys_get_cached(user_id, *, also: Sequence[str]) -> tuple[User | None, dict[str, bytes | None] | None]:
    """`user_get_cached`, with other Redis keys (`also`) fetched in the same round trip: the row and
    {key: raw value or None} of those keys, or None for them when they could not be read that way (no Redis,
    or it failed): the caller then reads them itself."""
    client = _redis()
    if client is None:
        return _from_database(user_id), None
    try:
        raw, generation, *others = client.mget(_row_key(user_id), _generation_key(user_id), *also)
    except Exception:  # noqa: BLE001 - a Redis outage degrades to the database, never to a refusal
        logger.warning("user cache unavailable", exc_info=True)
        return _from_database(user_id), None
    found = dict(zip(also, others, strict=True))
    cached = _cached_row(raw, generation)
    if cached is not None:
        return cached, found
    user = _from_database(user_id)
    if user is not None:
        try:
            client.set(_row_key(user_id), _packed(user, int(generation or 0)), ex=ROW_TTL_S)
        except Exception:  # noqa: BLE001
            logger.warning("user cache unavailable", exc_info=True)
    return user, found


def users_get_cached(user_ids) -> dict[int, User]:
    """`user_get_cached` for many users: the rows current in Redis in one round trip, the others read in one
    query and stored (`users_cache_warm`). {user id: row}; a user that does not exist is absent."""
    user_ids = list(dict.fromkeys(user_ids))
    found: dict[int, User] = {}
    client = _redis()
    if client is not None and user_ids:
        try:
            raw = client.mget([key for pk in user_ids for key in (_row_key(pk), _generation_key(pk))])
        except Exception:  # noqa: BLE001 - a Redis outage degrades to the database
            logger.warning("user cache unavailable", exc_info=True)
            raw = [None] * (2 * len(user_ids))
        for pk, row, generation in zip(user_ids, raw[::2], raw[1::2], strict=True):
            if (user := _cached_row(row, generation)) is not None:
                found[pk] = user
    missing = [pk for pk in user_ids if pk not in found]
    if missing:
        found.update((user.pk, user) for user in users_cache_warm(missing))
    return found


def users_cache_warm(user_ids) -> list[User]:
    """Read the rows of these users (one query) and, with Redis, store them as `user_get_cached` does: the
    generations are read first and each row is stored under the generation read, so a save that commits
    in between makes the stored row unusable. Returns the rows read (for callers that need them anyway)."""
    user_ids = list(user_ids)
    client = _redis()
    generations = None
    if client is not None and user_ids:
        try:
            generations = client.mget([_generation_key(pk) for pk in user_ids])
        except Exception:  # noqa: BLE001 - nothing warmed: the requests read the database
            logger.warning("user cache unavailable", exc_info=True)
    users = _from_database_many(user_ids)
    if generations is not None:
        by_id = dict(zip(user_ids, generations, strict=True))
        try:
            pipe = client.pipeline(transaction=False)
            for user in users:
                pipe.set(_row_key(user.pk), _packed(user, int(by_id[user.pk] or 0)), ex=ROW_TTL_S)
            pipe.execute()
        except Exception:  # noqa: BLE001
            logger.warning("user cache unavailable", exc_info=True)
    return users


def user_cache_invalidate(user_id) -> None:
    """Make any cached row of this user unusable (bump its generation)."""
    client = _redis()
    if client is None:
        return
    try:
        pipe = client.pipeline(transaction=False)
        pipe.incr(_generation_key(user_id))
        pipe.expire(_generation_key(user_id), GENERATION_TTL_S)
        pipe.execute()
    except Exception:  # noqa: BLE001 - cannot invalidate: make sure nothing is served from the cache
        logger.error("user cache invalidation failed for user %s; deleting the row", user_id, exc_info=True)
        with contextlib.suppress(Exception):
            client.delete(_row_key(user_id))


@receiver(post_save, sender=User, dispatch_uid="accounts.user_cache_on_save")
@receiver(post_delete, sender=User, dispatch_uid="accounts.user_cache_on_delete")
def _user_changed(sender, instance: User, **kwargs) -> None:
    # Now (a reader after this sees the new generation) and after commit (a reader that cached the
    # old committed row between the two must not keep it).
    user_cache_invalidate(instance.pk)
    transaction.on_commit(functools.partial(user_cache_invalidate, instance.pk), using=kwargs.get("using"))


# Access tokens this process has verified, by their exact text: (valid until, the validated token). A client
# sends the same token on every request of its session, and PyJWT's decoding (base64, JSON, the HMAC and the
# claim checks, in Python) was a tenth of a cached page's CPU. The text includes the signature, so a hit is a
# token verified before; what can change with time is re-checked on every use: the expiry (the token's own
# `exp`, with simplejwt's leeway) here, the user row (active, password unchanged) in `get_user`. Access tokens
# have no blacklist in simplejwt (refresh tokens do, and are never accepted here).
_verified_tokens: ProcessCacheMap[bytes, tuple[float, object]] = ProcessCacheMap("accounts.verified_tokens",
                                                                                  max_entries=20_000)


def _valid_until(token) -> float | None:
    expiry = token.payload.get("exp")
    if isinstance(expiry, bool) or not isinstance(expiry, int | float):
        return None
    return float(expiry) + token.get_token_backend().get_leeway().total_seconds()


class CachedUserJWTAuthentication(JWTAuthentication):
    """simplejwt's checks, the user row from `user_get_cached`, each verified token remembered until it expires
    (`_verified_tokens`).

    A view may give its instance a `prefetch` (user id -> the keys of the default cache its page reads): with
    the cache on the same Redis, those keys are fetched in the user row's own round trip (one `MGET` a
    request instead of two) and left decoded in `prefetched` ({key: value, None for a missing key}; None when
    they were not read that way, so the view reads them itself). They are read only for the user id of a
    token whose signature has been verified, and the view uses them only once that user is authenticated."""

    prefetch: Callable[[int], Sequence[str]] | None = None
    prefetched: dict | None = None

    def get_validated_token(self, raw_token: bytes):
        hit = _verified_tokens.lookup(raw_token)
        if hit is not None and time.time() < hit[0]:
            return hit[1]
        token = super().get_validated_token(raw_token)  # raises for a bad, expired or foreign token
        valid_until = _valid_until(token)
        if valid_until is not None:
            _verified_tokens.put(raw_token, (valid_until, token))
        return token

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as e:
            raise InvalidToken(_("Token contained no recognizable user identification")) from e
        if api_settings.USER_ID_FIELD != "id":  # the cache is keyed by primary key
            return super().get_user(validated_token)
        user = self._user_and_prefetch(user_id) if self.prefetch is not None else user_get_cached(user_id)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and (
                validated_token.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password)):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        return user

    def _user_and_prefetch(self, user_id) -> User | None:
        try:
            keys = list(self.prefetch(int(user_id)))
        except (TypeError, ValueError):  # not a primary key: no page to prefetch for
            return user_get_cached(user_id)
        redis_keys = cache_keys_in_redis(keys) if _redis() is not None else None
        if redis_keys is None:
            return user_get_cached(user_id)
        user, found = user_and_keys_get_cached(user_id, also=redis_keys)
        if found is not None:
            self.prefetched = {key: None if found[redis_key] is None else cache_value_decode(found[redis_key])
                               for key, redis_key in zip(keys, redis_keys, strict=True)}
        return user


class CachedUserJWTScheme(SimpleJWTScheme):
    """The schema's `jwtAuth` bearer scheme, as for simplejwt's own class."""

    target_class = CachedUserJWTAuthentication


# The project's one other way to read a token, for a hot read of public data that needs no user row (the nearby
# search), is simplejwt's own `JWTStatelessUserAuthentication` (`request.user` is a `TokenUser`; a user
# deactivated meanwhile keeps access until the token expires). It is the same `jwtAuth` bearer scheme.
set_override(JWTStatelessUserAuthentication, "suppress_collision_warning", True)
