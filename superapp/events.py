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
- `interactions_insert_sql(events=[...], record_id_sql=...)`: the subscriber's INSERT of the events as SQL, for a
  caller that runs it inside its own statement (PostgreSQL; the wallet's ledger statement, one round trip less a
  payment). An event's `source` may end with `RECORD_ID`, the id of a row inserted by the same statement.
All are idempotent on (kind, source) on the recommender's side: replaying an event stores it once.
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
# Sent inside the caller's transaction with `events` and `record_id_sql`; the subscriber answers (sql, params).
interactions_sql_requested = Signal()

# The end of an event's `source` that stands for the id of the row the same statement inserts (a payment's).
RECORD_ID = "{record_id}"


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


def interactions_insert_sql(*, events: list[dict[str, Any]], record_id_sql: str) -> tuple[str, list] | None:
    """The INSERT storing these events as (sql, params), for the caller to run as part of its own statement inside
    its open transaction (a data-modifying CTE on PostgreSQL): the rows exist if and only if the caller's work
    commits, like `interactions_in_transaction`, without a round trip of their own. A `source` ending with
    `RECORD_ID` gets the id that the SQL expression `record_id_sql` reads (a row the same statement inserts).
    None when nothing is to be stored (no events, or no subscriber)."""
    if not events:
        return None
    for _receiver, reply in interactions_sql_requested.send(sender=None, events=events, record_id_sql=record_id_sql):
        if reply is not None:
            return reply
    return None


def events_for_record(events: list[dict[str, Any]], record_id: int) -> list[dict[str, Any]]:
    """The events with `RECORD_ID` at the end of their source replaced by the stored row's id (for a caller that
    sends them with `interactions_in_transaction` after the row is in, instead of in the same statement)."""
    return [{**event, "source": event["source"].removesuffix(RECORD_ID) + str(record_id)}
            if event.get("source", "").endswith(RECORD_ID) else event for event in events]


def interactions_subscribe(*, on_commit: Callable[..., Any], in_transaction: Callable[..., Any],
                           in_statement: Callable[..., tuple[str, list]] | None = None) -> None:
    """Subscribe the store of interactions: `on_commit(**event)` for each committed event,
    `in_transaction(events=[...])` for the in-transaction batches, `in_statement(events=[...], record_id_sql=...)`
    answering `interactions_insert_sql`. Called once, from an AppConfig's `ready()`."""

    def committed(sender, *, event, **kwargs) -> None:
        on_commit(**event)

    def batched(sender, *, events, **kwargs) -> None:
        in_transaction(events=events)

    def as_sql(sender, *, events, record_id_sql, **kwargs) -> tuple[str, list]:
        return in_statement(events=events, record_id_sql=record_id_sql)

    interaction_committed.connect(committed, weak=False, dispatch_uid="interactions-on-commit")
    if in_statement is not None:
        interactions_sql_requested.connect(as_sql, weak=False, dispatch_uid="interactions-in-statement")
    interactions_in_transaction_sent.connect(batched, weak=False, dispatch_uid="interactions-in-transaction")
