"""Events the apps send upward: what a user did with a merchant, for whoever learns from it (the recommender).

Apps depend on each other in one direction (docs/CONVENTIONS.md, enforced by import-linter): the wallet, the
merchants, the bookings and social sit below the recommender and never import it. They tell it what happened
by sending an interaction event here, in the kernel; the recommender subscribes when it starts
(`recommender.apps.RecommenderConfig.ready`) and stores the interaction. With no subscriber (an installation
without the recommender) an event is simply not stored.

Two ways to send, as before the split:
- `interaction_on_commit(...)`: after the surrounding transaction commits (never for rolled-back work); the
  subscriber stores it in its own transaction. For views, saves, bookings, reviews, check-ins, likes.
- `interactions_in_transaction(events=[...])`: inside the caller's open transaction (one INSERT on the
  recommender's side), so the rows exist if and only if the caller's work commits; for hot paths (payments).
Both are idempotent on (kind, source) on the recommender's side: replaying an event stores it once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone


class InteractionKind(models.TextChoices):
    """What a user did with a merchant (the recommender's `Interaction.kind`)."""

    PAYMENT = "payment", "Payment"
    REFUND = "refund", "Refund (negative signal)"
    COUPON = "coupon", "Coupon redemption"
    BOOKING = "booking", "Booking confirmed"
    REVIEW = "review", "Review (value = rating 1-5)"
    CHECKIN = "checkin", "Check-in"
    LIKE = "like", "Like of a post tagged with the merchant"
    VIEW = "view", "Merchant viewed"
    SAVE = "save", "Merchant saved"
    IMPRESSION = "impression", "Impression (client)"
    CLICK = "click", "Click (client)"
    DISMISS = "dismiss", "Dismiss (client, negative)"
    IMPORT = "import", "Imported (value = weight)"


# Sent after commit with `event` (the keyword arguments of `interaction_on_commit`, `occurred_at` filled in).
interaction_committed = Signal()
# Sent inside the caller's transaction with `events` (a list of such dicts; `occurred_at` may be missing).
interactions_in_transaction_sent = Signal()


def interaction_on_commit(*, user_id: int, merchant_id: int, kind: str, value: float = 1.0,
                          occurred_at: datetime | None = None, source: str = "") -> None:
    """Send an interaction after the surrounding transaction commits (never for rolled-back work). The time is
    taken now, when it happened, not when the transaction commits."""
    event = {"user_id": user_id, "merchant_id": merchant_id, "kind": kind, "value": value,
             "occurred_at": occurred_at or timezone.now(), "source": source}
    transaction.on_commit(lambda: interaction_committed.send(sender=None, event=event))


def interactions_in_transaction(*, events: list[dict[str, Any]]) -> None:
    """Send interactions inside the caller's open transaction: the subscriber stores them in it, so they exist
    if and only if the caller's work commits. Each event has the keyword arguments of `interaction_on_commit`."""
    if events:
        interactions_in_transaction_sent.send(sender=None, events=events)


def interactions_subscribe(*, on_commit: Callable[..., Any], in_transaction: Callable[..., Any]) -> None:
    """Subscribe the store of interactions: `on_commit(**event)` for each committed event,
    `in_transaction(events=[...])` for the in-transaction batches. Called once, from an AppConfig's `ready()`."""

    def committed(sender, *, event, **kwargs) -> None:
        on_commit(**event)

    def batched(sender, *, events, **kwargs) -> None:
        in_transaction(events=events)

    interaction_committed.connect(committed, weak=False, dispatch_uid="interactions-on-commit")
    interactions_in_transaction_sent.connect(batched, weak=False, dispatch_uid="interactions-in-transaction")
