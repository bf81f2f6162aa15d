"""Benchmark: end-to-end retrain (extract → artifact) against a bare implicit ALS fit on the same matrix.

A synthetic power-law data set (default 10M interactions, 200k users x 50k merchants) is stored in the
database once (`COPY ... FORMAT BINARY` on PostgreSQL) and reused by later runs. Then, each in a fresh
process so that its peak memory is its own:

* cold retrain: `recommender.services.model_train` with the ML core's default ALS parameters (the same
  service Celery runs), every stage timed, with no extract snapshot (it extracts everything and keeps one);
* warm retrain: the same after `--new` (1 %) new interactions, as a scheduled retrain runs (it reads only the
  new rows; they are deleted at the end of the round);
* bare: `implicit.cpu.als.AlternatingLeastSquares(...).fit()` with the same factors, iterations and
  regularisation on the confidence matrix the warm run saved with its artifact (all interactions; the
  retrain fitted on that minus the evaluation holdout, so the bare fit does slightly more work).

Three rounds by default (`--repeat`), each cold, warm, bare, and the fastest of each side compared: the same bare
fit, run back to back on the project's 2-core VM, takes anywhere in 77-91 s. Before each phase the bench's own
database writes are flushed (`CHECKPOINT`, `sync`) and it waits for a quiet second.

The last line is one JSON object: end_to_end_s, bare_fit_s, ratio, stages, peak_rss_mb (the warm retrain's),
`cold` (the cold retrain's figures) and every round's samples, with what else the machine ran during each phase
(`others_cpu_s`, `steal_s`).
Use --scale 0.1 while developing. At full size, generate first without the lock
(`manage.py bench_training --generate-only`, ~23 min on a loaded 2-core machine), then measure under it:
`flock /tmp/superapp-bench.lock .venv/bin/python manage.py bench_training`.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction
from tqdm import tqdm

from merchants.models import Merchant, Vertical
from recommender import conf
from recommender.ml.models import DEFAULT_PARAMS
from recommender.models import Interaction, ModelVersion, TrainingConfig
from superapp.accounts.models import User
from superapp.bench import database_vendor, machine_busy_s, machine_steal_s, print_result

PREFIX = "bench:"
BENCH_CONFIG = "bench-als"
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
# kind, share: mostly browsing, some money and bookings, like a live app.
KIND_MIX = [("view", 0.45), ("click", 0.15), ("checkin", 0.15), ("payment", 0.12), ("save", 0.06),
            ("booking", 0.04), ("review", 0.02), ("refund", 0.01)]

REVIEW = [name for name, _ in KIND_MIX].index("review")


def _ratio(retrain: dict, bare: dict) -> float | None:
    return round(retrain["end_to_end_s"] / bare["bare_fit_s"], 3) if bare["bare_fit_s"] else None


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork+exec, so
    a child would report the parent's peak (the data generator's) instead of its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Command(BaseCommand):
    help = "End-to-end recommender retrain vs a bare implicit ALS fit on a synthetic power-law data set."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0,
                            help="Fraction of 10M interactions / 200k users / 50k merchants (e.g. 0.1).")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--regenerate", action="store_true", help="Delete and regenerate the data set.")
        parser.add_argument("--generate-only", dest="generate_only", action="store_true",
                            help="Only make sure the data set exists (no measurement; run it outside the bench lock).")
        parser.add_argument("--repeat", type=int, default=3,
                            help="Alternate the retrain and the bare fit this many times and compare the fastest of "
                                 "each (one bare fit run four times back to back on the project's VM took 77-91 s: "
                                 "one round is not a measurement).")
        parser.add_argument("--new", dest="new_share", type=float, default=0.01,
                            help="Share of new interactions inserted between the cold and the warm retrain "
                                 "(deleted again at the end).")
        parser.add_argument("--phase", choices=["all", "retrain", "bare"], default="all",
                            help=argparse_suppress())
        parser.add_argument("--model-version", dest="model_version", type=int, help=argparse_suppress())

    def handle(self, *args, scale=1.0, seed=7, regenerate=False, generate_only=False, repeat=1, phase="all",
               model_version=None, new_share=0.01, **options):
        if phase == "retrain":
            return self._retrain()
        if phase == "bare":
            return self._bare(model_version)
        n_interactions, n_users, n_items = int(10_000_000 * scale), int(200_000 * scale), int(50_000 * scale)
        self.stderr.write(f"bench_training on {database_vendor()}: {n_interactions:,} interactions, "
                          f"{n_users:,} users x {n_items:,} merchants")
        started = time.perf_counter()
        generated = self._ensure_data(n_interactions, n_users, n_items, seed=seed, regenerate=regenerate)
        generate_s = round(time.perf_counter() - started, 1)
        self.stderr.write(f"data set {'generated' if generated else 'reused'} in {generate_s}s")
        if generate_only:
            print_result(self.stdout, {"generated": generated, "data_generated_s": generate_s, "scale": scale,
                                       "interactions": n_interactions, "users": n_users, "items": n_items,
                                       "database": database_vendor()})
            return
        load_start = os.getloadavg()[0]
        colds, retrains, bares = [], [], []
        n_new = int(n_interactions * new_share)
        for round_ in range(1, max(1, repeat) + 1):
            # Cold: no snapshot (the first retrain, or one after a delete); it extracts everything and keeps
            # the snapshot. Warm: a scheduled retrain after `n_new` new interactions, read incrementally.
            shutil.rmtree(conf.extract_snapshot_dir(), ignore_errors=True)
            self.stderr.write(f"[{round_}/{max(1, repeat)}] cold retraining (no extract snapshot) ...")
            cold = self._child("retrain")
            self.stderr.write(f"cold: {cold['end_to_end_s']}s {cold['stages']} {cold['extract']}")
            with self._new_interactions(n_new, n_users, n_items, seed=seed + round_):
                self.stderr.write(f"{n_new:,} new interactions; warm retraining ...")
                retrain = self._child("retrain")
                self.stderr.write(f"warm: {retrain['end_to_end_s']}s {retrain['stages']} {retrain['extract']}; "
                                  "bare implicit fit ...")
                bare = self._child("bare", "--model-version", str(retrain["version"]))
            self.stderr.write(f"bare: {bare['bare_fit_s']}s")
            colds.append(cold)
            retrains.append(retrain)
            bares.append(bare)
        # The fastest of each side: both run the same work each round, so the slower samples are the ones other
        # processes slowed down (all samples are printed).
        cold = min(colds, key=lambda r: r["end_to_end_s"])
        retrain = min(retrains, key=lambda r: r["end_to_end_s"])
        bare = min(bares, key=lambda b: b["bare_fit_s"])
        by_phase = {"cold": colds, "warm": retrains, "bare": bares}
        print_result(self.stdout, {
            # The ratio is the warm retrain's (what the scheduled retrain does); the cold one's is beside it.
            "end_to_end_s": retrain["end_to_end_s"], "bare_fit_s": bare["bare_fit_s"],
            "ratio": _ratio(retrain, bare), "stages": retrain["stages"],
            "overhead_s": round(retrain["end_to_end_s"] - retrain["stages"]["fit"], 3),
            "extract": retrain["extract"], "new_interactions": n_new,
            "cold": {"end_to_end_s": cold["end_to_end_s"], "ratio": _ratio(cold, bare),
                     "stages": cold["stages"], "overhead_s": round(cold["end_to_end_s"] - cold["stages"]["fit"], 3),
                     "extract": cold["extract"], "peak_rss_mb": cold["peak_rss_mb"]},
            "peak_rss_mb": retrain["peak_rss_mb"], "bare_peak_rss_mb": bare["peak_rss_mb"],
            "interactions": retrain["n_interactions"], "users": retrain["n_users"], "items": retrain["n_items"],
            "nnz": retrain["nnz"], "factors": retrain["factors"], "iterations": retrain["iterations"],
            "threads": retrain["threads"], "database": database_vendor(), "scale": scale,
            "data_generated_s": generate_s if generated else None, "ndcg": retrain["ndcg"],
            "popularity_ndcg": retrain["popularity_ndcg"], "repeat": len(retrains),
            "samples": {"end_to_end_s": [r["end_to_end_s"] for r in retrains],
                        "fit_s": [r["stages"]["fit"] for r in retrains],
                        "cold_end_to_end_s": [r["end_to_end_s"] for r in colds],
                        "bare_fit_s": [b["bare_fit_s"] for b in bares],
                        # Each round's own ratios (its retrains against the bare fit that followed them): how far
                        # one round's reading moves with the minute it ran in.
                        "round_ratio": [_ratio(r, b) for r, b in zip(retrains, bares, strict=True)],
                        "round_cold_ratio": [_ratio(c, b) for c, b in zip(colds, bares, strict=True)],
                        # What else ran during each phase (see `_child`): CPU seconds of other processes and the
                        # kernel, and steal; a phase that another process slowed down shows here.
                        **{key: {name: [p[key] for p in phases] for name, phases in by_phase.items()}
                           for key in ("others_cpu_s", "steal_s")}},
            "loadavg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        })

    @contextmanager
    def _new_interactions(self, n: int, n_users: int, n_items: int, *, seed: int) -> Iterator[None]:
        """`n` interactions of the last day by the bench's users, as if they came in since the last retrain;
        deleted on the way out (the delete bumps the extract generation: the next round starts cold anyway)."""
        above = Interaction.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        if n:
            rng = np.random.default_rng(seed)
            users = np.array(User.objects.filter(external_id__startswith=PREFIX).values_list("pk", flat=True))
            items = np.array(Merchant.objects.filter(external_id__startswith=PREFIX).values_list("pk", flat=True))
            kinds = rng.choice(len(KIND_MIX), size=n, p=[share for _, share in KIND_MIX])
            self._insert(rng.choice(users, n), rng.choice(items, n), kinds,
                         np.where(kinds == REVIEW, rng.integers(1, 6, n), 1).astype(np.float64),
                         time.time() - rng.uniform(0, 86400, n))
        try:
            yield
        finally:
            if n:
                table = Interaction._meta.db_table
                with connection.cursor() as cursor:
                    cursor.execute(f"DELETE FROM {table} WHERE id > %s", [above])  # noqa: S608
                    if connection.vendor == "postgresql":
                        cursor.execute(f"VACUUM {table}")

    # --------------------------------------------------------------------------------- phases

    def _child(self, phase: str, *extra: str) -> dict:
        """Run one phase in a fresh process, once the bench's own writes are on disk and the machine is quiet.

        Adds what else the machine did meanwhile: `others_cpu_s`, CPU seconds spent by every other process
        (the database serving the extract among them) and the kernel, and `steal_s`, time the hypervisor gave
        this machine's cores to someone else."""
        self._settle()
        command = [sys.executable, "manage.py", "bench_training", "--phase", phase, *extra]
        busy, steal = machine_busy_s(), machine_steal_s()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = subprocess.run(command, cwd=settings.BASE_DIR, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if completed.returncode != 0:
            raise CommandError(f"{phase} failed:\n{completed.stderr[-3000:]}")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        own = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        stolen = machine_steal_s() - steal
        result["others_cpu_s"] = round(max(0.0, machine_busy_s() - busy - stolen - own), 2)
        result["steal_s"] = round(stolen, 2)
        return result

    def _settle(self, *, quiet_share: float = 0.1, timeout_s: float = 60.0) -> None:
        """Before a measured phase: the database's dirty pages (the bench's own inserts and deletes) written out
        now (`CHECKPOINT`, then `sync`), rather than by the checkpointer during the next fit, and then a wait (at
        most `timeout_s`) for a second in which the machine's cores are at most `quiet_share` busy."""
        if connection.vendor == "postgresql":
            try:
                with connection.cursor() as cursor:
                    cursor.execute("CHECKPOINT")
            except DatabaseError:  # CHECKPOINT needs a superuser or pg_checkpoint: the checkpointer then does it
                pass
        os.sync()
        cores = os.cpu_count() or 1
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            busy = machine_busy_s()
            time.sleep(1.0)
            if machine_busy_s() - busy <= quiet_share * cores:
                return

    def _retrain(self) -> None:
        from recommender.services import model_train

        params = dict(DEFAULT_PARAMS["als"])
        config, _ = TrainingConfig.objects.update_or_create(name=BENCH_CONFIG, defaults={
            "algorithm": "als", "params": params, "notes": "bench_training: the ML core's default ALS parameters"})
        started = time.perf_counter()
        version = model_train(config=config, triggered_by="bench", activate=False)
        total = round(time.perf_counter() - started, 3)
        try:  # what the extract did (the snapshot's record of it; none when it kept no snapshot)
            extract = json.loads((conf.extract_snapshot_dir() / "meta.json").read_text())["last_extract"]
        except (OSError, ValueError, KeyError):
            extract = None
        print_result(self.stdout, {
            "version": version.pk, "end_to_end_s": total, "stages": version.stage_timings, "extract": extract,
            "peak_rss_mb": _peak_rss_mb(), "n_interactions": version.n_interactions, "n_users": version.n_users,
            "n_items": version.n_items, "nnz": version.nnz, "factors": params["factors"],
            "iterations": params["iterations"], "threads": conf.train_threads() or os.cpu_count(),
            "ndcg": version.metrics.get("ndcg"), "popularity_ndcg": version.baseline_metrics.get("ndcg"),
        })

    def _bare(self, version_id: int) -> None:
        import scipy.sparse as sp
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        from recommender.training import matrix_path

        version = ModelVersion.objects.get(pk=version_id)
        matrix = sp.load_npz(matrix_path(version.artifact_path)).tocsr().astype(np.float32)
        params = version.params
        model = AlternatingLeastSquares(factors=int(params["factors"]), regularization=float(params["regularization"]),
                                        alpha=float(params["alpha"]), iterations=int(params["iterations"]),
                                        random_state=params["random_state"], num_threads=conf.train_threads())
        with threadpool_limits(1, "blas"):  # as implicit's docs recommend, and as the service does
            started = time.perf_counter()
            model.fit(matrix, show_progress=False)
            elapsed = time.perf_counter() - started
        print_result(self.stdout, {"bare_fit_s": round(elapsed, 3), "peak_rss_mb": _peak_rss_mb(),
                                   "nnz": int(matrix.nnz)})

    # ----------------------------------------------------------------------------------- data

    def _ensure_data(self, n_interactions: int, n_users: int, n_items: int, *, seed: int, regenerate: bool) -> bool:
        users = User.objects.filter(external_id__startswith=PREFIX)
        items = Merchant.objects.filter(external_id__startswith=PREFIX)
        have = Interaction.objects.filter(user__external_id__startswith=PREFIX).count() if users.exists() else 0
        if not regenerate and users.count() == n_users and items.count() == n_items and have == n_interactions:
            return False
        self.stderr.write("removing the previous bench data set ..." if users.exists() else "generating ...")
        Interaction.objects.filter(user__in=users).delete() if have else None
        users.delete()
        items.delete()
        user_pks = self._create_users(n_users)
        item_pks = self._create_items(n_items)
        rng = np.random.default_rng(seed)
        # Power laws on both sides: a few users and merchants carry most of the interactions.
        user_weights = rng.pareto(1.5, n_users) + 1.0
        item_weights = 1.0 / np.arange(1, n_items + 1) ** 0.9
        rng.shuffle(item_weights)
        now = time.time()
        chunk = 1_000_000
        with tqdm(total=n_interactions, unit="rows", unit_scale=True, file=sys.stderr, desc="interactions") as bar:
            for start in range(0, n_interactions, chunk):
                size = min(chunk, n_interactions - start)
                u = user_pks[rng.choice(n_users, size=size, p=user_weights / user_weights.sum())]
                m = item_pks[rng.choice(n_items, size=size, p=item_weights / item_weights.sum())]
                kinds = rng.choice(len(KIND_MIX), size=size, p=[share for _, share in KIND_MIX])
                ts = now - rng.uniform(0, 180 * 86400, size)
                values = np.where(kinds == REVIEW, rng.integers(1, 6, size), 1).astype(np.float64)  # ratings
                self._insert(u, m, kinds, values, ts)
                bar.update(size)
        if connection.vendor == "postgresql":
            # Set the hint bits and statistics now, so the first measured extract does not pay for them.
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM (ANALYZE) {Interaction._meta.db_table}")
        return True

    def _create_users(self, n: int) -> np.ndarray:
        password = make_password(None)
        for start in tqdm(range(0, n, 10_000), desc="users", file=sys.stderr):
            User.objects.bulk_create([
                User(username=f"bench-{i}", external_id=f"{PREFIX}{i}", is_imported=True, password=password)
                for i in range(start, min(start + 10_000, n))], batch_size=10_000)
        return np.array(list(User.objects.filter(external_id__startswith=PREFIX).order_by("pk")
                             .values_list("pk", flat=True)), dtype=np.int64)

    def _create_items(self, n: int) -> np.ndarray:
        for start in tqdm(range(0, n, 10_000), desc="merchants", file=sys.stderr):
            Merchant.objects.bulk_create([
                Merchant(name=f"Bench merchant {i}", vertical=Vertical.RESTAURANT, external_id=f"{PREFIX}{i}",
                         is_placeholder=True) for i in range(start, min(start + 10_000, n))], batch_size=10_000)
        return np.array(list(Merchant.objects.filter(external_id__startswith=PREFIX).order_by("pk")
                             .values_list("pk", flat=True)), dtype=np.int64)

    def _insert(self, users, merchants, kinds, values, timestamps) -> None:
        if connection.vendor != "postgresql":
            rows = [Interaction(user_id=int(u), merchant_id=int(m), kind=KIND_MIX[k][0], value=float(v),
                                occurred_at=datetime.fromtimestamp(t, tz=UTC))
                    for u, m, k, v, t in zip(users, merchants, kinds, values, timestamps, strict=True)]
            Interaction.objects.bulk_create(rows, batch_size=5000)
            return
        table = Interaction._meta.db_table
        with transaction.atomic(), connection.cursor() as cursor:
            # Generated rows reference the users and merchants just created: skip the per-row FK triggers
            # (superuser only; without the privilege the checks simply run).
            try:
                with transaction.atomic():
                    cursor.execute("SET LOCAL session_replication_role = replica")
            except DatabaseError:
                pass
            self._copy(cursor, table, users, merchants, kinds, values, timestamps)

    def _copy(self, cursor, table, users, merchants, kinds, values, timestamps) -> None:
        with cursor.cursor.copy(
                f"COPY {table} (user_id, merchant_id, kind, value, occurred_at, source) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
            # One kind per block, so every row of the block has the same width: one numpy record per row.
            for code, (name, _) in enumerate(KIND_MIX):
                select = kinds == code
                n = int(select.sum())
                if not n:
                    continue
                kind_bytes = name.encode()
                row = np.dtype([("n", ">i2"), ("l1", ">i4"), ("user", ">i8"), ("l2", ">i4"), ("merchant", ">i8"),
                                ("l3", ">i4"), ("kind", f"S{len(kind_bytes)}"), ("l4", ">i4"), ("value", ">f8"),
                                ("l5", ">i4"), ("ts", ">i8"), ("l6", ">i4")])
                block = np.zeros(n, dtype=row)
                block["n"], block["l1"], block["l2"], block["l3"] = 6, 8, 8, len(kind_bytes)
                block["l4"], block["l5"], block["l6"] = 8, 8, 0  # source: empty string
                block["user"], block["merchant"], block["kind"] = users[select], merchants[select], kind_bytes
                block["value"] = values[select]
                block["ts"] = ((timestamps[select] - PG_EPOCH) * 1_000_000).astype(np.int64)  # µs since 2000
                copy.write(block.tobytes())
            copy.write(struct.pack(">h", -1))


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS
