"""Interaction data for recommender tests: users with clustered tastes so a model can beat popularity."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from merchants.models import Merchant
from recommender.models import Interaction
from superapp.accounts.models import User
from tests.factories import MerchantFactory


def crowd(n: int) -> list[User]:
    """Users without a password hash (hashing is deliberately slow; these users never log in)."""
    start = User.objects.count()
    return User.objects.bulk_create([User(username=f"crowd{start + i}", password="!") for i in range(n)])


def taste_world(*, n_users: int = 60, n_clusters: int = 4, items_per_cluster: int = 12, per_user: int = 10,
                seed: int = 7, noise: float = 0.1) -> tuple[list[User], list[Merchant]]:
    """Users in `n_clusters` taste groups, each mostly interacting with its own group's merchants, with
    timestamps spread over 60 days. Popular items exist in every cluster, so popularity is a fair baseline."""
    rng = random.Random(seed)
    merchants = MerchantFactory.create_batch(n_clusters * items_per_cluster)
    users = crowd(n_users)
    now = timezone.now()
    rows = []
    for u, user in enumerate(users):
        cluster = u % n_clusters
        own = merchants[cluster * items_per_cluster:(cluster + 1) * items_per_cluster]
        for j in range(per_user):
            pool = merchants if rng.random() < noise else own
            # Zipf-ish within the cluster so there are popular items inside each taste group.
            merchant = pool[min(int(rng.paretovariate(1.2)) - 1, len(pool) - 1)] if pool is own else rng.choice(pool)
            rows.append(Interaction(user=user, merchant=merchant, kind="checkin", value=1.0,
                                    occurred_at=now - timedelta(days=60 - j * 5, minutes=rng.randint(0, 600))))
    Interaction.objects.bulk_create(rows)
    return users, merchants
