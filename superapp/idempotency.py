"""The Idempotency-Key mechanism every money-moving or booking POST plugs into.

Usage on a DRF view method::

    @idempotent
    def post(self, request): ...

Semantics:
- the header is required (400 `idempotency_key_missing`);
- the first request with a key executes; its 2xx response is stored with a fingerprint of the request;
- a replay with the same key and the same request returns the stored response (header
  `Idempotent-Replayed: true`) without executing again;
- the same key with a different request is a 422 `idempotency_key_reused`;
- a concurrent duplicate blocks on the key's unique index until the first commits, then replays:
  the work never runs twice;
- `@idempotent(claim_last=True)`: the key row is inserted once, with the outcome, after the work, in the same
  transaction (one statement less: no claim before and no update after). A replay or a concurrent duplicate then
  runs the work again and finds the key taken at the end (or trips over a unique row the first one wrote: an
  IntegrityError, then the key is looked up), and its whole transaction is rolled back before it replays the
  stored outcome: the work's effects never commit twice. Only for views whose work is all inside the database
  transaction (nothing sent or called outside it): the wallet payment;
- business refusals (402/404/409/422 domain errors such as `insufficient_funds`) are stored and replayed
  like successes (one key, one outcome); validation errors, 401/403/429 and 5xx leave the key free;
- a deadlock or serialization failure re-runs the whole transaction (`superapp.db.run_in_transaction`).
- keys expire after `IDEMPOTENCY_KEY_TTL` (24 h); `superapp.tasks.idempotency_keys_expire` deletes them.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from superapp.api import domain_error_response
from superapp.db import IDEMPOTENT_RECONNECT_S, run_in_transaction, whole_transaction_unit
from superapp.exceptions import DomainError, IdempotencyKeyMissing, IdempotencyKeyReused, ValidationFailed
from superapp.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _plain(data: Any) -> Any:
    if hasattr(data, "lists"):  # QueryDict
        return dict(data.lists())
    return data


def request_fingerprint(request: Request) -> str:
    payload = json.dumps(
        {
            "method": request.method,
            "path": request.path,
            "query": sorted(request.query_params.lists()),
            "body": _plain(request.data),
        },
        sort_keys=True,
        cls=JSONEncoder,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class _NotStored(Exception):
    """Raised inside the transaction to roll back the key row when a response must not be stored."""

    def __init__(self, response: Response) -> None:
        self.response = response


# Business refusals (the request was understood and executed, and the answer is "no") are an outcome:
# stored and replayed like a success, so a retry after a timeout can never turn a refused payment into a
# charged one later. Validation errors (400), authentication/permission (401/403), throttling (429) and
# server errors (5xx) are not outcomes: they leave the key free for a corrected or later retry.
STORED_REFUSAL_STATUSES = frozenset({402, 404, 409, 422})


def _replay(row: IdempotencyKey) -> Response:
    return Response(row.response_body, status=row.response_status, headers={"Idempotent-Replayed": "true"})


def _existing_outcome(*, ident: dict, fingerprint: str, reclaim_expired: bool = True) -> Response | None:
    """What a key already taken answers, checked in this one order everywhere: another request under the key is a
    422 `idempotency_key_reused`, finished or not; a finished outcome is replayed; None when there is nothing to
    replay: the key's first request is unfinished (resume the operation) or the row is gone. With
    `reclaim_expired`, an expired key is free again: its row is dropped and the key claimed anew (None)."""
    existing = IdempotencyKey.objects.filter(**ident).first()
    if existing is not None and reclaim_expired and existing.created_at < timezone.now() - settings.IDEMPOTENCY_KEY_TTL:
        existing.delete()  # locks the old row
        if _claim(**ident, fingerprint=fingerprint) is not None:
            return None
        # a concurrent request re-claimed it first and committed
        existing = IdempotencyKey.objects.filter(**ident).first()
    if existing is None:
        return None
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if existing.response_status == 0:
        return None
    return _replay(existing)


def _store(*, user_id: int, endpoint: str, key: str, status: int, body: Any) -> None:
    """Record the outcome on the claimed key row: one statement, the body encoded to JSON once (it is on
    every money request's path, where the ORM's UPDATE compilation and a second JSON pass cost as much as a
    database round trip)."""
    table = connection.ops.quote_name(IdempotencyKey._meta.db_table)
    sql = f"UPDATE {table} SET response_status = %s, response_body = %s WHERE user_id = %s AND endpoint = %s AND key = %s"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, [status, _encoded(body), user_id, endpoint, key])


def _encoded(body: Any) -> str:
    return json.dumps(body, cls=JSONEncoder)


def _request_ident(request: Request) -> tuple[dict, str]:
    """The key row's identity (user, endpoint, validated key) and the request body's fingerprint."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        raise IdempotencyKeyMissing()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            f"{HEADER} must be at most {MAX_KEY_LENGTH} characters.", code="idempotency_key_invalid"
        )
    return {"user_id": request.user.pk, "endpoint": request.path[:255], "key": key}, request_fingerprint(request)


