"""The schema holds the API to its conventions (docs/CONVENTIONS.md, "One API, one way"):

- every list a GET returns is a cursor page `{"next", "previous", "results"}` that takes `cursor` and `limit`,
  or a bounded list in the same envelope whose operation says why in `x-bounded-list`;
- a write never answers a cursor page, and a create (201) answers the created object;
- money input is a decimal string, never a JSON number.

The declared shapes are held to what the views return by `tests.schema_conformance.assert_conforms` in the
apps' API tests and by schemathesis in CI.
"""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from superapp.api import BOUNDED_LIST_EXTENSION

METHODS = ("get", "post", "put", "patch", "delete")
# Request fields that carry an amount of money. `price_level`, `*_id` and the like are not money.
MONEY_NAME = re.compile(r"^(amount|tip|total|price|fee|discount|fixed_off|min_spend|max_discount|budget|fare|"
                        r"balance|gross|net)$|_(amount|price|fee|total)$")


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _json_schema(schema: dict, content: dict | None) -> dict | None:
    body = (content or {}).get("application/json")
    return _resolve(schema, body["schema"]) if body and "schema" in body else None


def list_problems(schema: dict) -> list[str]:
    problems = []
    for path, method, operation in _operations(schema):
        if method != "get":
            continue
        body = _json_schema(schema, operation.get("responses", {}).get("200", {}).get("content"))
        if body is None:
            continue
        where = f"GET {path}"
        if body.get("type") == "array":
            problems.append(f"{where} answers a bare array: make it a cursor page (or a documented bounded list)")
            continue
        properties = body.get("properties", {})
        if "results" not in properties:
            continue  # one object, not a list
        if _resolve(schema, properties["results"]).get("type") != "array":
            problems.append(f"{where}: `results` is not an array")
        query = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        reason = operation.get(BOUNDED_LIST_EXTENSION)
        if reason is not None:  # one page: `next`/`previous` may be there (always null) or not
            if not str(reason).strip():
                problems.append(f"{where}: a bounded list must say why it is bounded")
            continue
        if not {"next", "previous"} <= set(properties):
            problems.append(f"{where}: a cursor page is {{next, previous, results: [...]}}, found {sorted(properties)}")
        if not {"cursor", "limit"} <= query:
            problems.append(f"{where}: a cursor page takes `cursor` and `limit` (or say `{BOUNDED_LIST_EXTENSION}`)")
    return problems


def write_problems(schema: dict) -> list[str]:
    """A write (POST/PUT/PATCH/DELETE) has nothing to page through: its success answer is never a cursor page,
    and a 201 answers the created object (one JSON object), never a bare array."""
    problems = []
    for path, method, operation in _operations(schema):
        if method == "get":
            continue
        where = f"{method.upper()} {path}"
        for code, response in operation.get("responses", {}).items():
            if not str(code).startswith("2"):
                continue
            body = _json_schema(schema, response.get("content"))
            if body is None:
                continue
            if "results" in body.get("properties", {}) or {"next", "previous"} & set(body.get("properties", {})):
                problems.append(f"{where} {code} is declared as a cursor page: a write answers what it wrote")
            elif code == "201" and body.get("type") != "object":
                problems.append(f"{where} 201 answers a {body.get('type')}: a create answers the created object")
    return problems


def money_problems(schema: dict) -> list[str]:
    problems: list[str] = []

    def walk(node: dict, where: str, seen: frozenset) -> None:
        ref = node.get("$ref")
        if ref in seen:
            return
        seen = seen | {ref} if ref else seen
        node = _resolve(schema, node)
        for key in ("allOf", "oneOf", "anyOf"):
            for child in node.get(key, []):
                walk(child, where, seen)
        properties = node.get("properties", {})
        for name, prop in properties.items():
            resolved = _resolve(schema, prop)
            is_money = MONEY_NAME.search(name) or (name == "amount" and "currency" in properties)
            if is_money and resolved.get("type") in ("number", "integer"):
                problems.append(f"{where}.{name} is a money input declared as a {resolved['type']}: "
                                "take a decimal string")
            walk(prop, f"{where}.{name}", seen)
        if "items" in node:
            walk(node["items"], f"{where}[]", seen)

    for path, method, operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            if MONEY_NAME.search(parameter["name"]) and parameter.get("schema", {}).get("type") in ("number",
                                                                                                   "integer"):
                problems.append(f"{method.upper()} {path} ?{parameter['name']} is money declared as a number")
        body = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
        if body and "schema" in body:
            walk(body["schema"], f"{method.upper()} {path} body", frozenset())
    return problems


def test_every_list_is_a_cursor_page_or_a_documented_bounded_list(schema):
    assert list_problems(schema) == []


def test_no_write_answers_a_page_and_every_create_answers_an_object(schema):
    assert write_problems(schema) == []


