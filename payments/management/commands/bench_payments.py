"""Payments throughput against PostgreSQL's own yardstick, in one run.

1. Creates (or reuses) N funded bench users and M merchants.
2. Initialises `pgbench` (-i, scale 1) on a scratch database on the same server.
3. Serves the app under gunicorn and measures ping (GET /healthz), then, taking turns in `--slices` slices of the
   same length, drives authenticated `POST /api/v1/wallet/payments` with wrk (every request from a random bench user
   with its own bearer token to a random merchant, each with a fresh Idempotency-Key) and runs
   `pgbench -b tpcb-like` with the same client count: both are measured across the same minutes.
4. Checks the ledger.

Last line: {"payments_per_s", "pgbench_tps", "ratio", "p99_ms", "ledger_ok", ...}. ratio = payments_per_s /
pgbench_tps: one wallet payment (idempotency row, 4-5 locked accounts, entries, payment row, event) against
one TPC-B-like transaction (3 updates, 1 insert).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from datetime import timedelta

import psycopg
from django.conf import settings
from django.core.management import BaseCommand, CommandError
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from merchants.models import City, Merchant
from payments import services
from payments.checks import ledger_check
from payments.models import Account, AccountKind, FundingSource
from superapp import bench
from superapp.accounts.models import User
from superapp.money import Money


class Command(BaseCommand):
    help = "Benchmark wallet payments through gunicorn against pgbench tpcb-like on the same server (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=200)
        parser.add_argument("--merchants", type=int, default=50)
        parser.add_argument("--duration", type=int, default=15, help="Seconds of payments, and of pgbench, in all.")
        parser.add_argument("--slices", type=int, default=3,
                            help="Payments and pgbench take turns in this many slices of duration/slices seconds.")
        parser.add_argument("--connections", type=int, default=16)
        parser.add_argument("--warmup", type=int, default=5,
                            help="Seconds of payments before the measured run (not counted; 0 = none).")
        # 2 cores: one gunicorn process per core, serving as production does (gunicorn.conf.py: gevent workers, a
        # small database pool each). --threads N > 1 serves with N-thread gthread workers instead (comparisons).
        parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "0")))

    def handle(self, *args, users: int, merchants: int, duration: int, connections: int, workers: int, threads: int,
               warmup: int, slices: int, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_payments needs PostgreSQL: set DATABASE_URL=postgres://...")
        for tool in ("pgbench",):
            if subprocess.run(["which", tool], capture_output=True, check=False).returncode:
                raise CommandError(f"{tool} is not installed")
        payers, shops = self._fixtures(n_users=users, n_merchants=merchants)
        tokens = []
        for user in payers:
            token = AccessToken.for_user(user)
            token.set_exp(lifetime=timedelta(hours=2))
            tokens.append(str(token))
        bodies = [json.dumps({"merchant_id": m.pk, "amount": f"{(i % 90) + 10}.{i % 100:02d}"})
                  for i, m in enumerate(shops * 4)]

        # Each worker takes its share of wrk's keep-alive connections (without the cap one worker often took
        # most of them, so one core's worth of Python served the run: superapp.bench.gunicorn_server).
        per_worker = max(threads, -(-connections // workers))
        slice_s = max(1, duration // slices)
        with self._pgbench_database() as pgbench, \
                bench.gunicorn_server(workers=workers, threads=threads, worker_connections=per_worker) as base_url:
            server = base_url.server_fields()
            self.stderr.write(f"serving on {base_url}; {server}")
            ping = bench.wrk_run(f"{base_url}/healthz", duration_s=max(5, duration // 2), connections=connections)
            self.stderr.write(f"ping: {ping.rps} req/s")
            lua = bench.wrk_script(method="POST", tokens=tokens, bodies=bodies, idempotency_key=True, pick="random")
            if warmup:
                # Not counted: fills each worker's per-process account cache (payer wallets, merchant accounts,
                # fee shards), as on a server that has been running; a cold worker pays one ORM lookup per
                # first-seen account, ~300 per worker here, about a third of a 15 s run's payments.
                bench.wrk_run(f"{base_url}/api/v1/wallet/payments", duration_s=warmup, connections=connections,
                              lua=lua)
            # Payments and pgbench take turns in `slices` slices of the same length: this machine's CPU does more or
            # less work per second from one minute to the next (docs/payments.md, round 2 session 11: the same code
            # at the same share of the cores did 394-515 payments/s), so each side is measured across the same
            # minutes. The server sits idle while pgbench runs.
            pays, tps = [], []
            for _ in range(slices):
                pays.append(bench.wrk_run(f"{base_url}/api/v1/wallet/payments", duration_s=slice_s,
                                          connections=connections, lua=lua))
                tps.append(pgbench(duration=slice_s, clients=connections))
                self.stderr.write(f"payments: {pays[-1].rps} req/s, p99 {pays[-1].p99_ms} ms, "
                                  f"non-2xx {pays[-1].non_2xx}; pgbench tpcb-like: {tps[-1]} tps")
        report = ledger_check()
        # Each slice lasts slice_s: the means are the rates over the whole measured time.
        successful_rps = sum(p.rps * (1 - p.non_2xx / p.requests) if p.requests else 0.0 for p in pays) / slices
        pgbench_tps = round(sum(tps) / slices, 1)
        bench.print_result(self.stdout, {
            "payments_per_s": round(successful_rps, 1),
            "pgbench_tps": pgbench_tps,
            "ratio": round(successful_rps / pgbench_tps, 3) if pgbench_tps else None,
            "p50_ms": round(sorted(p.p50_ms for p in pays)[slices // 2], 2),  # the median slice's
            "p99_ms": max(p.p99_ms for p in pays),  # the worst slice's
            "ledger_ok": report["ok"],
            "requests": sum(p.requests for p in pays),
            "errors": sum(p.non_2xx + p.socket_errors for p in pays),
            "ping_rps": ping.rps,
            "ratio_to_ping": round(successful_rps / ping.rps, 3) if ping.rps else None,
            "users": len(payers), "merchants": len(shops),
            "duration_s": slice_s * slices, "slices": slices, "warmup_s": warmup, "connections": connections,
            **server, "threads": threads, "worker_connections": per_worker,
        })

    def _fixtures(self, *, n_users: int, n_merchants: int):
        city = City.objects.filter(slug="hangzhou").first() or City.objects.first()
        if city is None:
            raise CommandError("No cities: run `manage.py migrate` first.")
        existing = {u.username: u for u in User.objects.filter(username__startswith="bench_pay_")}
        new = [User(username=f"bench_pay_{i:04d}", home_city=city, current_city=city, home_currency=city.currency)
               for i in range(n_users) if f"bench_pay_{i:04d}" not in existing]
        for user in new:
            user.set_unusable_password()
        User.objects.bulk_create(new)
        payers = list(User.objects.filter(username__startswith="bench_pay_").order_by("username")[:n_users])
        for user in payers:
            wallet = Account.objects.filter(kind=AccountKind.USER, user=user, currency=city.currency).first()
            if wallet is None or wallet.balance < 10_000_000:
                source = (FundingSource.objects.filter(user=user, is_active=True).first()
                          or services.funding_source_add(user=user, label="Bench card", currency=city.currency))
                services.wallet_top_up(user=user, funding_source=source, amount=Money(50_000_000, city.currency))
        shops = []
        for i in range(n_merchants):
            shop, _ = Merchant.objects.get_or_create(
                external_id=f"bench-pay-{i:04d}",
                defaults={"name": f"Bench merchant {i}", "vertical": "restaurant", "city": city,
                          "currency": city.currency, "latitude": city.latitude, "longitude": city.longitude,
                          "time_zone": city.time_zone, "accepts_wallet": True})
            shops.append(shop)
        self.stderr.write(f"fixtures: {len(payers)} funded users, {len(shops)} merchants")
        return payers, shops

    @contextlib.contextmanager
    def _pgbench_database(self):
        """A scratch database initialised for `pgbench -b tpcb-like` (scale 1) on the same server; yields
        `run(duration=, clients=) -> tps`. Created before the measured phase (CREATE DATABASE forces a checkpoint)
        and dropped at the end."""
        db = settings.DATABASES["default"]
        scratch = f"{db['NAME']}_pgbench"
        params = {"host": db.get("HOST") or "127.0.0.1", "port": str(db.get("PORT") or 5432),
                  "user": db.get("USER") or "postgres"}
        env = {"PGPASSWORD": db.get("PASSWORD") or "", "PATH": "/usr/bin:/bin:/usr/local/bin"}
        admin_dsn = f"host={params['host']} port={params['port']} user={params['user']} dbname=postgres"
        if db.get("PASSWORD"):
            admin_dsn += f" password={db['PASSWORD']}"
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
            admin.execute(f'CREATE DATABASE "{scratch}"')
        common = ["-h", params["host"], "-p", params["port"], "-U", params["user"]]

        def run(*, duration: int, clients: int) -> float:
            completed = subprocess.run(["pgbench", "-b", "tpcb-like", "-c", str(clients), "-j", "2", "-T",
                                        str(duration), *common, scratch], env=env, check=True, capture_output=True,
                                       text=True, timeout=duration + 120)
            match = re.search(r"tps = ([\d.]+) \((?:without initial connection time|excluding connections)",
                              completed.stdout)
            if not match:
                match = re.search(r"tps = ([\d.]+)", completed.stdout)
            if not match:
                raise CommandError(f"cannot parse pgbench output:\n{completed.stdout}")
            return round(float(match.group(1)), 1)

        try:
            subprocess.run(["pgbench", "-i", "-q", "-s", "1", *common, scratch], env=env, check=True,
                           capture_output=True, text=True, timeout=300)
            yield run
        finally:
            with psycopg.connect(admin_dsn, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
