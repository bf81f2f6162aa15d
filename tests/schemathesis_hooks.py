"""schemathesis hooks for the CI step (`.ci/schemathesis`, loaded with SCHEMATHESIS_HOOKS=tests.schemathesis_hooks).

Real ids: an operation with path parameters called on guessed ids only ever reaches its 404. Before the first
case, the ids of the demo user's own objects are read from their list pages (`tests.schema_ids`, the resolver the
security walk uses), and every case that is meant to be valid in its path (positive cases, and negative cases
whose violation is in the query, headers or body) gets them, so the operation's real code runs. Negative cases
aimed at a path parameter keep their hostile value: those must still be refused cleanly.

Every response is also logged (method, path template, status) to SCHEMATHESIS_RESPONSES, a JSON-lines file from
which `.ci/schemathesis` counts the operations with path parameters that got past a 404.

Environment: SCHEMATHESIS_BASE_URL (the server), SCHEMATHESIS_TOKEN (the user's access token),
SCHEMATHESIS_RESPONSES (where to log).

`ast.parse` is serialised across schemathesis's worker threads: CPython 3.11.7's conversion of a parse tree to
Python objects keeps its recursion depth in state the threads share, so two concurrent parses can fail with
"SystemError: AST constructor recursion depth mismatch" (CPython gh-106905). Hypothesis parses the source of the
lambdas schemathesis filters its strategies with (to describe them), and CI's run once crashed in the coverage
phase of `GET /api/v1/appointments` that way: a tool error, not an answer of the API.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import threading

import requests
import schemathesis

from tests.schema_ids import real_path_values

_lock = threading.Lock()
_ast_parse, _ast_lock = ast.parse, threading.Lock()


def _ast_parse_serialised(*args, **kwargs):
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _ast_parse_serialised


def _get_json(url: str):
    try:
        response = requests.get(os.environ["SCHEMATHESIS_BASE_URL"] + url, timeout=30, headers={
            "Authorization": f"Bearer {os.environ['SCHEMATHESIS_TOKEN']}", "Accept": "application/json"})
        return response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None


@functools.cache
def real_ids() -> dict[str, dict]:
    schema = _get_json("/api/schema/?format=json")
    me = _get_json("/api/v1/me") or {}
    return real_path_values(schema, _get_json, user_id=me["id"])


def _path_may_be_real(case) -> bool:
    meta = case.meta
    if meta is None or meta.generation.mode == "positive":
        return True
    location = getattr(meta.phase.data, "parameter_location", None)
    return location is not None and location != "path"  # a negative case aimed elsewhere


@schemathesis.hook
def map_case(context, case):
    values = real_ids().get(case.operation.path)
    if values and _path_may_be_real(case):
        # A DELETE takes the last id of the page and everything else the first, so that deleting the object
        # early in the run does not leave the other operations on it with only 404s.
        pick = -1 if case.operation.method.upper() == "DELETE" else 0
        case.path_parameters = {**(case.path_parameters or {}), **{k: str(v[pick]) for k, v in values.items()}}
    return case


@schemathesis.hook
def after_call(context, case, response):
    # `sent` differs from `method` in the coverage phase's unexpected-method cases (405): they do not count.
    line = json.dumps({"method": case.operation.method.upper(), "sent": case.method.upper(),
                       "path": case.operation.path, "status": response.status_code})
    with _lock, open(os.environ["SCHEMATHESIS_RESPONSES"], "a") as log:
        log.write(line + "\n")
