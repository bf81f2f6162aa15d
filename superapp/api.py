"""API conventions shared by every app: the error shape, pagination and schema hooks.

Every 4xx/5xx under /api/ has one shape::

    {"error": {"code": "insufficient_funds", "message": "...", "details": {...}}}

`code` is stable and machine-readable; `message` is for the developer; `details` carries per-field
errors for validation failures (`{"field": ["message", ...]}`) or extra context.
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
from typing import Any
from urllib import parse

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    FieldDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from superapp.db import RETRY_AFTER_S, database_unavailable
from superapp.exceptions import DomainError
from superapp.money import Money, MoneyError
from superapp.parsers import INT64 as _INT64

logger = logging.getLogger(__name__)

# DRF exception class -> stable error code.
_DRF_CODES: dict[type[Exception], str] = {
    drf_exceptions.ValidationError: "validation_error",
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def domain_error_response(exc: DomainError) -> Response:
    response = Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def database_unavailable_response(exc: Exception) -> Response:
    """The database cannot answer now (restarting, unreachable, conflict retries exhausted): 503 with
    Retry-After, never a 500. The work was rolled back; an idempotent retry with the same key is safe."""
    logger.warning("database unavailable: %s", exc)
    response = Response(error_body("service_unavailable", "The database is unavailable; retry shortly.",
                                   {"retry_after_s": RETRY_AFTER_S}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _validation_details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {str(k): v for k, v in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {"non_field_errors": [detail]}


def request_error(exc: Exception) -> tuple[int, str, str] | None:
    """(status, code, message) for errors about the REQUEST itself that Django raises (body too big, too many
    fields or query parameters, a suspicious header) and for money input that failed to parse; None for any
    other exception. Shared by the DRF handler and `ApiErrorMiddleware`, so they keep their 4xx everywhere."""
    if isinstance(exc, RequestDataTooBig):
        return 413, "request_too_large", (
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return 400, "too_many_fields", (
            f"At most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} query parameters or form fields per request.")
    if isinstance(exc, DisallowedHost):
        return 400, "bad_request", "Invalid Host header."
    if isinstance(exc, (SuspiciousOperation, BadRequest, UnicodeDecodeError)):
        return 400, "bad_request", "Bad request."
    if isinstance(exc, MoneyError):
        return 400, exc.code, str(exc)
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain errors, DRF errors and Django's 404/403/validation errors to the one shape."""
    refused = request_error(exc)
    if refused is not None:
        return Response(error_body(refused[1], refused[2]), status=refused[0])
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    if database_unavailable(exc):
        return database_unavailable_response(exc)
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("validation_error", "Invalid input.", details), status=400)

    response = drf_exception_handler(exc, context)  # sets Retry-After, WWW-Authenticate, 404/403 mapping
    if response is None:
        return None  # a real bug: let Django log it; ApiErrorMiddleware renders the 500 shape

    if isinstance(exc, Http404):
        code, message, details = "not_found", "Not found.", {}
    elif isinstance(exc, DjangoPermissionDenied):
        code, message, details = "permission_denied", "You do not have permission to do this.", {}
    elif isinstance(exc, drf_exceptions.ValidationError):
        code, message, details = "validation_error", "Invalid input.", _validation_details(exc.detail)
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
        detail = getattr(exc, "detail", None)
        if isinstance(detail, dict):
            # simplejwt's InvalidToken carries {"detail", "code", "messages"}
            message = str(detail.get("detail", "Request failed."))
            code = str(detail["code"]) if "code" in detail else code
            details = {k: v for k, v in detail.items() if k not in {"detail", "code"}}
        else:
            message = str(detail) if detail is not None else "Request failed."
            details = {}
        if code is None:
            codes = exc.get_codes() if isinstance(exc, drf_exceptions.APIException) else "error"
            code = codes if isinstance(codes, str) else "error"
        if isinstance(exc, drf_exceptions.Throttled):
            details = {"retry_after_s": exc.wait}
        if isinstance(exc, drf_exceptions.NotAuthenticated):
            message, details = _what_to_send(context)
    response.data = error_body(code, message, details)
    return response


