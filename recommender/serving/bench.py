"""`manage.py bench_recommendations`: recommendation requests under load through gunicorn, as a ratio to
ping measured in the same run.

The data set is made once and reused (idempotent): `--users` bench users living in the seeded cities, each
with a power-law history of interactions with merchants of their city, and a model trained on every
interaction in the database and activated. wrk rotates over the users' tokens and a mix of requests
(home page, a vertical, open now, a radius around the city centre, wallet-only), so neither a single
user's profile nor a single filter is measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from tqdm import tqdm

from merchants.models import City, Merchant
from recommender.models import Algorithm, Interaction, ModelVersion, TrainingConfig
from recommender.services import model_train, model_version_activate
from recommender.serving import conf
from superapp import bench
from superapp.accounts.models import User

BENCH_PREFIX = "benchreco"
BENCH_CONFIG = "bench-recommendations"
SOURCE_SAMPLE = 60
MISS_SAMPLE = 40
POST_EVERY = 20  # one client event per 20 requests
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


def bench_trips(users: list[User], *, log: Callable[[str], None]) -> list[User]:
    """A quarter of the bench users are travelling now (a planned trip to another city under way): the
    destination page is measured for them (created once)."""
    from merchants.models import Trip, TripStatus

    cities = [c for c in City.objects.all() if Merchant.objects.filter(city=c, is_active=True).exists()]
    travellers = users[::4]
    today = timezone.now().date()
    have = set(Trip.objects.filter(user__in=travellers, status=TripStatus.PLANNED, starts_on__lte=today,
                                   ends_on__gte=today).values_list("user_id", flat=True))
    new = []
    for i, user in enumerate(travellers):
        if user.pk in have:
            continue
        others = [c for c in cities if c.pk != user.home_city_id] or cities
        new.append(Trip(user=user, destination=others[i % len(others)], starts_on=today - timedelta(days=1),
                        ends_on=today + timedelta(days=30), title="bench trip"))
    Trip.objects.bulk_create(new)
    log(f"bench trips: {len(travellers)} travellers ({len(new)} new trips)")
    return travellers


def wrk_lua(*, tokens: list[str], paths: list[str], merchants: list[int], post_every: int) -> str:
    """GETs rotating over users and the query mix; every `post_every`-th request POSTs a client event (a view)
    for the same user, so invalidation and list rebuilds are part of the load. Counts pages and pages answered
    from a materialised list (`source` first in the body) and prints them when done."""
    request = """
  local auth = "Bearer " .. tokens[((counter + offset) % #tokens) + 1]
  if counter % POST_EVERY == 0 then
    local m = merchants[((counter * 13 + offset) % #merchants) + 1]
    local body = string.format('{"events":[{"id":"b%d-%d-%d-%d","kind":"view","merchant":%d}]}',
                               os.time(), thread_id, counter, math.random(1, 1000000000), m)
    return wrk.format("POST", "/api/v1/events", {["Authorization"] = auth, ["Content-Type"] = "application/json"},
                      body)
  end
  local p = paths[((counter * 7 + offset) % #paths) + 1]
  return wrk.format("GET", p, {["Authorization"] = auth}, nil)
""".replace("POST_EVERY", str(int(post_every)))
    extra = f"merchants = {bench.lua_table(merchants)}\n" + """
pages = 0
hits = 0
response = function(status, headers, body)
  if string.sub(body, 1, 10) == '{"source":' then
    pages = pages + 1
    if string.sub(body, 12, 24) == "materialised:" then
      hits = hits + 1
    end
  end
end
function done(summary, latency, requests)
  local p, h = 0, 0
  for _, t in ipairs(threads) do
    p = p + t:get("pages")
    h = h + t:get("hits")
  end
  io.write(string.format("BENCH_PAGES %d BENCH_HITS %d\\n", p, h))
end
"""
    return bench.wrk_script(tokens=tokens, paths=paths, request=request, extra=extra)


def wrk_counted(url: str, *, lua: str, duration_s: int, connections: int) -> tuple[bench.WrkResult, int, int]:
    """`superapp.bench.wrk_run` plus the pages/hits the script counted."""
    result = bench.wrk_run(url, lua=lua, duration_s=duration_s, connections=connections)
    counts = re.search(r"BENCH_PAGES (\d+) BENCH_HITS (\d+)", result.output)
    return result, int(counts.group(1)), int(counts.group(2))


def _get_ms(url: str, token: str) -> tuple[float, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - local server
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body = json.load(response)
    return (time.perf_counter() - started) * 1000, body


class _Sampler(threading.Thread):
    """Sequential GETs of the destination page (travellers' own trip) while the load runs."""

    def __init__(self, base_url: str, tokens: list[str]) -> None:
        super().__init__(daemon=True)
        self.base_url, self.tokens, self.stop, self.latencies_ms, self.sources = base_url, tokens, False, [], Counter()

    def run(self) -> None:
        i = 0
        while not self.stop:
            ms, body = _get_ms(f"{self.base_url}/api/v1/recommendations/destination", self.tokens[i % len(self.tokens)])
            self.latencies_ms.append(ms)
            self.sources.update(s["source"].split(":")[0] for s in body["sections"])
            i += 1


def served_sources(base_url: str, *, tokens: list[str], paths: list[str]) -> Counter:
    """Which model or fallback answered a sample of the benchmarked requests (so the figures are known to
    measure the model, not a fallback)."""
    counts: Counter = Counter()
    for i, token in enumerate(tokens):
        counts[_get_ms(base_url + paths[i % len(paths)], token)[1]["source"]] += 1
    return counts


@contextlib.contextmanager
def celery_worker(env: dict[str, str]):
    """A Celery worker for the run (vector refreshes and list builds after the posted events, builds after
    misses): one process, like a small production deployment's."""
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "superapp", "worker", "--pool", "solo",
                             "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                            cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        bench.process_stop(proc)


class _CpuMeter:
    """CPU spent between laps by the server's processes, the Celery worker's and the whole machine, per request
    of the lap (ms), so a figure says where its time went."""

    def __init__(self, *, server: int, celery: int) -> None:
        self.server, self.celery = server, celery
        self.last = self._now()

    def _now(self) -> tuple[float, float, float, float]:
        finished = os.times()  # wrk: a child this process has waited for by the end of its phase
        return (bench.tree_cpu_s(self.server), bench.tree_cpu_s(self.celery), finished.children_user +
                finished.children_system, bench.machine_busy_s())

    def lap(self, requests: int) -> dict[str, float]:
        now = self._now()
        spent = [b - a for a, b in zip(self.last, now, strict=True)]
        self.last = now
        return {name: round(1000 * s / max(1, requests), 3)
                for name, s in zip(("server", "celery", "wrk", "machine"), spent, strict=True)}


def _p50(values: list[float]) -> float:
    return round(float(np.percentile(values, 50)), 2) if values else 0.0


def run(*, n_users: int, per_user: int, duration_s: int, connections: int, seed: int,
        log: Callable[[str], None]) -> dict:
    from django.core.cache import cache

    from recommender.serving.materialise import candidate_lists_build_version, list_key
    from superapp.celery import app

    users = bench_world(n_users=n_users, per_user=per_user, seed=seed, log=log)
    travellers = bench_trips(users, log=log)
    version = bench_model_activate(log=log)
    # The activation enqueued the batch build; run it here with progress instead, so the load starts warm.
    app.control.purge()
    with tqdm(total=version.n_users, desc="candidate lists", unit="user", mininterval=2) as bar:
        built = candidate_lists_build_version(version.pk, progress=lambda done, total: bar.update(done - bar.n))
    log(f"candidate lists: {built}")
    tokens = [str(AccessToken.for_user(u)) for u in users]
    traveller_tokens = [str(AccessToken.for_user(u)) for u in travellers]
    paths = []
    for user in users[:50]:
        c = user.home_city
        paths += [f"/api/v1/recommendations{q.format(lat=c.latitude, lon=c.longitude)}" for q in QUERIES]
    merchants = list(Merchant.objects.filter(is_active=True, vertical__in=conf.RECOMMENDABLE_VERTICALS)
                     .values_list("pk", flat=True))
    env = bench.server_env()
    with celery_worker(env) as celery, bench.gunicorn_server(env=env, timeout_s=240) as base_url:
        server = base_url.server_fields()
        log(f"serving on {base_url}; {server}; a Celery worker")
        lua = wrk_lua(tokens=tokens, paths=paths, merchants=merchants, post_every=POST_EVERY)
        wrk_counted(f"{base_url}/api/v1/recommendations", lua=lua, duration_s=3, connections=connections)  # warm
        served = served_sources(base_url, tokens=tokens[:SOURCE_SAMPLE], paths=paths)
        log(f"sources of {sum(served.values())} sampled pages: {dict(served)}")
        cpu = _CpuMeter(server=base_url.pid, celery=celery.pid)
        ping = bench.wrk_run(f"{base_url}/healthz", duration_s=duration_s, connections=connections)
        ping_cpu = cpu.lap(ping.requests)
        sampler = _Sampler(base_url, traveller_tokens)
        sampler.start()
        recs, pages, hits = wrk_counted(f"{base_url}/api/v1/recommendations", lua=lua, duration_s=duration_s,
                                        connections=connections)
        sampler.stop = True
        sampler.join(timeout=15)
        recs_cpu = cpu.lap(recs.requests + len(sampler.latencies_ms))
        log(f"CPU ms per request (server, Celery, wrk, whole machine incl. PostgreSQL and Redis): ping {ping_cpu}, "
            f"recommendations {recs_cpu}")
        log(f"destination pages under load: {len(sampler.latencies_ms)}, sections by source {dict(sampler.sources)}")
        # A page for a user with no list, without load: the live path (and the build it schedules).
        misses = []
        for user, token in list(zip(users, tokens, strict=True))[-MISS_SAMPLE:]:
            cache.delete(list_key(version.pk, user.pk))
            ms, body = _get_ms(f"{base_url}/api/v1/recommendations", token)
            if body["fallback_reason"] == "list_not_built":
                misses.append(ms)
        log(f"misses measured: {len(misses)} of {MISS_SAMPLE}")
    model_prefixes = (f"model:{version.algorithm}:v{version.pk}", f"materialised:{version.algorithm}:v{version.pk}")
    return {
        "recs_rps": recs.rps, "ping_rps": ping.rps, "ratio": round(recs.rps / ping.rps, 3) if ping.rps else 0.0,
        "p50_ms": recs.p50_ms, "p99_ms": recs.p99_ms, "hit_rate": round(hits / pages, 3) if pages else 0.0,
        "miss_p50_ms": _p50(misses), "destination_p50_ms": _p50(sampler.latencies_ms),
        "errors": recs.non_2xx + recs.socket_errors, "ping_p99_ms": ping.p99_ms, "requests": recs.requests,
        "pages": pages, "events_posted": recs.requests // POST_EVERY, "destination_pages": len(sampler.latencies_ms),
        "users": len(users), "merchants": Merchant.objects.filter(is_active=True).count(),
        "interactions": Interaction.objects.count(), "connections": connections,
        "database": bench.database_vendor(), **server,
        "model_version": version.pk,
        # Where the machine's time went, per request of each phase (the ratio's two sides).
        "server_cpu_ms": recs_cpu["server"], "celery_cpu_ms": recs_cpu["celery"], "wrk_cpu_ms": recs_cpu["wrk"],
        "machine_cpu_ms": recs_cpu["machine"],
        "ping_server_cpu_ms": ping_cpu["server"], "ping_wrk_cpu_ms": ping_cpu["wrk"],
        "ping_machine_cpu_ms": ping_cpu["machine"],
        "model_pages": round(sum(served[p] for p in model_prefixes) / max(1, sum(served.values())), 3),
    }
