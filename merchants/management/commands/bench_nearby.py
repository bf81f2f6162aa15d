"""Benchmark: nearby + open-now + vertical merchant search through the API under load (gunicorn + wrk).

Generates N merchants (default 100k) with opening hours around the seeded cities once (COPY on PostgreSQL,
bulk inserts elsewhere; external ids `bench-...`), then drives `GET /api/v1/merchants/nearby` with rotating
points, radii and verticals, and `GET /healthz` (ping) in the same run. Last line:
`{"nearby_rps": ..., "ping_rps": ..., "ratio": ..., "p99_ms": ..., ...}`.

Use a dedicated database, e.g. `DATABASE_URL=postgres://.../h_services_bench manage.py migrate` first.
"""

from __future__ import annotations

import io
import json
import math
import random
import time as time_module
from datetime import time

from django.contrib.auth import get_user_model
from django.core.management import BaseCommand
from django.db import connection, transaction
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from tqdm import tqdm

from merchants.geo_index import geo_index_invalidate
from merchants.models import City, Merchant, OpeningHours, Vertical
from superapp import bench

PREFIX = "bench-nearby-"  # own prefix: bench_payments' merchants are "bench-pay-..." and hold payments
VERTICALS = [Vertical.RESTAURANT, Vertical.LEISURE, Vertical.TRAVEL, Vertical.SHOPPING]
SCHEDULES = [  # weekly patterns: (weekdays, opens, closes)
    [(range(7), time(11), time(14)), (range(7), time(17), time(22))],  # lunch and dinner
    [(range(7), time(18), time(2))],  # bar, past midnight
    [(range(6), time(10), time(21))],  # shop, closed on Sundays
    [(range(7), time(0), time(0))],  # around the clock
    [(range(1, 7), time(9), time(17))],  # museum, closed on Mondays
]


def _generate(*, count: int, stdout) -> None:
    """Insert `count` merchants spread around the seeded cities, each with a weekly schedule."""
    rng = random.Random(2026)
    cities = list(City.objects.all())
    now = timezone.now()
    rows, schedules = [], []
    for i in range(count):
        city = cities[i % len(cities)]
        distance_m = abs(rng.gauss(0, 6000))
        bearing = rng.uniform(0, 2 * math.pi)
        lat = city.latitude + distance_m * math.cos(bearing) / 111_320
        lon = city.longitude + distance_m * math.sin(bearing) / (111_320 * math.cos(math.radians(city.latitude)))
        vertical = VERTICALS[rng.randrange(len(VERTICALS))]
        rows.append((f"Bench {vertical} {i}", vertical, city.pk, f"{i} Bench Street", round(lat, 6), round(lon, 6),
                     city.time_zone, rng.randint(1, 4), city.currency, rng.random() < 0.7, rng.random() < 0.1,
                     f"{PREFIX}{i}"))
        schedules.append(rng.randrange(len(SCHEDULES)))
    columns = ["name", "vertical", "city_id", "address", "latitude", "longitude", "time_zone", "price_level",
               "currency", "accepts_wallet", "tax_free", "external_id"]
    fixed = {"description": "", "languages": "[]", "photos": "[]", "requires_confirmation": False,
             "rating_count": 0, "rating_sum": 0, "is_active": True, "is_placeholder": False, "created_at": now}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy(Merchant._meta.db_table, columns + list(fixed),
                  (row + tuple(fixed.values()) for row in tqdm(rows, desc="merchants", file=stdout, mininterval=1)))
        else:
            Merchant.objects.bulk_create(
                (Merchant(**dict(zip(columns, row, strict=True)), description="", languages=[], photos=[],
                          created_at=now) for row in tqdm(rows, desc="merchants", file=stdout, mininterval=1)),
                batch_size=2000)
        ids = dict(Merchant.objects.filter(external_id__startswith=PREFIX).values_list("external_id", "pk"))
        hours = []
        for i, pattern in enumerate(schedules):
            merchant_id = ids[f"{PREFIX}{i}"]
            for weekdays, opens, closes in SCHEDULES[pattern]:
                hours.extend((merchant_id, d, opens, closes) for d in weekdays)
        if connection.vendor == "postgresql":
            _copy(OpeningHours._meta.db_table, ["merchant_id", "weekday", "opens", "closes"],
                  tqdm(hours, desc="opening hours", file=stdout, mininterval=1))
        else:
            OpeningHours.objects.bulk_create(
                (OpeningHours(merchant_id=m, weekday=d, opens=o, closes=c) for m, d, o, c in hours), batch_size=5000)
    geo_index_invalidate()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Merchant._meta.db_table}")  # noqa: S608 - table name from the model
            cursor.execute(f"ANALYZE {OpeningHours._meta.db_table}")  # noqa: S608


