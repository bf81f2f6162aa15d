"""`manage.py bench_recommendations`: recommendation requests under load through gunicorn, as a ratio to
ping measured in the same run.

The data set is made once and reused (idempotent): `--users` bench users living in the seeded cities, each
with a power-law history of interactions with merchants of their city, and a model trained on every
interaction in the database and activated. wrk rotates over the users' tokens and a mix of requests
(home page, a vertical, open now, a radius around the city centre, wallet-only), so neither a single
user's profile nor a single filter is measured.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from tqdm import tqdm

from recommender.models import Algorithm, Interaction, ModelVersion, TrainingConfig
from recommender.services import model_train, model_version_activate
from services.models import City, Merchant
from superapp import bench
from superapp.accounts.models import User

BENCH_PREFIX = "benchreco"
BENCH_CONFIG = "bench-recommendations"
SOURCE_SAMPLE = 60
QUERIES = ["", "?vertical=restaurant", "?open_now=true", "?limit=10&vertical=shopping",
           "?lat={lat}&lon={lon}&radius_m=3000", "?accepts_wallet=true&limit=30"]


def bench_world(*, n_users: int, per_user: int, seed: int, log: Callable[[str], None]) -> list[User]:
    """Bench users with histories (created once; a second run reuses them)."""
    users = list(User.objects.filter(username__startswith=BENCH_PREFIX).select_related("home_city").order_by("pk"))
    if len(users) >= n_users:
        return users[:n_users]
    rng = np.random.default_rng(seed)
    cities = [c for c in City.objects.all() if Merchant.objects.filter(city=c, is_active=True).exists()]
    if not cities:
        raise bench.BenchError("no merchants: run `manage.py seed_demo` first")
    by_city = {c.pk: np.fromiter(Merchant.objects.filter(city=c, is_active=True).order_by("pk")
                                 .values_list("pk", flat=True), dtype=np.int64) for c in cities}
    new_users = []
    for i in range(len(users), n_users):
        home = cities[int(rng.integers(len(cities)))]
        user = User(username=f"{BENCH_PREFIX}{i:05d}", home_city=home, current_city=home, preferences=[])
        user.set_unusable_password()  # bench users authenticate with tokens only
        new_users.append(user)
    User.objects.bulk_create(new_users, batch_size=1000)
    fresh = {u.username for u in new_users}
    users = list(User.objects.filter(username__startswith=BENCH_PREFIX).select_related("home_city").order_by("pk"))
    now = timezone.now()
    rows = []
    for user in tqdm(users, desc="bench interactions", unit="user", mininterval=2):
        if user.username in fresh:
            pool = by_city[user.home_city_id]
            picks = pool[np.minimum(rng.zipf(1.6, size=per_user) - 1, len(pool) - 1)]
            rows += [Interaction(user=user, merchant_id=int(m), kind="checkin",
                                 occurred_at=now - timedelta(days=int(rng.integers(1, 120))),
                                 source=f"bench:{user.pk}:{j}") for j, m in enumerate(picks)]
    Interaction.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
    log(f"bench world: {len(users)} users, {len(rows)} new interactions")
    return users[:n_users]


def bench_model_activate(*, log: Callable[[str], None]) -> ModelVersion:
    """Train ALS on every interaction through the training service (as `train_recommender` and the Celery
    job do), register the version and activate it: the gunicorn workers find it in the registry, like any
    serving process. The bench's own configuration is used and left inactive, so the scheduled retrain's is
    untouched."""
    config, _ = TrainingConfig.objects.get_or_create(
        name=BENCH_CONFIG, defaults={"algorithm": Algorithm.ALS, "notes": "bench_recommendations"})
    started = time.perf_counter()
    version = model_train(config=config, triggered_by="bench", activate=False)
    with transaction.atomic():  # the activation publishes the version id when it commits
        model_version_activate(version=version, reason="Activated by bench_recommendations.")
    log(f"trained and activated v{version.pk} {version.algorithm} on {version.nnz} pairs ({version.n_users} users x "
        f"{version.n_items} merchants) in {time.perf_counter() - started:.1f} s")
    return version


def wrk_lua(*, tokens: list[str], paths: list[str]) -> str:
    return f"""
local tokens = {json.dumps(tokens).replace('[', '{').replace(']', '}')}
local paths = {json.dumps(paths).replace('[', '{').replace(']', '}')}
local counter = 0
function setup(thread)
  thread:set("offset", math.random(1, #tokens))
end
request = function()
  counter = counter + 1
  local i = ((counter + offset) % #tokens) + 1
  local p = paths[((counter * 7 + offset) % #paths) + 1]
  return wrk.format("GET", p, {{["Authorization"] = "Bearer " .. tokens[i]}}, nil)
end
"""


def served_sources(base_url: str, *, tokens: list[str], paths: list[str]) -> Counter:
    """Which model or fallback answered a sample of the benchmarked requests (so the figures are known to
    measure the model, not a fallback)."""
    counts: Counter = Counter()
    for i, token in enumerate(tokens):
        url = base_url + paths[i % len(paths)]  # our own local server, plain http
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            counts[json.load(response)["source"]] += 1
    return counts


def run(*, n_users: int, per_user: int, duration_s: int, connections: int, seed: int,
        log: Callable[[str], None]) -> dict:
    users = bench_world(n_users=n_users, per_user=per_user, seed=seed, log=log)
    version = bench_model_activate(log=log)
    tokens = [str(AccessToken.for_user(u)) for u in users]
    paths = []
    for user in users[:50]:
        c = user.home_city
        paths += [f"/api/v1/recommendations{q.format(lat=c.latitude, lon=c.longitude)}" for q in QUERIES]
    with bench.gunicorn_server(env=bench.server_env()) as base_url:
        log(f"serving on {base_url}; {bench.WORKERS} workers x {bench.THREADS} threads")
        lua = wrk_lua(tokens=tokens, paths=paths)
        bench.wrk_run(f"{base_url}/api/v1/recommendations", duration_s=3, connections=connections, lua=lua)  # warm
        served = served_sources(base_url, tokens=tokens[:SOURCE_SAMPLE], paths=paths)
        log(f"sources of {sum(served.values())} sampled pages: {dict(served)}")
        ping = bench.wrk_run(f"{base_url}/healthz", duration_s=duration_s, connections=connections)
        recs = bench.wrk_run(f"{base_url}/api/v1/recommendations", duration_s=duration_s, connections=connections,
                             lua=lua)
    return {
        "recs_rps": recs.rps, "ping_rps": ping.rps, "ratio": round(recs.rps / ping.rps, 3) if ping.rps else 0.0,
        "p50_ms": recs.p50_ms, "p99_ms": recs.p99_ms, "ping_p99_ms": ping.p99_ms, "requests": recs.requests,
        "errors": recs.non_2xx + recs.socket_errors, "users": len(users),
        "merchants": Merchant.objects.filter(is_active=True).count(),
        "interactions": Interaction.objects.count(), "connections": connections,
        "database": bench.database_vendor(), "workers": bench.WORKERS, "threads": bench.THREADS,
        "model_version": version.pk,
        "model_pages": round(served[f"model:{version.algorithm}:v{version.pk}"] / max(1, sum(served.values())), 3),
    }
