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
from django.db import IntegrityError, transaction
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
    expired_before = timezone.now() - settings.IDEMPOTENCY_KEY_TTL

    try:
        with transaction.atomic():
            IdempotencyKey.objects.filter(
                user=user, endpoint=endpoint, key=key, created_at__lt=expired_before
            ).delete()
            try:
                with transaction.atomic():
                    # A concurrent duplicate blocks here until the first transaction ends.
                    row = IdempotencyKey.objects.create(
                        user=user, endpoint=endpoint, key=key, fingerprint=fingerprint,
                        response_status=0, response_body={},
                    )
            except IntegrityError:
                row = None
            if row is None:
                existing = IdempotencyKey.objects.get(user=user, endpoint=endpoint, key=key)
                if existing.fingerprint != fingerprint:
                    raise IdempotencyKeyReused()
                return _replay(existing)

            response = handler()
            if not 200 <= response.status_code < 300:
                raise _NotStored(response)
            row.response_status = response.status_code
            row.response_body = json.loads(json.dumps(response.data, cls=JSONEncoder))
            row.save(update_fields=["response_status", "response_body"])
            return response
    except _NotStored as not_stored:
        return not_stored.response


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
