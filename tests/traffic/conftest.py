import importlib

import pytest
from django.apps import apps


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction"))


def _load_cities() -> None:
    importlib.import_module("services.migrations.0002_seed_cities").load(apps, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A transactional test's flush removes the migration-loaded cities: put them back for the next test."""
    yield
    if _is_transactional(item):
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
            _load_cities()


@pytest.fixture(autouse=True)
def _reference_cities(request):
    if _is_transactional(request.node):
        request.getfixturevalue("transactional_db")
        _load_cities()


@pytest.fixture(autouse=True)
def _model_dir(settings, tmp_path):
    """Predictor artifacts of a test go to its own folder, never to var/."""
    settings.TRAFFIC_MODEL_DIR = str(tmp_path / "traffic-models")
