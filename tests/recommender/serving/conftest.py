"""A small world with two taste clusters (hotpot lovers, sushi lovers) in Hangzhou, whose travellers also
left signals in Davos, and helpers to train and activate a model over it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from recommender.ml.artifacts import save_artifact
from recommender.ml.dataset import InteractionLog, build_matrix
from recommender.ml.models import make_model
from recommender.models import Interaction
from recommender.serving import backend, content, selectors
from services.models import Merchant
from tests.factories import MerchantFactory, UserFactory, city
from tests.services.factories import CategoryFactory

ALS_PARAMS = {"factors": 8, "regularization": 5.0, "alpha": 20.0, "iterations": 20, "random_state": 1}


@pytest.fixture(autouse=True)
def _fresh_serving_state(settings):
    # The world has dozens of users: a slow password hash would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    backend.reset()
    content.reset()
    selectors.reset()
    yield
    backend.reset()
    content.reset()
    selectors.reset()


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


def train(algorithm: str = "als", params: dict | None = None):
    """Fit on every interaction in the database (payment-weighted counts), like a retrain would."""
    rows = list(Interaction.objects.values_list("user_id", "merchant_id"))
    dataset = build_matrix(InteractionLog(user_ids=[r[0] for r in rows], item_ids=[r[1] for r in rows]))
    model = make_model(algorithm, params if params is not None else (ALS_PARAMS if algorithm == "als" else None),
                       num_threads=1)
    model.fit(dataset.matrix)
    return model, dataset


def activate(tmp_path, model, dataset, *, version_id: int = 1, algorithm: str = "als") -> None:
    path = tmp_path / f"v{version_id}.npz"
    checksum = save_artifact(path, model=model, user_ids=dataset.user_ids, item_ids=dataset.item_ids)
    backend.artifact_activate(version_id=version_id, path=str(path), checksum=checksum, algorithm=algorithm)


@pytest.fixture
def active_als(world, tmp_path):
    model, dataset = train()
    activate(tmp_path, model, dataset)
    return model, dataset
