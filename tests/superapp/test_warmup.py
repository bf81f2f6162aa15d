"""Issue #14, no refusal over 100 ms: a serving process is warm before its first request, and the garbage
collector does not rescan its start-up heap (full collections of it were 250 ms pauses on random requests)."""

import gc
import io
import json

import pytest
from django.core.management import call_command
from django.urls import get_resolver

from superapp import process_cache, warmup
from superapp.warmup import process_warm
from tests.factories import UserFactory


def test_process_warm_compiles_the_urlconf_and_freezes_the_start_up_heap():
    before = gc.get_freeze_count()
    try:
        process_warm()
        assert get_resolver()._populated
        # What start-up built (Django, DRF, the apps: well over 100,000 objects) is out of every collection.
        assert gc.get_freeze_count() > max(before, 100_000)
    finally:
        gc.unfreeze()


def test_process_warm_builds_what_the_apps_registered_and_starts_even_if_one_fails(monkeypatch):
    built = []
    monkeypatch.setattr(warmup, "_warmers", {"broken": lambda: 1 / 0, "fine": lambda: built.append("fine")})
    try:
        process_warm()
    finally:
        gc.unfreeze()
    assert built == ["fine"]


def test_a_warmed_process_tells_a_waiting_benchmark(monkeypatch, tmp_path):
    """superapp.bench waits for one file per gunicorn worker before measuring (not for the first /healthz)."""
    import os

    monkeypatch.setenv(warmup.READY_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(warmup, "_warmers", {})
    try:
        process_warm()
    finally:
        gc.unfreeze()
    assert [p.name for p in tmp_path.iterdir()] == [str(os.getpid())]


@pytest.mark.django_db
def test_a_serving_process_builds_the_recommenders_catalogue_and_content_index_before_its_first_page():
    from recommender.serving import catalogue, content
    from tests.factories import MerchantFactory

    merchant = MerchantFactory()
    process_cache.reset_all()
    warmup._warmers["recommender serving"]()
    assert merchant.pk in catalogue._catalogue.peek().ids.tolist()
    assert merchant.pk in content._index.peek().merchant_ids.tolist()


@pytest.mark.django_db
def test_fuzz_api_serves_through_the_wsgi_application_and_reports_one_line():
    user = UserFactory()
    out = io.StringIO()
    call_command("fuzz_api", username=user.username, include=r"^/api/v1/me$", stdout=out, stderr=io.StringIO())
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["operations"] >= 2 and summary["requests"] > 20
    assert summary["server_errors"] == 0 and summary["refusals"] > 0
    gc.unfreeze()  # importing superapp.wsgi warmed (and froze) this process like a gunicorn worker