def _what_to_send(context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A 401 without credentials says which credentials this endpoint takes, and notices the other kind."""
    request, view = context.get("request"), context.get("view")
    header = request.META.get("HTTP_AUTHORIZATION", "") if request is not None else ""
    scheme = header.partition(" ")[0].lower()
    if getattr(view, "takes_device_key", False):
        message = "This endpoint takes a device key: send `Authorization: Device <key>`."
        if scheme == "bearer":
            message += " A user's access token is not accepted here."
        return message, {"expected_authorization": "Device <key>"}
    message = "This endpoint takes a user's access token: send `Authorization: Bearer <access>` (from POST " \
              "/api/v1/auth/login)."
    if scheme == "device":
        message += " Device keys are accepted only on the device endpoints."
    return message, {"expected_authorization": "Bearer <access>"}


class InvalidCursor(DomainError):
    status_code = 400
    code = "invalid_cursor"
    default_message = "The cursor is not valid; use the `next` or `previous` link of a previous page."


MAX_CURSOR_CHARS = 512


def _cursor_well_formed(raw: str) -> bool:
    """Strict base64 of a query string with only DRF's cursor keys (o=offset, r=reverse, p=position)."""
    if len(raw) > MAX_CURSOR_CHARS or not raw.isascii():
        return False
    try:
        decoded = base64.b64decode(raw, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return False
    tokens = parse.parse_qs(decoded, keep_blank_values=True)
    return bool(tokens) and set(tokens) <= {"o", "r", "p"} and all(len(v) == 1 for v in tokens.values())


class DefaultCursorPagination(CursorPagination):
    """Cursor pagination (stable under inserts, no COUNT(*)); newest first by default.

    A cursor that does not decode, or whose position is not a valid value of the ordering field (a forged
    `p=1e999`, a 40-digit id, a non-date), is a 400 `invalid_cursor`, checked before any query runs. A
    `limit` that is not a positive integer falls back to the default page size; above `max_page_size` it is
    capped (DRF's behaviour)."""

    ordering = "-pk"
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        self._model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        raw = request.query_params.get(self.cursor_query_param)
        if raw is not None and not _cursor_well_formed(raw):
            raise InvalidCursor()
        try:
            cursor = super().decode_cursor(request)
        except drf_exceptions.NotFound:
            raise InvalidCursor() from None
        if cursor is not None and cursor.position is not None and not self._position_valid(cursor.position):
            raise InvalidCursor()
        return cursor

    def _position_valid(self, position: str) -> bool:
        ordering = self.ordering[0] if isinstance(self.ordering, (list, tuple)) else self.ordering
        name = ordering.lstrip("-")
        model = getattr(self, "_model", None)
        if model is None or "__" in name:
            return len(position) <= 200
        try:
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
            value = field.to_python(position)
        except (FieldDoesNotExist, DjangoValidationError, ValueError, TypeError, OverflowError):
            return False
        if isinstance(value, int) and not isinstance(value, bool):
            return -_INT64 <= value < _INT64
        return value is not None


def validated(serializer_class: type[serializers.Serializer], data: Any, *, context: dict | None = None) -> dict:
    """`serializer_class`'s validated data of `data` (a request body, or `request.query_params.dict()`: a plain
    dict, so a missing boolean stays None instead of HTML-form False); invalid is a 400 `validation_error`."""
    serializer = serializer_class(data=data, context=context or {})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def paginated(child: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The cursor-page envelope of `child` items, for the schema of views that paginate by hand (and of the
    bounded lists that come as one page)."""
    return type(name, (serializers.Serializer,), {
        "next": serializers.URLField(allow_null=True, help_text="The next page, or null"),
        "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null"),
        "results": child(many=True),
    })


def cursor_page(view: Any, request: Any, queryset: Any, serializer_class: type[serializers.Serializer], *,
                ordering: str | tuple[str, ...] | None = None, context: dict | None = None,
                filterset_class: Any = None) -> Response:
    """One cursor page of `queryset` (`?cursor=&limit=`), rendered with `serializer_class`; `ordering` (model
    fields of the row itself, the first one decides the cursor's position) defaults to newest first.

    `filterset_class` (a django-filter `FilterSet`) narrows the queryset by the query parameters first; invalid
    values are a 400 `validation_error` with per-field details. Declare it on the view as well
    (`filterset_class = ...`, with `pagination_class = DefaultCursorPagination` and
    `responses={200: Serializer(many=True)}`): the schema then lists the filters, `cursor` and `limit` and the
    `Paginated<X>List` envelope, as for a generic list view (`superapp.schema.AutoSchema`)."""
    if filterset_class is not None:
        filterset = filterset_class(request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            from django_filters.utils import translate_validation

            raise translate_validation(filterset.errors)  # as DRF's DjangoFilterBackend
        queryset = filterset.qs
    paginator = DefaultCursorPagination()
    if ordering is not None:
        paginator.ordering = ordering
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(
        serializer_class(page, many=True, context={"request": request, "view": view, **(context or {})}).data)


def page_with(page: Response, extra: dict) -> Response:
    """A cursor page (`cursor_page`) that carries more about the whole list beside its items (a merchant's
    reviews with its rating): `{"next", "previous", **extra, "results"}`."""
    data = page.data
    page.data = {"next": data["next"], "previous": data["previous"], **extra, "results": data["results"]}
    return page


# Every list is a cursor page `{"next", "previous", "results"}`. A list whose length is bounded by its own
# nature (the nearest N, one row per day of a range of at most a year, the currencies one holds...) comes
# as that same envelope with `next` and `previous` always null, and says why in the schema:
# `extend_schema(extensions=bounded_list("..."))`. tests/superapp/test_schema_lists.py holds every list
# operation to this rule.
BOUNDED_LIST_EXTENSION = "x-bounded-list"


def bounded_list(reason: str) -> dict[str, str]:
    return {BOUNDED_LIST_EXTENSION: reason}


def single_page(results: list) -> Response:
    """A bounded list in the cursor-page envelope: there is never a next or previous page."""
    return Response({"next": None, "previous": None, "results": results})


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable error code, e.g. `insufficient_funds`.")
    message = serializers.CharField(help_text="Human-readable explanation for the developer.")
    details = serializers.DictField(help_text="Per-field errors or extra context.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# For views that paginate by hand (an APIView calling `DefaultCursorPagination` itself): drf-spectacular only
# adds the paginator's query parameters to generic list views, so these say so in `extend_schema(parameters=...)`.
CURSOR_PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The pagination cursor value (from a page's `next` or `previous`)."),
    OpenApiParameter("limit", int, description="Number of results to return per page (default 20; values above "
                                               "100 are capped at 100)."),
]

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=True,
    description=(
        "A unique key per logical operation (e.g. a UUID). A retry with the same key and body returns the "
        "first response without executing again; the same key with another body is a 422 "
        "`idempotency_key_reused`; keys expire after 24 h."
    ),
)


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: document the error shape on every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "object", "additionalProperties": {}},
                },
            }
        },
    }
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status_code, description in (
                ("400", "Invalid input"),
                ("401", "Not authenticated"),
                ("403", "Not allowed"),
                ("404", "Not found"),
                ("405", "Method not allowed"),
                ("406", "Not acceptable"),
                ("409", "Conflict"),
                ("415", "Unsupported media type"),
                ("422", "Unprocessable (e.g. Idempotency-Key reused)"),
                ("429", "Rate limited; see Retry-After"),
                ("500", "Server error (a bug)"),
            ):
                responses.setdefault(status_code, {"description": description,
                                                   "content": {"application/json": {"schema": ref}}})
    return result


class PreparedFieldsMixin:
    # For serializers on a hot path (a wallet payment's request and receipt). DRF builds every field of a
    # serializer for every instance, deep-copying each declared field and, for a ModelSerializer, reading the
    # model again: about half a millisecond per receipt. With this mixin a class builds its unbound fields
    # once, and each instance binds its own shallow copies (nested serializers are deep-copied, as DRF does).
    # Only for serializers whose fields do not depend on the instance or context. (A comment, not a
    # docstring: the schema would show a docstring as the description of every serializer using it.)

    def get_fields(self):
        cls = type(self)
        prepared = cls.__dict__.get("_prepared_fields")
        if prepared is None:
            prepared = super().get_fields()
            cls._prepared_fields = prepared  # a race builds the same fields twice; either copy is right
        return {name: _fresh_field(field) for name, field in prepared.items()}


def _fresh_field(field: serializers.Field) -> serializers.Field:
    if isinstance(field, serializers.BaseSerializer):
        return copy.deepcopy(field)
    clone = object.__new__(type(field))
    clone.__dict__ = field.__dict__.copy()  # unbound: bind() sets this copy's parent and names only
    return clone


class AmountField(serializers.CharField):
    """Money input: a decimal string in major units. A JSON number is refused (floats lose cents and the
    schema says string); the text itself is parsed and bounded by `superapp.money.parse_amount_text`
    where the currency is known (`Money.from_decimal`)."""

    default_error_messages = {
        "not_a_string": 'Amounts are decimal strings in major units, e.g. "12.34"; a JSON number is not accepted.',
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("help_text", 'Decimal string in major units, e.g. "12.34" (at most the currency\'s '
                                       "decimals; no exponent; at most 12 digits before the point).")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class MoneySerializer(serializers.Serializer):
    """Money in every API response: a decimal string in major units (never a float) and its ISO 4217 code."""

    amount = serializers.CharField(help_text='Decimal string in major units, e.g. "12.34".')
    currency = serializers.CharField()

    @staticmethod
    def of(amount: int, currency: str) -> dict:
        """Minor units -> the API shape."""
        return {"amount": Money(amount, currency).decimal_string(), "currency": currency}
