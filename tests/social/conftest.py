import pytest

from superapp.celery import app as celery_app
from superapp.social import services
from superapp.social.models import Visibility
from tests.city_fixtures import _fast_passwords, _reference_cities
from tests.factories import MerchantFactory, UserFactory

__all__ = ["_fast_passwords", "_reference_cities", "befriend", "post_by"]


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
