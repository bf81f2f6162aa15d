"""What other apps add to an explanation: friends who were there (social), coupons that apply (wallet),
travel time (traffic). Each is looked up in one batch for the whole page.

The recommender sits above these apps (docs/CONVENTIONS.md) and imports their selectors directly: a renamed
or removed selector fails at import, loudly, instead of silently dropping the explanation.
"""

from __future__ import annotations

import logging

from payments.selectors import campaigns_usable_by
from superapp.social.selectors import friends_who_visited, friends_who_visited_anywhere, users_with_a_circle
from traffic import selectors as traffic_selectors

logger = logging.getLogger(__name__)


def friends_here(*, user, merchant_ids: list[int]) -> dict[int, list]:
    """Merchant id -> friends of `user` who visited or reviewed it (visibility rules are social's)."""
    if not merchant_ids:
        return {}
    return friends_who_visited(user=user, merchant_ids=merchant_ids)


def friends_anywhere(*, user, max_visits: int) -> dict[int, list] | None:
    """`friends_here` for every merchant, or None when the user's circle has too many visits to cache."""
    return friends_who_visited_anywhere(user=user, max_visits=max_visits)


def users_with_friends(*, user_ids: list[int]) -> set[int] | None:
    """Which of these users social could name friends for (None: ask social about every user)."""
    return users_with_a_circle(user_ids=user_ids)


def campaigns_usable(*, user, running: list | None = None) -> list:
    """Running campaigns `user` could use somewhere (collected or still collectable); where each applies is
    the wallet's `campaign_merchant_problem`. `running`: the running campaigns already read."""
    return list(campaigns_usable_by(user=user, running=running))


def eta_minutes_many(*, city, origin: tuple[float, float],
                     destinations: list[tuple[float, float]]) -> list[float | None]:
    """Driving minutes now from `origin` to each destination in `city` (one shortest-path tree), None where
    the traffic app cannot tell (no road network, off the network, no route)."""
    if not destinations:
        return []
    try:
        return list(traffic_selectors.eta_minutes_many(city=city, origin=origin, destinations=destinations))
    except Exception:  # noqa: BLE001 - garnish only: a traffic outage must not fail a recommendation
        logger.warning("recommender serving: eta_minutes_many failed", exc_info=True)
        return [None] * len(destinations)
