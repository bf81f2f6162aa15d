"""Admin change lists of large tables with 1M rows: how long a page takes to open, now and with Django's
defaults (a full COUNT(*) per page, a second one for "N total", `date_hierarchy`), in the same run.

    manage.py bench_admin [--rows 1000000] [--repeat 5] [--keep]

--keep leaves the rows (and the next run reuses them instead of inserting them again).

PostgreSQL only (that is where the tables are large). The rows belong to a bench city, device, user and
merchant and are deleted at the end (unless --keep). The baseline is the admin's index page, measured in the
same run with the same client; the target is every large table's change list under 300 ms: unfiltered, filtered
by date and searched (`worst_ms`).
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

from django.contrib import admin
from django.core.management.base import BaseCommand
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.test import Client

from merchants.models import City, Merchant
from recommender.models import Interaction
from superapp import bench
from superapp.accounts.models import User
from traffic.models import Device, DeviceKind, Intersection, Observation, PlateSighting, RoadSegment

SLUG = "bench-admin"
TARGET_MS = 300.0


def _log(stderr, message: str) -> None:
    stderr.write(f"[bench_admin] {message}")
    stderr.flush()


class Command(BaseCommand):
    help = "Time the admin change lists of large tables with 1M rows (PostgreSQL); prints one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--repeat", type=int, default=5)
        parser.add_argument("--keep", action="store_true", help="Keep the generated rows.")

    def handle(self, *args, rows: int, repeat: int, keep: bool, **options):
        if bench.database_vendor() != "postgresql":
            raise bench.BenchError("bench_admin needs PostgreSQL (DATABASE_URL): the large tables live there.")
        world = self._world()
        try:
            self._fill(world, rows)
            client = Client()
            client.force_login(world["admin"])
            pages = {
                "observations": ("/admin/traffic/observation/", Observation, "interval_start"),
                "plate_sightings": ("/admin/traffic/platesighting/", PlateSighting, "seen_at"),
                "interactions": ("/admin/recommender/interaction/", Interaction, "occurred_at"),
            }
            index_ms = self._time(client, "/admin/", repeat)
            results = {}
            for name, (url, model, date_field) in pages.items():
                now = self._time(client, url, repeat)
                filtered = self._time(client, f"{url}?{date_field}__gte=2000-01-01+00:00:00%2B00:00", repeat)
                searched = self._time(client, f"{url}?q=nothing-matches-this", repeat)
                with self._django_defaults(model, date_field):
                    before = self._time(client, url, max(2, repeat // 2))
                sql_ms, queries, slowest = self._profile(client, url)
                results[name] = {"ms": round(now, 1), "filtered_ms": round(filtered, 1),
                                 "search_ms": round(searched, 1), "django_defaults_ms": round(before, 1),
                                 "ratio_to_index": round(now / index_ms, 2), "sql_ms": round(sql_ms, 1),
                                 "queries": queries}
                _log(self.stderr, f"{name}: where the time goes: {queries} queries, {sql_ms:.0f} ms in SQL; "
                                  f"slowest: {slowest}")
                _log(self.stderr, f"{name}: {results[name]}")
        finally:
            if not keep:
                self._clean(world)
        worst = max(r[k] for r in results.values() for k in ("ms", "filtered_ms", "search_ms"))
        bench.print_result(self.stdout, {
            "bench": "admin", "rows_per_table": rows, "repeat": repeat, "index_ms": round(index_ms, 1),
            "pages": results, "worst_ms": round(worst, 1), "target_ms": TARGET_MS, "met": worst < TARGET_MS,
        })

    # --- timing -------------------------------------------------------------------------------------------
    @staticmethod
    def _time(client: Client, url: str, repeat: int) -> float:
        response = client.get(url)  # warm: templates, caches
        assert response.status_code == 200, (url, response.status_code)
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        return statistics.median(timings)

    @staticmethod
    def _profile(client: Client, url: str) -> tuple[float, int, list[str]]:
        """One more request with its queries timed: SQL time, query count and the three slowest."""
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        timed = sorted(((float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries), reverse=True)
        return (sum(ms for ms, _ in timed), len(timed),
                [f"{ms:.0f} ms {sql[:90]}" for ms, sql in timed[:3]])

    @staticmethod
    @contextmanager
    def _django_defaults(model, date_field: str):
        """The same page as Django configures it by default (and as it was before): full counts, date_hierarchy,
        100 rows a page."""
        model_admin = admin.site._registry[model]
        names = ("paginator", "show_full_result_count", "date_hierarchy", "list_per_page")
        saved = [getattr(model_admin, name) for name in names]
        for name, value in zip(names, (Paginator, True, date_field, 100), strict=True):
            setattr(model_admin, name, value)
        try:
            yield
        finally:
            for name, value in zip(names, saved, strict=True):
                setattr(model_admin, name, value)

    # --- data ---------------------------------------------------------------------------------------------
    @staticmethod
    def _world() -> dict:
        with transaction.atomic():
            city, _ = City.objects.get_or_create(slug=SLUG, defaults={
                "name": "Bench Admin City", "country_code": "CN", "currency": "CNY", "time_zone": "Asia/Shanghai",
                "latitude": 30.0, "longitude": 120.0, "vat_rate": "0.1300"})
            a, _ = Intersection.objects.get_or_create(city=city, code=f"{SLUG}-a",
                                                      defaults={"latitude": 30.0, "longitude": 120.0})
            b, _ = Intersection.objects.get_or_create(city=city, code=f"{SLUG}-b",
                                                      defaults={"latitude": 30.01, "longitude": 120.0})
            segment, _ = RoadSegment.objects.get_or_create(city=city, code=f"{SLUG}-ab", defaults={
                "from_intersection": a, "to_intersection": b, "length_m": 1000, "speed_limit_kmh": 50,
                "free_flow_speed_kmh": 50})
            device, _ = Device.objects.get_or_create(city=city, name=f"{SLUG} camera", defaults={
                "kind": DeviceKind.CAMERA, "segment": segment, "is_plate_reader": True})
            user, _ = User.objects.get_or_create(username=f"{SLUG}-user")
            merchant, _ = Merchant.objects.get_or_create(name=f"{SLUG} merchant", city=city, defaults={
                "vertical": "restaurant", "latitude": 30.0, "longitude": 120.0, "currency": "CNY",
                "time_zone": "Asia/Shanghai"})
            admin_user, created = User.objects.get_or_create(username=f"{SLUG}-root", defaults={
                "is_staff": True, "is_superuser": True})
        return {"city": city, "segment": segment, "device": device, "user": user, "merchant": merchant,
                "admin": admin_user}

    def _fill(self, world: dict, rows: int) -> None:
        device, segment, city = world["device"], world["segment"], world["city"]
        started = time.perf_counter()
        kept = (Observation.objects.filter(sensor=device).count(), PlateSighting.objects.filter(sensor=device).count(),
                Interaction.objects.filter(user=world["user"]).count())
        if min(kept) >= rows:  # left by a run with --keep
            _log(self.stderr, f"reusing the {kept} rows a --keep run left")
            return
        self._clean(world, rows_only=True)
        with connection.cursor() as cursor:
            _log(self.stderr, f"inserting {rows} observations, plate sightings and interactions...")
            cursor.execute(f"""
                INSERT INTO {Observation._meta.db_table}
                    (sensor_id, segment_id, city_id, interval_start, interval_s, vehicle_count, mean_speed_kmh,
                     occupancy, received_at)
                SELECT %s, %s, %s, TIMESTAMPTZ '2020-01-01' + i * INTERVAL '1 minute', 60, i %% 40,
                       20 + (i %% 30), (i %% 100) / 100.0, now()
                FROM generate_series(1, %s) AS i
                ON CONFLICT DO NOTHING""", [device.pk, segment.pk, city.pk, rows])  # noqa: S608 - our table names
            _log(self.stderr, f"observations in {time.perf_counter() - started:.0f} s")
            cursor.execute(f"""
                INSERT INTO {PlateSighting._meta.db_table} (sensor_id, plate_hash, seen_at)
                SELECT %s, md5(i::text), TIMESTAMPTZ '2020-01-01' + i * INTERVAL '1 second'
                FROM generate_series(1, %s) AS i
                ON CONFLICT DO NOTHING""", [device.pk, rows])  # noqa: S608 - our table names
            _log(self.stderr, f"plate sightings in {time.perf_counter() - started:.0f} s")
            cursor.execute(f"""
                INSERT INTO {Interaction._meta.db_table}
                    (user_id, merchant_id, kind, value, occurred_at, source, client_event_id)
                SELECT %s, %s, 'view', 1.0, TIMESTAMPTZ '2020-01-01' + i * INTERVAL '1 minute', '', NULL
                FROM generate_series(1, %s) AS i""", [world["user"].pk, world["merchant"].pk, rows])  # noqa: S608
            _log(self.stderr, f"interactions in {time.perf_counter() - started:.0f} s; analysing")
            for model in (Observation, PlateSighting, Interaction):
                cursor.execute(f"ANALYZE {model._meta.db_table}")  # noqa: S608 - our table names

    def _clean(self, world: dict, rows_only: bool = False) -> None:
        _log(self.stderr, "deleting the bench rows")
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {Observation._meta.db_table} WHERE sensor_id = %s",  # noqa: S608
                           [world["device"].pk])
            cursor.execute(f"DELETE FROM {PlateSighting._meta.db_table} WHERE sensor_id = %s",  # noqa: S608
                           [world["device"].pk])
            cursor.execute(f"DELETE FROM {Interaction._meta.db_table} WHERE user_id = %s",  # noqa: S608
                           [world["user"].pk])
        if rows_only:
            return
        for key in ("device", "merchant", "user", "admin"):
            world[key].delete()
        world["city"].delete()
