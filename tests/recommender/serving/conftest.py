"""A small world with two taste clusters (hotpot lovers, sushi lovers) in Hangzhou, whose travellers also
left signals in Davos, and helpers to train and activate a model over it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest
from django.test import TestCase
from django.utils import timezone

from merchants.models import Merchant
from recommender.models import Interaction, ModelVersion, TrainingConfig
from recommender.services import model_train, model_version_activate
from tests.factories import MerchantFactory, UserFactory, city
from tests.merchants.factories import CategoryFactory

ALS_PARAMS = {"factors": 8, "regularization": 5.0, "alpha": 20.0, "iterations": 20, "random_state": 1}


@pytest.fixture(autouse=True)
def _fresh_serving_state(settings):
    # The world has dozens of users: a slow password hash would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Serving processes look at the catalogue's and campaigns' shared versions at most once a second; a test
    # writes and reads within milliseconds, so it looks every time.
    settings.RECOMMENDER_CATALOGUE_CHECK_S = 0
    # Lists are built by the (eager) Celery tasks the tests trigger, not by a background thread.
    settings.RECOMMENDER_LOCAL_LIST_BUILD = False
    # Every per-process cache (model, catalogue, content index, popularity) starts empty: tests/conftest.py.


@dataclass
class World:
    hz_hotpot: list
    hz_sushi: list
    hz_spa: list
    davos_hotpot: list
    davos_sushi: list
    davos_spa: list
    davos_watches: list
    davos_no_wallet: Merchant
    hotpot_lovers: list
    sushi_lovers: list
    cats: dict


def _merchants(n, *, name, cat, city_slug="hangzhou", vertical="restaurant", **extra):
    out = []
    for i in range(n):
        m = MerchantFactory(name=f"{name} {i}", city=city(city_slug), vertical=vertical,
                            description=f"{cat.name} place", **extra)
        m.categories.add(cat)
        out.append(m)
    return out


def interact(user, merchant, kind="payment", days_ago=1, n=1):
    Interaction.objects.bulk_create(
        Interaction(user=user, merchant=merchant, kind=kind, occurred_at=timezone.now() - timedelta(days=days_ago))
        for _ in range(n))


@pytest.fixture
def world(db) -> World:
    restaurant = CategoryFactory(slug="restaurant", name="Restaurants")
    chinese = CategoryFactory(slug="chinese", name="Chinese", parent=restaurant)
    cats = {
        "hotpot": CategoryFactory(slug="hotpot", name="Hotpot", parent=chinese),
        "sushi": CategoryFactory(slug="sushi", name="Sushi", parent=CategoryFactory(slug="japanese", name="Japanese",
                                                                                    parent=restaurant)),
        "spa": CategoryFactory(slug="spa", name="Spa and wellness", vertical="leisure"),
        "watches": CategoryFactory(slug="watches", name="Watches and jewellery", vertical="shopping"),
    }
    w = World(
        hz_hotpot=_merchants(8, name="Hotpot House", cat=cats["hotpot"]),
        hz_sushi=_merchants(8, name="Sushi Bar", cat=cats["sushi"]),
        hz_spa=_merchants(3, name="Lake Spa", cat=cats["spa"], vertical="leisure"),
        davos_hotpot=_merchants(3, name="Alpine Hotpot", cat=cats["hotpot"], city_slug="davos"),
        davos_sushi=_merchants(3, name="Davos Sushi", cat=cats["sushi"], city_slug="davos"),
        davos_spa=_merchants(2, name="Davos Spa", cat=cats["spa"], city_slug="davos", vertical="leisure"),
        davos_watches=_merchants(2, name="Davos Watches", cat=cats["watches"], city_slug="davos",
                                 vertical="shopping"),
        davos_no_wallet=_merchants(1, name="Cash Only Hotpot", cat=cats["hotpot"], city_slug="davos",
                                   accepts_wallet=False)[0],
        hotpot_lovers=[UserFactory() for _ in range(14)],
        sushi_lovers=[UserFactory() for _ in range(14)],
        cats=cats,
    )
    rng = np.random.default_rng(3)
    for group, home, davos in ((w.hotpot_lovers, w.hz_hotpot, w.davos_hotpot),
                               (w.sushi_lovers, w.hz_sushi, w.davos_sushi)):
        for i, user in enumerate(group):
            for m in rng.choice(home, size=4, replace=False):
                interact(user, m)
            if i % 2 == 0:  # half of each cluster travelled to Davos and ate their favourite there too
                interact(user, davos[i % len(davos)])
                interact(user, w.davos_spa[0] if group is w.hotpot_lovers else w.davos_spa[1])
                interact(user, w.davos_watches[i % 2])
    return w


def train(algorithm: str = "als", params: dict | None = None) -> ModelVersion:
    """Train on every interaction in the database through the training service (what `train_recommender`
    and the Celery job run: the same confidence, artifact and registry), without activating."""
    config, _ = TrainingConfig.objects.update_or_create(
        name=f"serving-tests-{algorithm}",
        defaults={"algorithm": algorithm, "params": params if params is not None else (
            ALS_PARAMS if algorithm == "als" else {})})
    return model_train(config=config, activate=False)


def activate(version: ModelVersion) -> ModelVersion:
    """Activate through the registry and commit, as production does: the activation's on-commit hook is
    what tells every serving process (the shared cache key) about the new version."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return model_version_activate(version=version)


def source(version: ModelVersion, *, materialised: bool = True) -> str:
    """What a page answered by this version says: from the user's materialised list (built when the version
    was activated), or scored live (`materialised=False`: no list yet, or the filters exhaust it)."""
    return f"{'materialised' if materialised else 'model'}:{version.algorithm}:v{version.pk}"


@pytest.fixture
def active_als(world) -> ModelVersion:
    return activate(train())
