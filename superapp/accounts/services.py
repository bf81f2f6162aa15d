"""Account writes: sign-up, log-in with failure throttling, profile updates, password change."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from superapp.accounts.exceptions import InvalidCredentials, UsernameTaken, WrongPassword
from superapp.accounts.models import User
from superapp.attempts import attempt_reserve, attempts_forget, throttle_rate

# Failed log-ins per ACCOUNT, whatever the client IP: an attacker rotating addresses (or spoofing
# X-Forwarded-For) still hits the same counter. The rate is the `auth_account` throttle rate
# (THROTTLE_AUTH_ACCOUNT, default 5/min). Per-IP volume is limited separately by a DRF throttle.
# Counting is atomic and an attempt is counted BEFORE the password is checked (`superapp.attempts`).


def tokens_for_user(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def user_log_in(*, username: str, password: str) -> tuple[User, dict[str, str]]:
    limit, window_s = throttle_rate("auth_account")
    key = attempt_reserve(scope="login", ident=username.casefold(), limit=limit, window_s=window_s)
    user = authenticate(username=username, password=password)
    if user is None or user.is_imported:
        raise InvalidCredentials()
    attempts_forget(key)  # a success forgets this window's failures
    return user, tokens_for_user(user)


def user_sign_up(*, username: str, password: str, email: str = "", display_name: str = "",
                 home_city_id: int | None = None, language: str = "en", home_currency: str | None = None,
                 preferences: list[str] | None = None) -> User:
    candidate = User(username=username, email=email, display_name=display_name)
    password_validation.validate_password(password, user=candidate)
    try:
        with transaction.atomic():
            user = User(
                username=username, email=email, display_name=display_name or username,
                home_city_id=home_city_id, current_city_id=home_city_id, language=language,
                preferences=preferences or [],
            )
            if home_currency:
                user.home_currency = home_currency
            elif home_city_id:
                user.home_currency = user.home_city.currency
            user.set_password(password)
            user.save()
    except IntegrityError:
        raise UsernameTaken()
    return user


PROFILE_FIELDS = {"display_name", "avatar_url", "language", "home_city", "current_city", "home_currency",
                  "email", "preferences"}


def user_update(*, user: User, data: dict[str, Any]) -> User:
    changed = []
    for field, value in data.items():
        if field in PROFILE_FIELDS:
            setattr(user, field, value)
            changed.append(field)
    if changed:
        user.save(update_fields=changed)
    return user


def user_change_password(*, user: User, old_password: str, new_password: str) -> None:
    if not user.check_password(old_password):
        raise WrongPassword()
    password_validation.validate_password(new_password, user=user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        user_tokens_revoke(user=user)


def user_tokens_revoke(*, user: User) -> int:
    """Blacklist every refresh token issued to `user`; returns how many were still usable. Access tokens
    carry a hash of the password (simplejwt's CHECK_REVOKE_TOKEN), so after a password change they fail
    on their next use without any list."""
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding.only("pk")], ignore_conflicts=True)
    return len(revoked)


# --- Imported users (the recommender's interaction import) -----------------------------------------------------
def _chunks(values: list, size: int = 2000):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _imported_username(external_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "@.+-_" else "_" for c in external_id)
    return f"imported-{safe}"[:150]


def users_imported_ensure(*, external_ids: set[str]) -> tuple[dict[str, int], int]:
    """Map external ids to user pks, creating imported users (unusable password: they cannot log in) for
    unknown ones. Returns the map and how many were created. Bulk (the import runs over millions of rows)."""
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(external_ids)):
        found.update(User.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
    missing = sorted(external_ids - set(found))
    created = 0
    if missing:
        password = make_password(None)
        User.objects.bulk_create(
            [User(username=_imported_username(ext), external_id=ext, is_imported=True, password=password,
                  display_name=f"Imported {ext}"[:80]) for ext in missing],
            batch_size=2000, ignore_conflicts=True)
        for chunk in _chunks(missing):
            new = dict(User.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
            created += len(new)
            found.update(new)
    return found, created