def test_no_money_input_is_a_json_number(schema):
    assert money_problems(schema) == []


def test_the_bounded_lists_are_few_and_say_why(schema):
    bounded = {f"GET {path}": operation[BOUNDED_LIST_EXTENSION] for path, method, operation in _operations(schema)
               if method == "get" and BOUNDED_LIST_EXTENSION in operation}
    assert set(bounded) == {"GET /api/v1/categories", "GET /api/v1/merchants/nearby",
                            "GET /api/v1/wallet/merchants/{merchant_id}/settlements", "GET /api/v1/recommendations",
                            "GET /api/v1/merchants/{merchant_id}/similar"}
    assert all(len(reason) > 20 for reason in bounded.values())


# The checks themselves can fail: they are run on schemas that break each rule.
def _schema_with(get_200: dict | None = None, request_body: dict | None = None, parameters=None,
                 extensions: dict | None = None) -> dict:
    operation: dict = {"parameters": parameters or [], "responses": {}, **(extensions or {})}
    if get_200 is not None:
        operation["responses"]["200"] = {"content": {"application/json": {"schema": get_200}}}
    method = "get" if request_body is None else "post"
    if request_body is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": request_body}}}
    return {"paths": {"/api/v1/things": {method: operation}},
            "components": {"schemas": {"Money": {"type": "object", "properties": {
                "amount": {"type": "number"}, "currency": {"type": "string"}}}}}}


PAGE = {"type": "object", "properties": {"next": {"type": "string"}, "previous": {"type": "string"},
                                         "results": {"type": "array", "items": {}}}}
CURSOR = [{"name": "cursor", "in": "query"}, {"name": "limit", "in": "query"}]


def test_list_check_catches_a_bare_array_an_uncursored_page_and_a_silent_bounded_list():
    assert list_problems(_schema_with({"type": "array", "items": {}}, parameters=CURSOR))
    assert list_problems(_schema_with(PAGE))  # no cursor parameter, no reason
    assert list_problems(_schema_with(PAGE, extensions={BOUNDED_LIST_EXTENSION: " "}))
    assert list_problems(_schema_with({"type": "object", "properties": {"results": {"type": "array"}}},
                                      parameters=CURSOR))
    assert list_problems(_schema_with(PAGE, parameters=CURSOR)) == []
    assert list_problems(_schema_with(PAGE, extensions={BOUNDED_LIST_EXTENSION: "one per day of a month"})) == []


def test_write_check_catches_a_page_or_an_array_from_a_create():
    def post_answering(code: str, body: dict) -> dict:
        return {"paths": {"/api/v1/things": {"post": {"responses": {
            code: {"content": {"application/json": {"schema": body}}}}}}}, "components": {"schemas": {
                "PaginatedThingList": PAGE}}}

    assert write_problems(post_answering("201", {"$ref": "#/components/schemas/PaginatedThingList"}))
    assert write_problems(post_answering("200", PAGE))
    assert write_problems(post_answering("201", {"type": "array", "items": {}}))
    assert write_problems(post_answering("201", {"type": "object", "properties": {"id": {"type": "integer"}}})) == []
    assert write_problems(post_answering("200", {"type": "array", "items": {}})) == []  # e.g. a week's hours


def test_money_check_catches_numbers_by_name_nested_and_in_query():
    assert money_problems(_schema_with(request_body={"type": "object", "properties": {"tip": {"type": "number"}}}))
    assert money_problems(_schema_with(request_body={"type": "object", "properties": {
        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Money"}}}}))
    assert money_problems(_schema_with(parameters=[{"name": "min_price", "in": "query",
                                                    "schema": {"type": "number"}}], get_200=PAGE))
    assert money_problems(_schema_with(request_body={"type": "object", "properties": {
        "amount": {"type": "string"}, "price_level": {"type": "integer"}, "merchant_id": {"type": "integer"}}})) == []


@pytest.mark.django_db
def test_the_suite_checks_every_answers_shape_against_the_schema(auth_client):
    """`tests/conftest.py` runs `declared_shape_problem` on every APIClient answer; here it is shown to fail."""
    import json

    from tests.schema_conformance import declared_shape_problem

    page = auth_client.get("/api/v1/trips")
    assert page.status_code == 200 and declared_shape_problem(page) is None
    page.content = json.dumps(page.json()["results"]).encode()  # a page's operation answering a bare array
    assert "declares a page" in declared_shape_problem(page)
    created = auth_client.post("/api/v1/trips", {"destination": "davos", "starts_on": "2030-01-01",
                                                 "ends_on": "2030-01-02"}, format="json")
    assert created.status_code == 201 and declared_shape_problem(created) is None
    created.content = b"[]"  # a create answering an array where the schema says one object
    assert "declares an object" in declared_shape_problem(created)
