"""Shared fixtures and the service markers.

`@pytest.mark.postgres` tests need PostgreSQL (row locks, real concurrency) and `@pytest.mark.redis`
tests need Redis. Without them the tests skip, except when SUPERAPP_REQUIRE_SERVICES=1 (CI), where a
missing service fails the test instead, so a green CI run can never hide a skipped concurrency test.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from rest_framework.test import APIClient

from recommender.ml.bench_real import data_root
from tests.factories import UserFactory

SHARED_DATA = data_root()  # $SUPERAPP_DATA_DIR, else ../shared/data beside the checkout
NEEDS_DATA = "needs the public data sets"  # the skip reason's start; .ci/run fails on a skip saying it


def _missing_service(item: pytest.Item) -> str | None:
    if item.get_closest_marker("postgres") and not settings.USING_POSTGRES:
        return "needs PostgreSQL (set DATABASE_URL=postgres://...)"
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        return "needs Redis (set REDIS_URL=redis://...)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing_service(item)
    if reason is None:
        return
    if os.environ.get("SUPERAPP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; SUPERAPP_REQUIRE_SERVICES=1 forbids skipping it")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _celery_eager():
    """Tests run Celery tasks in-process, also when REDIS_URL is set (no worker runs during pytest).
    `tests/superapp/test_celery_worker.py` checks the real broker + worker round trip separately."""
    from superapp.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


@pytest.fixture(scope="session", autouse=True)
def _answers_have_their_declared_shape():
    """Every 2xx JSON answer an APIClient gets from /api/v1/ in any test has the top-level shape the schema
    declares for its operation (array, cursor page or object): GETs and writes alike
    (`tests.schema_conformance.declared_shape_problem`)."""
    from tests.schema_conformance import declared_shape_problem

    original = APIClient.request

    def request(self, **kwargs):
        response = original(self, **kwargs)
        problem = declared_shape_problem(response)
        if problem:
            pytest.fail(problem)
        return response

    APIClient.request = request
    yield
    APIClient.request = original


@pytest.fixture(autouse=True)
def _reference_cities(request):
    """Cities come from a data migration; a transactional test's flush removes them, so restore them."""
    if "django_db" not in request.keywords:
        return
    request.getfixturevalue("_django_db_helper")
    from merchants.models import City
    from merchants.reference import load_reference_cities

    if not City.objects.exists():
        load_reference_cities(City)


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def _data_required() -> bool:
    return os.environ.get("SUPERAPP_REQUIRE_SERVICES") == "1" or os.environ.get("SUPERAPP_REQUIRE_DATA") == "1"


@pytest.fixture
def shared_data() -> Callable[..., Path]:
    """``shared_data("movielens-100k", "u.data")`` -> the path of a file of the public data sets.

    Missing: the test skips saying how to get them (`make data`, or SUPERAPP_DATA_DIR), except in CI
    (SUPERAPP_REQUIRE_SERVICES=1 or SUPERAPP_REQUIRE_DATA=1), where it fails, so CI never hides it.
    """

    def path(*parts: str) -> Path:
        target = SHARED_DATA.joinpath(*parts)
        if not target.exists():
            reason = (
                f"{NEEDS_DATA}: {target} is missing; run `make data` (downloads them to ../shared/data) or set "
                "SUPERAPP_DATA_DIR to the folder that has them"
            )
            if _data_required():
                pytest.fail(f"{reason}; CI forbids skipping it")
            pytest.skip(reason)
        return target

    return path


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def auth_client(user) -> APIClient:
    return client_for(user)


@pytest.fixture
def other_client(other_user) -> APIClient:
    return client_for(other_user)


def run_concurrently(fn: Callable[[int], Any], n_threads: int) -> list[Any]:
    """Run fn(i) in n threads released together; returns results or raised exceptions, by index.

    Each thread closes its own database connection at the end (Django opens one per thread).
    """
    barrier = threading.Barrier(n_threads)
    results: list[Any] = [None] * n_threads

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - the caller inspects what each thread got
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture(params=["native", "portable"])
def sql_branch(request, db, monkeypatch):
    """Runs a test through each side of the code's PostgreSQL-only branches (`superapp.db.postgresql_sql`):
    natively, then on PostgreSQL once more with the portable branch (what SQLite runs), so both meet the same
    assertions on the production database. On SQLite the portable run is the native one and is skipped."""
    if request.param == "portable":
        if connection.vendor != "postgresql":
            pytest.skip("the portable branch is this database's native one")
        import superapp.db

        monkeypatch.setattr(superapp.db, "_portable_only", True)
        assert not superapp.db.postgresql_sql()
    return request.param


@pytest.fixture
def concurrently():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency tests need PostgreSQL")
    return run_concurrently


@pytest.fixture(autouse=True)
def _process_caches():
    """Every per-process cache (`superapp.process_cache`: the wallet's accounts, the nearby index, the loaded
    model, the recommender's catalogue...) starts and ends each test empty: a test database that is rolled
    back or flushed between tests reuses pks, and a test's data must not leak into the next one."""
    from superapp.process_cache import reset_all

    reset_all()
    yield
    reset_all()
