import pytest

from tests.city_fixtures import _reference_cities, pytest_runtest_teardown

__all__ = ["_reference_cities", "pytest_runtest_teardown"]


@pytest.fixture(autouse=True)
def _model_dir(settings, tmp_path):
    """Predictor artifacts of a test go to its own folder, never to var/."""
    settings.TRAFFIC_MODEL_DIR = str(tmp_path / "traffic-models")
