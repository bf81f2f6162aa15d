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
  the work never runs twice. Error responses are not stored (nothing was written), so a retry runs.
- keys expire after `IDEMPOTENCY_KEY_TTL` (24 h); `superapp.tasks.idempotency_keys_expire` deletes them.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from superapp.exceptions import IdempotencyKeyMissing, IdempotencyKeyReused, ValidationFailed
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


def _replay(row: IdempotencyKey) -> Response:
    return Response(row.response_body, status=row.response_status, headers={"Idempotent-Replayed": "true"})


def idempotency_execute(*, request: Request, handler: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        raise IdempotencyKeyMissing()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            f"{HEADER} must be at most {MAX_KEY_LENGTH} characters.", code="idempotency_key_invalid"
        )
    fingerprint = request_fingerprint(request)
    endpoint = request.path[:255]
    user = request.user

    try:
        with transaction.atomic():
            row_id = _claim(user_id=user.pk, endpoint=endpoint, key=key, fingerprint=fingerprint)
            if row_id is None:
                existing = IdempotencyKey.objects.get(user=user, endpoint=endpoint, key=key)
                if existing.created_at < timezone.now() - settings.IDEMPOTENCY_KEY_TTL:
                    # An expired key is free again: drop the old row (locking it) and claim the key anew.
                    existing.delete()
                    row_id = _claim(user_id=user.pk, endpoint=endpoint, key=key, fingerprint=fingerprint)
                    if row_id is None:  # a concurrent request re-claimed it first and committed
                        existing = IdempotencyKey.objects.get(user=user, endpoint=endpoint, key=key)
                if row_id is None:
                    if existing.fingerprint != fingerprint:
                        raise IdempotencyKeyReused()
                    return _replay(existing)

            response = handler()
            if not 200 <= response.status_code < 300:
                raise _NotStored(response)
            IdempotencyKey.objects.filter(pk=row_id).update(
                response_status=response.status_code,
                response_body=json.loads(json.dumps(response.data, cls=JSONEncoder)),
            )
            return response
    except _NotStored as not_stored:
        return not_stored.response


def _claim(*, user_id: int, endpoint: str, key: str, fingerprint: str) -> int | None:
    """Insert the key row in one statement; None if the key is taken. A concurrent duplicate blocks
    here on the unique index until the first transaction ends (then finds its row, or claims the key
    if the first rolled back), so the guarded work never runs twice."""
    table = connection.ops.quote_name(IdempotencyKey._meta.db_table)
    sql = (
        f"INSERT INTO {table} (user_id, endpoint, key, fingerprint, response_status, response_body, created_at) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, 0, %s, %s) ON CONFLICT (user_id, endpoint, key) DO NOTHING RETURNING id"
    )
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, endpoint, key, fingerprint, "{}", created_at])
        row = cursor.fetchone()
    return row[0] if row else None


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a DRF view method (`post`) so it runs at most once per Idempotency-Key."""

    @functools.wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        return idempotency_execute(request=request, handler=lambda: view_method(self, request, *args, **kwargs))

    return wrapper


def idempotency_keys_expire(*, now: Any = None) -> int:
    cutoff = (now or timezone.now()) - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
