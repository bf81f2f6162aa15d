"""One training run at a time, across processes: a Redis lock when REDIS_URL is set, a lock row otherwise.

Both are leases of `conf.lock_ttl_s()` (two minutes) that a thread of the holder renews every third of that while
the run lives: a run killed with SIGKILL, an out-of-memory kill or a lost machine frees the lock within one lease
(it used to be a two-hour expiry, which blocked every retraining meanwhile). A second run either waits
(`wait_s > 0`, polling) or fails at once with `TrainingInProgress`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from recommender import conf
from recommender.exceptions import TrainingInProgress
from recommender.models import TrainingLock
from superapp.cache import redis_client

LOCK_NAME = "recommender:train"
POLL_S = 0.5
logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _renewed(renew, ttl_s: float) -> Iterator[None]:
    """Call `renew()` every third of `ttl_s` in a daemon thread while the body runs. A failed renewal is
    logged and tried again at the next beat (the lease outlives two missed beats)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ttl_s / 3):
            try:
                renew()
            except Exception:  # noqa: BLE001 - Redis or the database briefly away: the next beat tries again
                logger.warning("training lock: renewal failed", exc_info=True)

    thread = threading.Thread(target=beat, name="training-lock-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def training_lock(*, wait_s: float = 0.0, name: str = LOCK_NAME) -> Iterator[str]:
    """Hold the training lock for the body; raises `TrainingInProgress` if not acquired in `wait_s`."""
    if settings.REDIS_URL:
        with _redis_lock(name=name, wait_s=wait_s) as holder:
            yield holder
    else:
        with _db_lock(name=name, wait_s=wait_s) as holder:
            yield holder


@contextlib.contextmanager
def _redis_lock(*, name: str, wait_s: float) -> Iterator[str]:
    import redis

    client = redis_client()
    # Not thread-local: the lease thread renews it with the token the acquiring thread got.
    lock = client.lock(name, timeout=conf.lock_ttl_s(), blocking=wait_s > 0, blocking_timeout=wait_s or None,
                       thread_local=False)
    if not lock.acquire():
        raise TrainingInProgress(details={"lock": name, "holder": _redis_holder(client, name)})
    try:
        with _renewed(lock.reacquire, conf.lock_ttl_s()):
            yield str(lock.local.token)
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


def _redis_holder(client, name: str) -> str:
    ttl = client.ttl(name)
    return f"another process (expires in {ttl}s)" if ttl and ttl > 0 else "another process"


def _db_try_acquire(name: str, holder: str) -> bool:
    now = timezone.now()
    expires = now + timedelta(seconds=conf.lock_ttl_s())
    # A stale lock (its holder died) is taken over atomically by the conditional UPDATE.
    if TrainingLock.objects.filter(name=name, expires_at__lt=now).update(holder=holder, acquired_at=now,
                                                                         expires_at=expires):
        return True
    try:
        with transaction.atomic():
            TrainingLock.objects.create(name=name, holder=holder, acquired_at=now, expires_at=expires)
        return True
    except IntegrityError:
        return False


@contextlib.contextmanager
def _db_lock(*, name: str, wait_s: float) -> Iterator[str]:
    holder = _holder()
    deadline = time.monotonic() + wait_s
    while not _db_try_acquire(name, holder):
        if time.monotonic() >= deadline:
            current = TrainingLock.objects.filter(name=name).values_list("holder", "acquired_at").first()
            details = {"lock": name}
            if current:
                details.update(holder=current[0], since=current[1].isoformat())
            raise TrainingInProgress(details=details)
        time.sleep(POLL_S)
    try:
        with _renewed(functools.partial(_db_renew, name, holder), conf.lock_ttl_s()):
            yield holder
    finally:
        TrainingLock.objects.filter(name=name, holder=holder).delete()


def _db_renew(name: str, holder: str) -> None:
    """Push this holder's lease forward (from the lease thread: its own connection, closed after each beat)."""
    from django.db import connection

    try:
        TrainingLock.objects.filter(name=name, holder=holder).update(
            expires_at=timezone.now() + timedelta(seconds=conf.lock_ttl_s()))
    finally:
        connection.close()
