import importlib

import pytest
from django.apps import apps

from superapp.celery import app as celery_app
from superapp.social import services
from superapp.social.models import Visibility
from tests.factories import MerchantFactory, UserFactory


@pytest.fixture(autouse=True)
def _reference_cities(request):
    """A transactional test (ours or another app's, run before) flushes the cities a data migration
    loaded; put them back before ours run."""
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        importlib.import_module("services.migrations.0002_seed_cities").load(apps, None)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """These tests create many users; Argon2 is deliberately slow and not what they test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _eager_tasks():
    """Timeline tasks run in-process after commit, also when REDIS_URL is set (no worker in tests)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def merchant(db):
    return MerchantFactory()


@pytest.fixture
def make_user(db):
    return lambda **kw: UserFactory(**kw)


def befriend(a, b):
    request = services.friend_request_create(from_user=a, to_user_id=b.pk)
    services.friend_request_accept(user=b, request_id=request.pk)


def post_by(author, text="hello", visibility=Visibility.PUBLIC, **kw):
    return services.post_create(author=author, text=text, visibility=visibility, **kw)