def _claim_or_outcome(*, ident: dict, fingerprint: str) -> Response | None:
    """Claim the key (None: go ahead), or the outcome a first attempt stored (None too while it is
    unfinished: resume the operation)."""
    if _claim(**ident, fingerprint=fingerprint) is None:
        return _existing_outcome(ident=ident, fingerprint=fingerprint)
    return None


def idempotency_execute(*, request: Request, handler: Callable[[], Response], claim_last: bool = False) -> Response:
    ident, fingerprint = _request_ident(request)

    def attempt() -> Response:
        if not claim_last:
            outcome = _claim_or_outcome(ident=ident, fingerprint=fingerprint)
            if outcome is not None:
                return outcome
        with whole_transaction_unit():  # any exception rolls the attempt back: no savepoints inside
            response = handler()
        if not 200 <= response.status_code < 300:
            raise _NotStored(response)
        if claim_last:
            _claim_with_outcome(ident=ident, fingerprint=fingerprint, response=response)
        else:
            _store(**ident, status=response.status_code, body=response.data)
        return response

    try:
        # The whole unit (key claim, the work, the stored response) is retried on deadlock/serialization
        # failure, so such a conflict never reaches the client.
        return run_in_transaction(attempt, reconnect_s=IDEMPOTENT_RECONNECT_S)
    except _NotStored as not_stored:
        return not_stored.response
    except IntegrityError:
        # Claimed last, a duplicate may trip over a row its first request wrote (a unique name) before it reaches
        # the key: if the key is taken, it is a replay of that request (or, with another body, a reused key). Nothing
        # is claimed here: an unfinished or missing key leaves this request's own IntegrityError to stand.
        outcome = run_in_transaction(functools.partial(_existing_outcome, ident=ident, fingerprint=fingerprint,
                                                       reclaim_expired=False)) if claim_last else None
        if outcome is None:
            raise
        return outcome
    except DomainError as refusal:
        if refusal.status_code not in STORED_REFUSAL_STATUSES:
            raise
        # The refused work was rolled back with the key row; store the refusal in a second transaction.
        # If a concurrent duplicate claimed the key in between, its outcome is THE outcome: replay it.
        return run_in_transaction(functools.partial(_store_refusal, ident=ident, fingerprint=fingerprint,
                                                   refusal=refusal))


def _claim_with_outcome(*, ident: dict, fingerprint: str, response: Response) -> None:
    """claim_last: insert the key row with the outcome of the work just done. If the key is taken (a first request
    committed it, or commits it while this one waits on the key's unique index), this attempt's work is rolled back
    (`_NotStored` leaves the transaction) and the first outcome answers; a reused key is a 422 as ever."""
    if _claim(**ident, fingerprint=fingerprint, status=response.status_code, body=response.data) is not None:
        return
    outcome = _existing_outcome(ident=ident, fingerprint=fingerprint)
    if outcome is not None:
        raise _NotStored(outcome)
    # the key was free after all (expired and claimed anew, or left unfinished): it is ours, with this outcome
    _store(**ident, status=response.status_code, body=response.data)


