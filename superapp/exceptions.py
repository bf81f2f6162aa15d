"""Domain errors. Each app subclasses `DomainError` in its own `exceptions.py`; the API layer maps
them once to the shared error shape `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: dict[str, Any] | None = None,
                 status_code: int | None = None) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.details = details or {}
        super().__init__(self.message)


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"
    default_message = "You do not have permission to do this."


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class ValidationFailed(DomainError):
    status_code = 400
    code = "validation_error"
    default_message = "Invalid input."


class IdempotencyKeyReused(DomainError):
    status_code = 422
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request."


class IdempotencyKeyMissing(DomainError):
    status_code = 400
    code = "idempotency_key_missing"
    default_message = "This endpoint requires an Idempotency-Key header."


class TooManyAttempts(DomainError):
    """Raised by the attempt counters (`superapp.attempts`) past their limit; answered 429 with Retry-After."""

    status_code = 429
    code = "throttled"
    default_message = "Too many failed attempts; retry later."

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"Too many failed attempts; retry in {retry_after_s} s.", details={"retry_after_s": retry_after_s}
        )
        self.retry_after_s = retry_after_s
