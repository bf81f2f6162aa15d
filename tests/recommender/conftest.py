import pytest


@pytest.fixture(autouse=True)
def _models_dir(tmp_path, settings):
    """Artifacts of each test go to its own directory (no model stays loaded between tests: tests/conftest.py)."""
    settings.RECOMMENDER_MODELS_DIR = str(tmp_path / "models")
    settings.RECOMMENDER_TRAIN_THREADS = 1  # tiny matrices: threads only add contention on shared CI cores


@pytest.fixture
def small_als(db):
    """A fast ALS configuration for tests (the real defaults are tuned for larger data)."""
    from recommender.models import TrainingConfig

    return TrainingConfig.objects.create(name="test-als", algorithm="als", is_active=True,
                                         params={"factors": 8, "iterations": 5, "regularization": 0.5,
                                                 "alpha": 5.0})
