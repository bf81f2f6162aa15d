"""Benchmark: observations ingested per second through the API (batches of 500 rows), and the
speed predictor's MAE against the two baselines. Last line is JSON:

    {"rows_per_s": ..., "mae": {"model": ..., "last_value": ..., "time_of_week": ...}, "ping_rps": ..., ...}

Ingestion: gunicorn (superapp.bench), wrk POSTs 500-row bodies built in Lua so that every request
carries new (sensor, interval) pairs: 500 dedicated bench cameras, one minute per request (a replay
would measure the cheap duplicate path instead). An edge gateway's device key authenticates. The
bench cameras and their rows are deleted afterwards.

MAE: the predictor's training/evaluation code (`core.predictor.train_and_evaluate`, what the nightly
job runs after loading the grid) on simulated weeks of the Hangzhou demo network, in memory. The weeks are
fixed (`--weeks`, 7 by default, ending 27 h apart from Sunday 29 Nov 2026 14:00 UTC, so their held-out last
days cover every day of the week at hours 3 h apart; week k simulated with seed 42 + k, the first being the
single week measured before): the figure no longer depends on the day it is run. `mae`
is the mean over the weeks; `predictor_beats_both` is true only if the model beats both baselines at every
horizon on every week; `mae_weeks` has each week's MAE per horizon and `min_margin_kmh` the smallest lead.
"""

from __future__ import annotations

import json
import random
import time

import numpy as np
from django.core.management import BaseCommand, CommandError

from merchants.models import City
from superapp import bench
from traffic import services
from traffic.core.network import grid_network
from traffic.core.predictor import SpeedGrid, train_and_evaluate
from traffic.core.simulator import simulate
from traffic.models import Device, DeviceKind, Observation, RoadSegment

ROWS_PER_BATCH = 500
BASE_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z: far from the demo's recent data
LAST_WEEK_END = 1_795_960_800  # Sunday 2026-11-29 14:00 UTC: the week the model once lost at 60 minutes
WEEK_STEP_S = 27 * 3600


def _ingest_lua(*, prefixes: list[str], suffixes: list[str], n_threads: int, key: str) -> str:
    """Each request POSTs one row per bench camera, all for the next minute of its thread (thread t sends
    minutes t, t + n_threads, ...): every request carries new (sensor, interval) pairs."""
    request = """
  local minute = (counter - 1) * N_THREADS + thread_id
  local stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", BASE + minute * 60)
  local parts = {}
  for i = 1, #prefixes do
    parts[i] = prefixes[i] .. stamp .. suffixes[i]
  end
  local body = '{"observations":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = AUTH}, body)
""".replace("N_THREADS", str(n_threads)).replace("BASE", str(BASE_EPOCH)).replace("AUTH", json.dumps(f"Device {key}"))
    extra = f"prefixes = {bench.lua_table(prefixes)}\nsuffixes = {bench.lua_table(suffixes)}\n"
    return bench.wrk_script(method="POST", request=request, extra=extra)


def _mae(stdout, *, weeks: int) -> dict:
    nodes, segments = grid_network(center=(30.274, 120.155), size=8, spacing_m=650, rng=random.Random(42))
    ffs = np.array([s.free_flow_speed_kmh for s in segments])
    lanes = np.array([s.lanes for s in segments], dtype=float)
    arterial = np.array([s.road_class != "local" for s in segments])
    per_week, summaries, beats = [], [], True
    started = time.perf_counter()
    for k in range(weeks):
        end = LAST_WEEK_END - k * WEEK_STEP_S
        epochs = np.arange(end - 7 * 86400, end, 300, dtype=np.int64)
        offsets = np.full(epochs.size, 8 * 3600, dtype=np.int64)  # Asia/Shanghai has no DST
        sim = simulate(free_flow_kmh=ffs, lanes=lanes, arterial=arterial, epochs=epochs, utc_offsets_s=offsets,
                       interval_s=300, rng=np.random.default_rng(42 + k))
        grid = SpeedGrid(segment_ids=np.arange(len(segments)), epochs=epochs, utc_offsets_s=offsets,
                         speed_kmh=sim.speed_kmh.astype(float), free_flow_kmh=ffs, lanes=lanes)
        trained = train_and_evaluate(grid)
        week_end = time.strftime("%a %Y-%m-%d %H:%M", time.gmtime(end))
        stdout.write(f"predictor, week ending {week_end} UTC: {trained.metrics}")
        per_week.append({"week_end": week_end, **{h: [m["model"], m["last_value"], m["time_of_week"]]
                                                  for h, m in trained.metrics.items()}})
        summaries.append(trained.summary_mae())
        beats = beats and trained.beats_baselines()
    margins = {h: round(min(min(w[h][1], w[h][2]) - w[h][0] for w in per_week), 3)
               for h in per_week[0] if h != "week_end"}
    stdout.write(f"predictor: {len(segments)} segments, {weeks} weeks of 7 days, trained and evaluated in "
                 f"{time.perf_counter() - started:.1f}s")
    mean = {k: round(float(np.mean([s[k] for s in summaries])), 3) for k in summaries[0]}
    return {**mean, "beats_both": beats, "weeks": per_week, "min_margin_kmh": margins}


