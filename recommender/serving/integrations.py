"""What other apps add to an explanation: friends who were there (social), coupons that apply (wallet),
travel time (traffic). Each is looked up in one batch for the whole page.

These apps land independently of serving. Each function uses the owning app's selector when it exists
and otherwise returns nothing (the explanation is simply not given) -- it never makes one up.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


def _selector(module: str, name: str) -> Callable[..., Any] | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def friends_here(*, user, merchant_ids: list[int]) -> dict[int, list]:
    """Merchant id -> friends of `user` who visited or reviewed it (visibility rules are social's)."""
    selector = _selector("superapp.social.selectors", "friends_who_visited")
    if selector is None or not merchant_ids:
        return {}
    return selector(user=user, merchant_ids=merchant_ids)


def users_with_friends(*, user_ids: list[int]) -> set[int] | None:
    """Which of these users social could name friends for (None: ask social about every user)."""
    selector = _selector("superapp.social.selectors", "users_with_a_circle")
    return None if selector is None else selector(user_ids=user_ids)


def campaigns_usable(*, user, running: list | None = None) -> list:
    """Running campaigns `user` could use somewhere (collected or still collectable); where each applies is
    the wallet's `campaign_merchant_problem`. `running`: the running campaigns already read."""
    selector = _selector("payments.selectors", "campaigns_usable_by")
    if selector is None:
        return []
    return list(selector(user=user, running=running))


def eta_minutes_many(*, city, origin: tuple[float, float],
                     destinations: list[tuple[float, float]]) -> list[float | None]:
    """Driving minutes now from `origin` to each destination in `city` (one shortest-path tree), None where
    the traffic app cannot tell (no road network, off the network, no route)."""
    selector = _selector("traffic.selectors", "eta_minutes_many")
    if selector is None or not destinations:
        return [None] * len(destinations)
    try:
        return list(selector(city=city, origin=origin, destinations=destinations))
    except Exception:  # noqa: BLE001 - garnish only: a traffic outage must not fail a recommendation
        logger.warning("recommender serving: eta_minutes_many failed", exc_info=True)
        return [None] * len(destinations)
