"""One training run at a time: a second run exits with a clear error, or waits when asked to."""

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from recommender.exceptions import TrainingInProgress
from recommender.locks import LOCK_NAME, training_lock
from recommender.models import ModelVersion, TrainingLock
from recommender.services import model_train
from recommender.tasks import retrain
from tests.recommender.factories import taste_world


@pytest.fixture
def db_lock(settings):
    settings.REDIS_URL = ""  # the embedded default: a lock row


@pytest.mark.django_db
def test_a_second_run_exits_while_the_first_holds_the_lock(db_lock, small_als):
    taste_world(n_users=12)
    with training_lock():
        with pytest.raises(TrainingInProgress) as caught:
            model_train(config=small_als)
        assert caught.value.details["lock"] == LOCK_NAME and caught.value.details["holder"]
        with pytest.raises(CommandError, match="Another training run holds the lock"):
            call_command("train_recommender", "--no-progress")
        assert retrain.delay().get() == {"status": "skipped", "reason": "training_in_progress"}
    assert not ModelVersion.objects.exists()
    assert not TrainingLock.objects.exists()  # released
    assert model_train(config=small_als).pk


@pytest.mark.django_db
def test_a_waiting_run_proceeds_once_the_lock_is_free(db_lock):
    # Another process holds the lock for one more second (then its lease runs out).
    TrainingLock.objects.create(name=LOCK_NAME, holder="other-host:123",
                                expires_at=timezone.now() + timedelta(seconds=1))
    with pytest.raises(TrainingInProgress), training_lock(wait_s=0):
        pass
    with training_lock(wait_s=10) as holder:
        assert TrainingLock.objects.get(name=LOCK_NAME).holder == holder


@pytest.mark.django_db
def test_the_lock_is_released_when_training_fails(db_lock):
    with pytest.raises(RuntimeError), training_lock():
        raise RuntimeError("boom")
    assert not TrainingLock.objects.exists()


@pytest.mark.redis
def test_redis_lock_lets_one_holder_in_and_a_waiter_through_after_release():
    name = "recommender:test-lock"
    with training_lock(name=name), pytest.raises(TrainingInProgress), training_lock(name=name):
        pass
    entered = []
    started, release = threading.Event(), threading.Event()

    def holder():
        with training_lock(name=name):
            entered.append("first")
            started.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert started.wait(5)
    threading.Timer(0.3, release.set).start()
    with training_lock(name=name, wait_s=10):
        entered.append("second")
    thread.join()
    assert entered == ["first", "second"]
