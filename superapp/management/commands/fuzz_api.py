"""Hostile-value fuzz of every operation of the OpenAPI schema, in-process (issue #14).

Each operation gets, one at a time, hostile values in each path parameter, each query parameter and each
top-level body field (huge numbers, exponents, 40-digit ids, unicode digits, underscores, nulls, wrong types,
long strings), plus whole-body attacks (JSON nested 1,000 deep, a 3 MB body, a bare JSON number). It runs
as a real user with a JWT, inside one transaction that is rolled back, so the database is left as it was.

Passes when no response is a 5xx and no refusal (4xx) took more than --max-refusal-ms (default 100 ms).
Prints progress lines, then one JSON object as the last line:
  {"requests", "server_errors", "refusals", "refusal_p50_ms", "refusal_p99_ms", "refusal_max_ms",
   "slowest", "ok"}

  manage.py fuzz_api [--username alice] [--include REGEX] [--max-refusal-ms 100]
"""

from __future__ import annotations

import json
import re
import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import RequestFactory

METHODS = ("get", "post", "put", "patch", "delete")
HOSTILE = ["1e999999", "9" * 40, 10**30, 1e308, -1, 0, "١٠", "1_0", None, True, [], {"a": {"b": [1]}},
           "x" * 5000, "' OR 1=1 --", "\u0000", "NaN", "-0"]
PATH_HOSTILE = ["9" * 40, "1e999", "١٠", "-1", "0", "%00", "x" * 300]


class _Rollback(Exception):
    pass


def _resolve(schema: dict, node: dict | None) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node or {}


class Command(BaseCommand):
    help = "Fuzz every API operation with hostile values; print one JSON line (5xx count, refusal latency)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="alice")
        parser.add_argument("--include", default="", help="only paths matching this regex")
        parser.add_argument("--max-refusal-ms", type=float, default=100.0)

    def handle(self, *args, **options):
        from drf_spectacular.generators import SchemaGenerator
        from drf_spectacular.renderers import OpenApiJsonRenderer

        from superapp.accounts.models import User
        from superapp.accounts.services import tokens_for_user

        schema = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}: run seed_demo first, or pass --username.")
        # Requests go through the production WSGI application, as in a gunicorn worker: importing superapp.wsgi
        # loads the middleware and warms the process (URLconf, DRF classes, start-up heap frozen out of the GC).
        # Not Django's test Client: it re-connects signal receivers on every request, and the weakref finalizers
        # that leaves behind make full garbage collections ever slower, which no server process has.
        from superapp.wsgi import application

        factory = RequestFactory(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user)['access']}")
        include = re.compile(options["include"]) if options["include"] else None
        results: list[tuple[str, int, float]] = []

        def send(method: str, url: str, *, body=None, raw: str | None = None, label: str) -> None:
            data = raw if raw is not None else ("" if method in ("get", "delete") else json.dumps(body or {}))
            request = factory.generic(method.upper(), url, data=data, content_type="application/json",
                                      HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
            # A fresh WSGI environ: PATH_INFO as a server passes it (PEP 3333: the raw bytes as latin-1).
            environ = {**request.environ, "PATH_INFO": request.path_info.encode().decode("iso-8859-1")}
            status: list[str] = []
            savepoint = transaction.savepoint()  # each request on its own, as with a request per transaction
            started = time.perf_counter()
            try:
                response = application(environ, lambda line, headers, exc_info=None: status.append(line))
                b"".join(response)
                response.close()  # request_finished, as the WSGI server does
            finally:
                transaction.savepoint_rollback(savepoint)
            elapsed_ms = (time.perf_counter() - started) * 1e3
            results.append((f"{method.upper()} {label}", int(status[0].split()[0]), elapsed_ms))

        operations = [(m, p, op) for p, item in schema["paths"].items() for m, op in item.items()
                      if m in METHODS and (include is None or include.search(p))]
        started = time.perf_counter()
        # The whole run is one transaction rolled back at the end: the server's "close the connection at the end
        # of a request" receiver would end it, so it is off for the run (as Django's test client does).
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            with transaction.atomic():
                for index, (method, path, op) in enumerate(operations, 1):
                    self._fuzz_operation(schema, method, path, op, send)
                    if index % 20 == 0 or index == len(operations):
                        self.stderr.write(f"  {index}/{len(operations)} operations, {len(results)} requests, "
                                          f"{time.perf_counter() - started:.0f}s")
                raise _Rollback
        except _Rollback:
            pass
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

        errors = [r for r in results if r[1] >= 500]
        refusals = sorted(r[2] for r in results if 400 <= r[1] < 500)
        slowest = sorted((r for r in results if 400 <= r[1] < 500), key=lambda r: -r[2])[:5]

        def pct(q: float) -> float:
            return round(refusals[min(len(refusals) - 1, int(q * len(refusals)))], 2) if refusals else 0.0

        for label, status, ms in errors[:20]:
            self.stderr.write(f"  5xx: {label} -> {status} ({ms:.0f} ms)")
        summary = {
            "operations": len(operations), "requests": len(results), "server_errors": len(errors),
            "refusals": len(refusals), "refusal_p50_ms": pct(0.5), "refusal_p99_ms": pct(0.99),
            "refusal_max_ms": round(refusals[-1], 2) if refusals else 0.0,
            "slowest": [f"{label} {status} {ms:.0f}ms" for label, status, ms in slowest],
            "ok": not errors and (not refusals or refusals[-1] <= options["max_refusal_ms"]),
        }
        self.stdout.write(json.dumps(summary))

    def _fuzz_operation(self, schema, method, path, op, send) -> None:
        params = op.get("parameters", [])
        base = re.sub(r"{\w+}", "1", path)
        for name in re.findall(r"{(\w+)}", path):
            for value in PATH_HOSTILE:
                url = re.sub(r"{\w+}", "1", path.replace("{" + name + "}", value))
                send(method, url, label=f"{path} [{name}={value[:12]}]")
        for param in params:
            if param.get("in") != "query":
                continue
            for value in HOSTILE:
                text = value if isinstance(value, str) else json.dumps(value)
                query = f"{param['name']}={text[:5000]}"
                send(method, f"{base}?{query}", label=f"{path} [?{param['name']}]")
        if method == "get" or method == "delete":
            return
        content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        properties = _resolve(schema, content.get("schema")).get("properties", {})
        for field in properties:
            for value in HOSTILE:
                send(method, base, body={field: value}, label=f"{path} [{field}]")
        send(method, base, raw="[" * 1000 + "]" * 1000, label=f"{path} [deep nesting]")
        send(method, base, raw=json.dumps({"x": "y" * 3_000_000}), label=f"{path} [3 MB body]")
        send(method, base, raw="1e999999", label=f"{path} [bare number]")
