"""One configuration pattern: superapp/settings.py reads the environment (its `env_*` helpers, nowhere else),
and app code reads `django.conf.settings` when it uses a value, so `override_settings` changes it."""

from __future__ import annotations

import pytest
from django.test import override_settings

from appointments import conf as appointments_conf
from bookings import conf as bookings_conf
from cityservices import conf as cityservices_conf
from merchants import conf as merchants_conf
from payments import conf as payments_conf
from recommender import conf as recommender_conf
from recommender.serving import conf as serving_conf
from superapp import conf as superapp_conf
from superapp import settings as project_settings
from superapp.social import conf as social_conf
from tests.conftest import client_for
from tests.factories import UserFactory
from traffic import conf as traffic_conf


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


# Each area's conf module, one value: (override, how the area reads it, the value it should then read).
AREA_VALUES = [
    ({"SERVICES_BOOKING_HOLD_MINUTES": 5}, lambda: bookings_conf.BOOKING_HOLD_MINUTES, 5),
    ({"SERVICES_APPOINTMENT_DAYS_AHEAD": 3}, lambda: appointments_conf.APPOINTMENT_DAYS_AHEAD, 3),
    ({"SERVICES_BILL_REMINDER_DAYS": 9}, lambda: cityservices_conf.BILL_REMINDER_DAYS, 9),
    ({"SERVICES_NEARBY_MAX_LIMIT": 11}, lambda: merchants_conf.NEARBY_MAX_LIMIT, 11),
    ({"SERVICES_GEO_INDEX_MAX_AGE_S": "12.5"}, lambda: merchants_conf.GEO_INDEX_MAX_AGE_S, 12.5),
    ({"SOCIAL_FANOUT_BATCH": 13}, social_conf.fanout_batch, 13),
    ({"PAYMENTS_PENDING_TTL_S": 14}, payments_conf.pending_ttl_s, 14),
    ({"RECOMMENDER_RETRAIN_EVERY_S": 15}, recommender_conf.retrain_every_s, 15),
    ({"RECOMMENDER_EXTRACT_SNAPSHOT_MAX_NEW": "0.5"}, recommender_conf.extract_snapshot_max_new, 0.5),
    ({"RECOMMENDER_CONTEXT_TTL_S": 16}, lambda: serving_conf.CONTEXT_TTL_S, 16),
    ({"TRAFFIC_MAX_BATCH_ROWS": 17}, traffic_conf.max_batch_rows, 17),
    ({"TRAFFIC_PLATE_HASH_SECRET": "s"}, traffic_conf.plate_hash_secret, b"s"),
]


@pytest.mark.parametrize(("override", "read", "expected"), AREA_VALUES,
                         ids=[next(iter(o)) for o, _, _ in AREA_VALUES])
def test_override_settings_changes_a_value_of_every_area(override, read, expected):
    before = read()
    assert before != expected
    with override_settings(**override):
        assert read() == expected
    assert read() == before


@pytest.mark.parametrize("module", [bookings_conf, appointments_conf, cityservices_conf, merchants_conf, serving_conf])
def test_an_unknown_setting_is_an_attribute_error(module):
    with pytest.raises(AttributeError):
        module.NO_SUCH_SETTING  # noqa: B018


def test_a_setting_is_read_from_django_settings_not_the_environment(monkeypatch):
    # The environment is settings.py's business (read once at start-up); a conf module that read it again
    # would let a stale variable beat an override.
    monkeypatch.setenv("TRAFFIC_MAX_BATCH_ROWS", "3")
    monkeypatch.setenv("SERVICES_BILL_REMINDER_DAYS", "4")
    with override_settings(TRAFFIC_MAX_BATCH_ROWS=None), pytest.raises(TypeError):
        traffic_conf.max_batch_rows()
    assert cityservices_conf.BILL_REMINDER_DAYS == 3
    assert superapp_conf.setting("SERVICES_BILL_REMINDER_DAYS", str) == "3"


@pytest.mark.django_db
def test_the_recommendations_limit_follows_an_override():
    client = client_for(UserFactory())
    with override_settings(RECOMMENDER_MAX_LIMIT=5):
        response = client.get("/api/v1/recommendations", {"limit": 6})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"max": 5}


def test_a_remembered_value_follows_the_settings_fixture_and_its_restore(settings):
    # `superapp.conf.setting` remembers values per process until `setting_changed`: pytest-django's fixture
    # sends it on assignment and again when it restores the value after the test.
    before = traffic_conf.max_batch_rows()
    assert traffic_conf.max_batch_rows() == before  # remembered
    settings.TRAFFIC_MAX_BATCH_ROWS = before + 1
    assert traffic_conf.max_batch_rows() == before + 1
    settings.TRAFFIC_MAX_BATCH_ROWS = before + 2
    assert traffic_conf.max_batch_rows() == before + 2
