"""The OpenAPI schema tells the truth about the services' hand-paginated lists."""

from drf_spectacular.generators import SchemaGenerator

from superapp.api import BOUNDED_LIST_EXTENSION


def test_every_paginated_list_declares_its_cursor_and_limit_parameters():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paginated = {}
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if not get:
            continue
        ref = get["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if "Paginated" in ref.get("$ref", "") and BOUNDED_LIST_EXTENSION not in get:
            paginated[path] = {parameter["name"] for parameter in get.get("parameters", [])}
    assert "/api/v1/bills" in paginated and "/api/v1/merchants" in paginated
    missing = sorted(path for path, names in paginated.items() if not {"cursor", "limit"} <= names)
    assert missing == []