class Command(BaseCommand):
    help = "Benchmark observation ingestion through the API (batches of 500) and the predictor's MAE."

    def add_arguments(self, parser):
        parser.add_argument("--duration", type=int, default=12)
        parser.add_argument("--connections", type=int, default=8)
        parser.add_argument("--threads", type=int, default=2, help="wrk threads")
        parser.add_argument("--city", default="hangzhou")
        parser.add_argument("--weeks", type=int, default=7, help="simulated weeks the predictor is evaluated on")

    def handle(self, *args, duration, connections, threads, city, weeks, **options):
        place = City.objects.filter(slug=city).first()
        if place is None:
            raise CommandError(f"unknown city {city!r}")
        if bench.database_vendor() != "postgresql":
            self.stderr.write("warning: not PostgreSQL; the figure is not representative")
        if not RoadSegment.objects.filter(city=place).exists():
            nodes, segments = grid_network(center=(place.latitude, place.longitude), size=8, spacing_m=650,
                                           rng=random.Random(42))
            services.road_network_import(city=place, nodes=nodes, segments=segments)
        segment_ids = list(RoadSegment.objects.filter(city=place).order_by("pk").values_list("pk", flat=True))
        Device.objects.filter(city=place, name__startswith="bench ").delete()  # leftovers of an aborted run
        cameras = Device.objects.bulk_create([
            Device(city=place, kind=DeviceKind.CAMERA, name=f"bench cam {i}", segment_id=segment_ids[i % len(
                segment_ids)], interval_s=60) for i in range(ROWS_PER_BATCH)])
        camera_ids = list(Device.objects.filter(city=place, name__startswith="bench cam ").values_list("pk", flat=True))
        gateway, key = services.device_register(city=place, kind=DeviceKind.GATEWAY, name="bench gateway")
        rng = random.Random(7)
        prefixes = [f'{{"sensor_id":{cid},"interval_start":"' for cid in camera_ids]
        suffixes = [f'","vehicle_count":{rng.randint(0, 60)},"mean_speed_kmh":{rng.uniform(5, 70):.1f},'
                    f'"occupancy":{rng.uniform(0, 0.6):.3f}}}' for _ in camera_ids]
        try:
            with bench.gunicorn_server() as base_url:
                server = base_url.server_fields()
                self.stderr.write(f"serving on {base_url}; {server}; "
                                  f"{len(cameras)} bench cameras")
                ping = bench.wrk_run(f"{base_url}/healthz", duration_s=duration, connections=connections,
                                     threads=threads)
                lua = _ingest_lua(prefixes=prefixes, suffixes=suffixes, n_threads=threads, key=key)
                ingest = bench.wrk_run(f"{base_url}/api/v1/traffic/observations", duration_s=duration,
                                       connections=connections, threads=threads, lua=lua)
            stored = Observation.objects.filter(sensor_id__in=camera_ids).count()
        finally:
            Device.objects.filter(pk__in=[*camera_ids, gateway.pk]).delete()
        mae = _mae(self.stdout, weeks=weeks)
        rows_per_s = round(ingest.rps * ROWS_PER_BATCH, 1)
        bench.print_result(self.stdout, {
            "rows_per_s": rows_per_s,
            "mae": {"model": mae["model"], "last_value": mae["last_value"], "time_of_week": mae["time_of_week"]},
            "ping_rps": ping.rps, "ratio": round(ingest.rps / ping.rps, 4) if ping.rps else None,
            "batch_rows": ROWS_PER_BATCH, "ingest_rps": ingest.rps, "p50_ms": ingest.p50_ms, "p99_ms": ingest.p99_ms,
            "requests": ingest.requests, "stored_rows": stored, "errors": ingest.non_2xx + ingest.socket_errors,
            "predictor_beats_both": mae["beats_both"], "min_margin_kmh": mae["min_margin_kmh"],
            "mae_weeks": mae["weeks"], "database": bench.database_vendor(),
            **server,
        })