def _store_refusal(*, ident: dict, fingerprint: str, refusal: DomainError) -> Response:
    outcome = _claim_or_outcome(ident=ident, fingerprint=fingerprint)
    if outcome is not None:
        return outcome
    response = domain_error_response(refusal)
    _store(**ident, status=response.status_code, body=response.data)
    return response


def idempotency_execute_outside_transaction(*, request: Request, handler: Callable[[], Response]) -> Response:
    """For operations that call an outside provider and so must not run inside a database transaction
    (top-up, withdrawal): the key is claimed and committed first (status 0 = in progress), the handler runs
    its own short transactions around the provider call, and the outcome is stored in a last transaction.
    The handler must be resumable by the key (`request_key` of the operation): a retry of a key still in
    progress (the first attempt is running, or crashed) runs the handler again, which finds and finishes
    the same pending operation instead of starting a second one."""
    ident, fingerprint = _request_ident(request)

    outcome = run_in_transaction(functools.partial(_claim_or_outcome, ident=ident, fingerprint=fingerprint),
                                 reconnect_s=IDEMPOTENT_RECONNECT_S)
    if outcome is not None:
        return outcome

    def release() -> None:  # not an outcome: free the key for a corrected retry
        IdempotencyKey.objects.filter(**ident, response_status=0).delete()

    try:
        response = handler()
    except DomainError as refusal:
        if refusal.status_code not in STORED_REFUSAL_STATUSES:
            run_in_transaction(release, reconnect_s=IDEMPOTENT_RECONNECT_S)
            raise
        response = domain_error_response(refusal)
    if not (200 <= response.status_code < 300 or response.status_code in STORED_REFUSAL_STATUSES):
        run_in_transaction(release, reconnect_s=IDEMPOTENT_RECONNECT_S)
        return response
    run_in_transaction(functools.partial(_store, **ident, status=response.status_code, body=response.data),
                       reconnect_s=IDEMPOTENT_RECONNECT_S)
    return response


def _claim(*, user_id: int, endpoint: str, key: str, fingerprint: str, status: int = 0, body: Any = None) -> int | None:
    """Insert the key row in one statement (status 0: in progress; claim_last: with the outcome); None if the key
    is taken. A concurrent duplicate blocks here on the unique index until the first transaction ends (then
    finds its row, or claims the key if the first rolled back), so the guarded work never commits twice."""
    table = connection.ops.quote_name(IdempotencyKey._meta.db_table)
    sql = (
        f"INSERT INTO {table} (user_id, endpoint, key, fingerprint, response_status, response_body, created_at) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, endpoint, key) DO NOTHING RETURNING id"
    )
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, endpoint, key, fingerprint, status, "{}" if body is None else _encoded(body),
                             created_at])
        row = cursor.fetchone()
    return row[0] if row else None


def idempotent(view_method: Callable[..., Response] | None = None, *, claim_last: bool = False):
    """Decorate a DRF view method (`post`) so its work commits at most once per Idempotency-Key
    (`@idempotent`, or `@idempotent(claim_last=True)`: see the module's docstring)."""
    if view_method is None:
        return functools.partial(idempotent, claim_last=claim_last)

    @functools.wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        return idempotency_execute(request=request, claim_last=claim_last,
                                   handler=lambda: view_method(self, request, *args, **kwargs))

    return wrapper


def idempotent_outside_transaction(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Like `idempotent`, for views whose service calls an outside provider between its own transactions."""

    @functools.wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        return idempotency_execute_outside_transaction(
            request=request, handler=lambda: view_method(self, request, *args, **kwargs))

    return wrapper


def idempotency_keys_expire(*, now: Any = None) -> int:
    cutoff = (now or timezone.now()) - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
