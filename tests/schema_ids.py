"""Real ids for the path parameters of the OpenAPI schema, found in a user's own list pages.

One resolver for the schema-generated security walk (`tests/superapp/test_security_schema.py`) and the CI
schemathesis step (`tests/schemathesis_hooks.py`), so both call operations with path parameters on objects
that exist instead of on guessed ids that only ever reach a 404. Plain Python: no Django needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

API = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")
# Parameters named after the user's things wherever they appear (`/wallet/merchants/{merchant_id}/...`).
PARAMETER_SOURCES = {"merchant_id": "/api/v1/me/merchants"}


def path_params(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items()
            if method in METHODS]


def list_paths(schema: dict) -> list[str]:
    """GET operations without path parameters: the lists a user can start from."""
    return [path for method, path, _ in operations(schema) if method == "get" and not path_params(path)]


def item_values(body, key: str = "id") -> list:
    """`key` of each item of a list page (or a bare list); a saved-merchant item gives its merchant's id."""
    items = body.get("results") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return []
    values = []
    for item in items:
        if isinstance(item, dict):
            value = item.get(key)
            if value is None and key == "id" and isinstance(item.get("merchant"), dict):
                value = item["merchant"].get("id")  # saved merchants list the merchant
            if isinstance(value, int | str) and not isinstance(value, bool):
                values.append(value)
    return values


def source_list(path: str, lists: set[str] | list[str]) -> str | None:
    """The list whose ids fill `path`'s first parameter: the user's `/me/...` list if there is one, else the
    list at the path's prefix (`/posts/{post_id}/like` -> `/posts`)."""
    prefix = path.split("/{", 1)[0]
    lists = set(lists)
    mine = API + "/me" + prefix[len(API):]
    for candidate in (mine, prefix):
        if candidate in lists:
            return candidate
    return None


def real_path_values(schema: dict, get_json: Callable[[str], object], *, user_id: int) -> dict[str, dict[str, list]]:
    """{path template: {parameter: real values, first page}} for every templated path of `schema` whose parameters
    could all be found. The first parameter comes from `source_list` (or PARAMETER_SOURCES; `user_id` is the
    user's own id); each later one from the list at the path up to it, with the first value of the earlier ones
    filled in (`/wallet/merchants/7/payments` for `{payment_id}`). `get_json(url)` returns a body or None."""
    lists = list_paths(schema)
    get_paths = {path for method, path, _ in operations(schema) if method == "get"}
    cache: dict[str, list] = {}

    def values_at(url: str, key: str) -> list:
        if (url, key) not in cache:
            cache[url, key] = item_values(get_json(url) or {}, key)
        return cache[url, key]

    found: dict[str, dict] = {}
    for path in dict.fromkeys(path for _, path, _ in operations(schema) if path_params(path)):
        values: dict[str, list] = {}
        for index, name in enumerate(path_params(path)):
            key = "slug" if name.endswith("_slug") else "id"
            if name == "user_id":
                values[name] = [user_id]
                continue
            if index == 0:
                source = source_list(path, lists) or PARAMETER_SOURCES.get(name)
            else:
                template = path.split("/{" + name + "}", 1)[0]
                source = template.format(**{k: v[0] for k, v in values.items()}) if template in get_paths else None
            candidates = values_at(source, key) if source else []
            if not candidates and name in PARAMETER_SOURCES and source != PARAMETER_SOURCES[name]:
                candidates = values_at(PARAMETER_SOURCES[name], key)
            if not candidates:
                break
            values[name] = candidates
        else:
            found[path] = values
    return found