def _copy(table: str, columns: list[str], rows) -> None:
    raw = connection.connection  # the psycopg connection under Django's wrapper
    with raw.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


class Command(BaseCommand):
    help = "Benchmark nearby + open-now + vertical merchant search under load; prints JSON as the last line."

    def add_arguments(self, parser):
        parser.add_argument("--merchants", type=int, default=100_000)
        parser.add_argument("--duration", type=int, default=10)
        parser.add_argument("--connections", type=int, default=16)
        parser.add_argument("--radius", type=int, default=1000)

    def handle(self, *args, merchants: int, duration: int, connections: int, radius: int, **options):
        existing = Merchant.objects.filter(external_id__startswith=PREFIX).count()
        if existing < merchants:
            Merchant.objects.filter(external_id__startswith=PREFIX).delete()
            started = time_module.perf_counter()
            _generate(count=merchants, stdout=self.stderr)
            self.stderr.write(f"generated {merchants} merchants in {time_module.perf_counter() - started:.1f}s")
        total = Merchant.objects.count()
        user, _ = get_user_model().objects.get_or_create(username="bench-nearby", defaults={"is_imported": True})
        token = str(AccessToken.for_user(user))

        rng = random.Random(7)
        cities = list(City.objects.all())
        paths = []
        for i in range(64):
            city = cities[i % len(cities)]
            lat = city.latitude + rng.gauss(0, 0.02)
            lon = city.longitude + rng.gauss(0, 0.02)
            vertical = VERTICALS[i % len(VERTICALS)]
            paths.append(f"/api/v1/merchants/nearby?lat={lat:.5f}&lon={lon:.5f}&radius_m={radius}"
                         f"&open_now=true&vertical={vertical}&limit=20")

        with bench.gunicorn_server() as base_url:
            server = base_url.server_fields()
            self.stderr.write(f"serving on {base_url}; {server}; "
                              f"{total} merchants")
            # Sanity check: the endpoint answers 200 with results before we measure it.
            import urllib.request

            request = urllib.request.Request(base_url + paths[0],  # noqa: S310 - loopback
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
                sample = json.load(io.TextIOWrapper(response, encoding="utf-8"))["results"]
            # Warm-up (not measured): each worker builds its nearby index on its first request, which takes
            # seconds with 100k merchants; warm up until two consecutive short runs agree.
            previous = None
            for _ in range(10):
                warm = bench.wrk_run(base_url + paths[0], duration_s=5, connections=connections,
                                     lua=bench.wrk_script(paths=paths, tokens=[token]))
                self.stderr.write(f"warm-up: {warm.rps} req/s, p99 {warm.p99_ms} ms")
                if previous and warm.rps <= previous.rps * 1.25 and warm.p99_ms < 1000:
                    break
                previous = warm
            ping = bench.wrk_run(f"{base_url}/healthz", duration_s=duration, connections=connections)
            nearby = bench.wrk_run(base_url + paths[0], duration_s=duration, connections=connections,
                                   lua=bench.wrk_script(paths=paths, tokens=[token]))
        ratio = round(nearby.rps / ping.rps, 3) if ping.rps else 0.0
        bench.print_result(self.stdout, {
            "nearby_rps": nearby.rps, "ping_rps": ping.rps, "ratio": ratio, "p99_ms": nearby.p99_ms,
            "p50_ms": nearby.p50_ms, "ping_p99_ms": ping.p99_ms, "merchants": total,
            "sample_results": len(sample), "errors": nearby.non_2xx + nearby.socket_errors,
            "radius_m": radius, "connections": connections, "duration_s": duration,
            "database": bench.database_vendor(), **server,
        })
