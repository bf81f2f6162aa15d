"""Request ids and the API error shape for errors Django raises outside DRF."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from superapp.api import error_body, request_error
from superapp.db import RETRY_AFTER_S, database_unavailable
from superapp.request_id import request_id_var

logger = logging.getLogger(__name__)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Echo the client's X-Request-ID (if sane) or mint one; it is on the response and in every log line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


def database_unavailable_json(exception: Exception) -> HttpResponse | None:
    """A database outage outside DRF views (middleware, plain Django views): 503 + Retry-After, not 500."""
    if not database_unavailable(exception):
        return None
    logger.warning("database unavailable: %s", exception)
    response = JsonResponse(error_body("service_unavailable", "The database is unavailable; retry shortly.",
                                       {"retry_after_s": RETRY_AFTER_S}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


class ApiErrorMiddleware:
    """Django's own 404/500 pages become the JSON error shape under /api/."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not _is_api(request) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 404:
            return JsonResponse(error_body("not_found", "No such endpoint or object."), status=404)
        if response.status_code == 405:
            return JsonResponse(error_body("method_not_allowed", "Method not allowed."), status=405)
        if response.status_code == 400:
            return JsonResponse(error_body("bad_request", "Bad request."), status=400)
        if response.status_code == 413:
            return JsonResponse(error_body("request_too_large", "The request body is too large."), status=413)
        if response.status_code >= 500:
            return JsonResponse(error_body("server_error", "Internal server error."), status=response.status_code)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_api(request):
            return None
        refused = request_error(exception)
        if refused is not None:  # the client's fault (body too big, too many fields): keep the 4xx
            return JsonResponse(error_body(refused[1], refused[2]), status=refused[0])
        unavailable = database_unavailable_json(exception)
        if unavailable is not None:
            return unavailable
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return JsonResponse(
            error_body("server_error", "Internal server error.", {"request_id": getattr(request, "request_id", "")}),
            status=500,
        )


class BodySizeLimitMiddleware:
    """Refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE with 413 from its Content-Length, before anything
    reads it. Django enforces that limit only when it reads `request.body`/`request.POST` itself; DRF's
    parsers (JSON, the devices' orjson) read the stream directly and would take any size."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django treats an unparsable length as no body
        if limit is not None and length > limit:
            return JsonResponse(error_body("request_too_large", f"The request body is larger than {limit} bytes.",
                                           {"max_bytes": limit}), status=413)
        return self.get_response(request)
