"""One configuration pattern: superapp/settings.py reads the environment (its `env_*` helpers, nowhere else),
and app code reads `django.conf.settings` when it uses a value, so `override_settings` changes it."""

from __future__ import annotations

import pytest
from django.test import override_settings

from payments import conf as payments_conf
from recommender import conf as recommender_conf
from recommender.serving import conf as serving_conf
from superapp import settings as project_settings
from superapp.social import conf as social_conf
from tests.conftest import client_for
from tests.factories import UserFactory


def test_the_env_helpers_parse_and_default(monkeypatch):
    monkeypatch.setenv("SUPERAPP_TEST_INT", "42")
    monkeypatch.setenv("SUPERAPP_TEST_FLOAT", "0.25")
    monkeypatch.setenv("SUPERAPP_TEST_BOOL", "off")
    monkeypatch.setenv("SUPERAPP_TEST_WEIGHTS", "payment=5, view=0.2")
    monkeypatch.setenv("SUPERAPP_TEST_EMPTY", "")
    assert project_settings.env_int("SUPERAPP_TEST_INT", 1) == 42
    assert project_settings.env_float("SUPERAPP_TEST_FLOAT", 1.0) == 0.25
    assert project_settings.env_bool("SUPERAPP_TEST_BOOL", True) is False
    assert project_settings.env_weights("SUPERAPP_TEST_WEIGHTS") == {"payment": 5.0, "view": 0.2}
    # unset or empty: the default
    assert project_settings.env_int("SUPERAPP_TEST_EMPTY", 7) == 7
    assert project_settings.env_float("SUPERAPP_TEST_MISSING", None) is None
    assert project_settings.env_bool("SUPERAPP_TEST_EMPTY", True) is True
    assert project_settings.env_weights("SUPERAPP_TEST_MISSING") == {}


def test_override_settings_reaches_values_once_read_at_import_time():
    # These were module constants computed when the module was imported (serving) or read the environment
    # before settings: an override did not reach them.
    with override_settings(RECOMMENDER_MAX_LIMIT=7, RECOMMENDER_CATALOGUE_CHECK_S=0.5,
                           RECOMMENDER_LOCAL_LIST_BUILD=False):
        assert serving_conf.MAX_LIMIT == 7
        assert serving_conf.CATALOGUE_CHECK_S == 0.5
        assert serving_conf.LOCAL_LIST_BUILD is False
    assert serving_conf.MAX_LIMIT == 50
    with override_settings(PAYMENTS_FX_SPREAD="0.02", SOCIAL_TIMELINE_CAP=5, RECOMMENDER_TRAIN_THREADS=3):
        assert str(payments_conf.fx_spread()) == "0.02"
        assert social_conf.timeline_cap() == 5
        assert recommender_conf.train_threads() == 3


def test_an_unknown_serving_setting_is_an_attribute_error():
    with pytest.raises(AttributeError):
        serving_conf.NO_SUCH_SETTING  # noqa: B018


@pytest.mark.django_db
def test_the_recommendations_limit_follows_an_override():
    client = client_for(UserFactory())
    with override_settings(RECOMMENDER_MAX_LIMIT=5):
        response = client.get("/api/v1/recommendations", {"limit": 6})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"max": 5}
