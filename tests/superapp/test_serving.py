"""How the API is served in production (gunicorn.conf.py): gevent workers, each with a small PostgreSQL connection
pool (settings `DB_POOL_SIZE`) whose check replaces a connection the server ended, without a round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from superapp import bench
from superapp.postgresql.base import DatabaseWrapper
from tests.postgres import backend_terminate

CONFIG = settings.BASE_DIR / "gunicorn.conf.py"


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("DB_POOL_SIZE", "GUNICORN_WORKER_CLASS")}
    run = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, cwd=settings.BASE_DIR,
                         capture_output=True, text=True, check=True, timeout=60)
    return run.stdout.strip().splitlines()[-1]


def test_the_gunicorn_config_serves_with_gevent_and_a_database_pool_and_imports_nothing_that_blocks():
    """The config runs in gunicorn's master before the gevent worker patches the standard library: it must not
    import Django, psycopg or the project (they would keep blocking sockets)."""
    fork = ("from types import SimpleNamespace as NS\n"
            "ns['pre_fork'](NS(cfg=NS(worker_class_str=ns['worker_class'])), None)\n")
    out = json.loads(_python(
        "import json, os, runpy, sys\n"
        f"ns = runpy.run_path({str(CONFIG)!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'psycopg', 'superapp', 'redis', 'gevent'))\n"
        f"{fork}"
        "print(json.dumps({'worker_class': ns['worker_class'], 'pool': os.environ.get('DB_POOL_SIZE'), "
        "'workers': ns['workers'], 'heavy': heavy}))"))
    assert out == {"worker_class": "gevent", "pool": "4", "workers": os.cpu_count(), "heavy": []}
    threaded = json.loads(_python(
        "import json, os, runpy\n"
        f"ns = runpy.run_path({str(CONFIG)!r})\n"
        f"{fork}"
        "print(json.dumps([ns['worker_class'], os.environ.get('DB_POOL_SIZE')]))", GUNICORN_WORKER_CLASS="gthread"))
    assert threaded == ["gthread", None]


def test_db_pool_size_turns_on_djangos_pool_without_persistent_connections():
    code = ("import json, django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'superapp.settings'; django.setup()\n"
            "from django.conf import settings; db = settings.DATABASES['default']\n"
            "print(json.dumps([db['CONN_MAX_AGE'], db['CONN_HEALTH_CHECKS'], db['OPTIONS'].get('pool')]))")
    url = "postgres://someone@127.0.0.1:5432/somedb"
    assert json.loads(_python(code, DATABASE_URL=url, DB_POOL_SIZE="3", DB_POOL_TIMEOUT_S="2.5")) == [
        0, False, {"min_size": 3, "max_size": 3, "timeout": 2.5}]
    assert json.loads(_python(code, DATABASE_URL=url))[2] is None  # threads: one persistent connection each


def _pooled_wrapper(alias: str) -> DatabaseWrapper:
    settings_dict = {**connection.settings_dict, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False,
                     "OPTIONS": {**connection.settings_dict["OPTIONS"],
                                 "pool": {"min_size": 1, "max_size": 1, "timeout": 3}}}
    return DatabaseWrapper(settings_dict, alias=alias)


def _backend_pid(wrapper: DatabaseWrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_the_server_ended_is_replaced_before_a_request_uses_it():
    """A PostgreSQL restart ends the connections sitting in the pool: the next request gets a new one, not an error
    (the check polls the idle socket; no query is sent)."""
    wrapper = _pooled_wrapper("pool_check_test")
    try:
        first = _backend_pid(wrapper)
        wrapper.close()  # back to the pool, as at the end of a request
        backend_terminate(first)
        assert _backend_pid(wrapper) != first
        wrapper.close()
    finally:
        wrapper.close_pool()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_the_check_the_request_would_fail_on_the_dead_connection():
    """What the check is for: Django's pool with no check hands out the connection the server ended."""
    from django.db.utils import OperationalError

    wrapper = _pooled_wrapper("pool_nocheck_test")
    try:
        first = _backend_pid(wrapper)
        wrapper.pool._check = None  # noqa: SLF001 - Django's own pool, as built with CONN_HEALTH_CHECKS off
        wrapper.close()
        backend_terminate(first)
        with pytest.raises(OperationalError):
            _backend_pid(wrapper)
    finally:
        wrapper.close()
        wrapper.close_pool()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_production_server_holds_its_database_connections_to_the_pool_however_many_clients():
    """32 concurrent clients on one gevent worker (one greenlet each) use at most DB_POOL_SIZE connections."""
    db = settings.DATABASES["default"]
    url = (f"postgres://{quote(db.get('USER') or 'postgres')}:{quote(db.get('PASSWORD') or '')}@"
           f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}")
    env = bench.server_env(DATABASE_URL=url, DB_POOL_SIZE="3")
    with bench.gunicorn_server(workers=1, env=env, timeout_s=120) as base_url:
        assert base_url.concurrency == "gevent" and base_url.workers == 1
        answers: list[int] = []

        def client() -> None:
            for _ in range(5):
                with urllib.request.urlopen(f"{base_url}/readyz", timeout=30) as response:  # noqa: S310
                    answers.append(response.status)

        clients = [threading.Thread(target=client) for _ in range(32)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
            server_connections = cursor.fetchone()[0]
    assert answers == [200] * 160
    assert 1 <= server_connections <= 3


def test_under_gevent_each_request_lets_the_workers_other_requests_run_first():
    """superapp.wsgi wraps the application with `taking_turns` in gevent workers: a keep-alive client whose next
    request is already waiting must not be served before the greenlets that were ready before it."""
    import gevent

    from superapp.warmup import taking_turns

    order: list[str] = []

    def app(environ, start_response):
        order.append("request")
        return [b""]

    waiting = gevent.spawn(order.append, "another connection's request")
    assert taking_turns(app)({}, None) == [b""]
    waiting.join()
    assert order == ["another connection's request", "request"]  # without the yield: ["request", "another ..."]
