"""Validate a test-client response against the served OpenAPI schema.

The same check the CI gate's schemathesis step runs (`response_schema_conformance`), so a serializer that
promises more than it delivers (a "uri" that can be "", an object that can be null) fails a cheap unit test
instead of a six-minute fuzzing run.

`declared_shape_problem` is the cheap half of it (array, cursor page or object, as declared), which the whole
suite applies to every APIClient answer: a create that answers an array where the schema says page fails the
test that made it.
"""

from __future__ import annotations

import functools
import json
import re

import requests
import schemathesis
from schemathesis.core.transport import Response


@functools.cache
def schema_document() -> dict:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


@functools.cache
def openapi_schema():
    return schemathesis.openapi.from_dict(schema_document())


def _schema_shape(node: dict) -> str:
    components = schema_document()["components"]["schemas"]
    while "$ref" in node:
        node = components[node["$ref"].rsplit("/", 1)[-1]]
    if node.get("type") == "array":
        return "array"
    return "page" if "results" in node.get("properties", {}) else "object"


def _body_shape(body) -> str:
    if isinstance(body, list):
        return "array"
    if isinstance(body, dict):
        return "page" if isinstance(body.get("results"), list) else "object"  # bounded lists: no `next`
    return type(body).__name__


@functools.cache
def _declared_shapes() -> dict[tuple[str, str, str], str]:
    """(METHOD, path template, status) -> "array" | "page" | "object" for every JSON success response."""
    shapes = {}
    for path, item in schema_document()["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items() if isinstance(operation, dict) else ():
                body = (response.get("content") or {}).get("application/json")
                if str(status).startswith("2") and body and "schema" in body:
                    shapes[(method.upper(), path, str(status))] = _schema_shape(body["schema"])
    return shapes


def declared_shape_problem(response) -> str | None:
    """Whether a test-client answer from /api/v1/ has the top-level shape (a bare array, a cursor page or one
    object) that the schema declares for its operation and status; None when it has, or nothing is declared.
    Cheap (no JSON Schema validation), so `tests/conftest.py` runs it on every APIClient answer of the suite."""
    from django.urls import Resolver404, resolve

    request = response.wsgi_request
    if (not request.path.startswith("/api/v1/") or not 200 <= response.status_code < 300
            or "json" not in response.get("Content-Type", "") or not response.content):
        return None
    try:
        route = resolve(request.path).route
    except Resolver404:
        return None
    template = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    declared = _declared_shapes().get((request.method, template, str(response.status_code)))
    if declared is None:
        return None
    returned = _body_shape(json.loads(response.content))
    if returned == declared:
        return None
    def a(shape: str) -> str:
        return f"{'an' if shape[0] in 'aeiou' else 'a'} {shape}"

    return (f"{request.method} {template} answered {response.status_code} with {a(returned)} where the schema "
            f"declares {a(declared)}")


def assert_conforms(response, method: str, path: str) -> dict:
    """`path` is the schema's template, e.g. "/api/v1/posts/{post_id}". Returns the decoded body."""
    request = response.wsgi_request
    prepared = requests.Request(method.upper(), request.build_absolute_uri()).prepare()
    wrapped = Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=prepared,
        elapsed=0.0,
        verify=False,
    )
    openapi_schema()[path][method.upper()].validate_response(wrapped)
    return response.json() if response.content else {}
