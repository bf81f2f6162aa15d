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


def _held_past_its_lease(name: str = LOCK_NAME) -> None:
    """Hold the lock twice as long as its one-second lease: the holder's renewals keep others out all along."""
    import time

    with training_lock(name=name):
        for _ in range(4):
            time.sleep(0.5)
            with pytest.raises(TrainingInProgress), training_lock(name=name, wait_s=0):
                pass
    with training_lock(name=name, wait_s=0):  # released at once, not at the end of a lease
        pass


@pytest.mark.django_db(transaction=True)
def test_a_live_run_renews_its_lease_and_a_dead_one_frees_the_lock_within_one(db_lock, settings):
    settings.RECOMMENDER_LOCK_TTL_S = 1
    _held_past_its_lease()
    # A holder that stopped renewing (killed): its row expires after one lease and the next run takes over.
    TrainingLock.objects.create(name=LOCK_NAME, holder="killed-host:1",
                                expires_at=timezone.now() + timedelta(seconds=1))
    with training_lock(wait_s=5) as holder:
        assert TrainingLock.objects.get(name=LOCK_NAME).holder == holder


@pytest.mark.redis
def test_the_redis_lease_is_renewed_while_the_run_lives(settings):
    from superapp.cache import redis_client

    settings.RECOMMENDER_LOCK_TTL_S = 1
    name = "recommender:test-lease"
    _held_past_its_lease(name)
    assert redis_client().get(name) is None
    # A killed holder: the key simply runs out after one lease.
    redis_client().set(name, "killed-holder", px=1000)
    with training_lock(name=name, wait_s=5):
        pass
