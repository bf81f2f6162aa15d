"""Account writes: sign-up, log-in with failure throttling, profile updates, password change."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import authenticate, password_validation
from django.core.cache import cache
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.tokens import RefreshToken

from superapp.accounts.exceptions import InvalidCredentials, TooManyAttempts, UsernameTaken, WrongPassword
from superapp.accounts.models import User

# Failed log-ins per (account, client IP) within the window. Keying on the pair means an attacker
# cannot lock the real owner out from another address; per-IP volume is limited by a DRF throttle.
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_WINDOW_S = 60


def _failure_key(username: str, ip: str) -> str:
    return f"login-fail:{username.lower()}:{ip}"


def _login_check_throttle(*, username: str, ip: str) -> None:
    entry = cache.get(_failure_key(username, ip))
    if entry and entry["count"] >= LOGIN_FAILURE_LIMIT:
        retry_after = max(1, int(entry["reset_at"] - time.time()))
        raise TooManyAttempts(retry_after)


def _login_record_failure(*, username: str, ip: str) -> None:
    key = _failure_key(username, ip)
    now = time.time()
    entry = cache.get(key)
    if not entry or entry["reset_at"] <= now:
        entry = {"count": 0, "reset_at": now + LOGIN_FAILURE_WINDOW_S}
    entry["count"] += 1
    cache.set(key, entry, timeout=int(entry["reset_at"] - now) + 1)


def tokens_for_user(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def user_log_in(*, username: str, password: str, ip: str) -> tuple[User, dict[str, str]]:
    _login_check_throttle(username=username, ip=ip)
    user = authenticate(username=username, password=password)
    if user is None or user.is_imported:
        _login_record_failure(username=username, ip=ip)
        raise InvalidCredentials()
    cache.delete(_failure_key(username, ip))
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
    user.set_password(new_password)
    user.save(update_fields=["password"])
