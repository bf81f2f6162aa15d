"""Payments throughput against PostgreSQL's own yardstick, in one run.

1. Creates (or reuses) N funded bench users and M merchants.
2. Serves the app under gunicorn and measures ping (GET /healthz), then drives authenticated
   `POST /api/v1/wallet/payments` with wrk for a fixed time: every request from a random bench user
   (its own bearer token) to a random merchant, each with a fresh Idempotency-Key.
3. Runs `pgbench -b tpcb-like` (initialised with -i) on a scratch database on the same server, same
   duration and client count.
4. Checks the ledger.

Last line: {"payments_per_s", "pgbench_tps", "ratio", "p99_ms", "ledger_ok", ...}. ratio = payments_per_s /
pgbench_tps: one wallet payment (idempotency row, 4-5 locked accounts, entries, payment row, event) against
one TPC-B-like transaction (3 updates, 1 insert).
"""

from __future__ import annotations

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
        parser.add_argument("--duration", type=int, default=15, help="Seconds per phase (payments, pgbench).")
        parser.add_argument("--connections", type=int, default=16)
        parser.add_argument("--warmup", type=int, default=5,
                            help="Seconds of payments before the measured run (not counted; 0 = none).")
        # 2 cores: one gunicorn process per core, serving as production does (gunicorn.conf.py: gevent workers, a
        # small database pool each). --threads N > 1 serves with N-thread gthread workers instead (comparisons).
        parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "0")))

    def handle(self, *args, users: int, merchants: int, duration: int, connections: int, workers: int, threads: int,
               warmup: int, **options):
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
        with bench.gunicorn_server(workers=workers, threads=threads, worker_connections=per_worker) as base_url:
            server = base_url.server_fields()
            self.stderr.write(f"serving on {base_url}; {server}")
            ping = bench.wrk_run(f"{base_url}/healthz", duration_s=max(5, duration // 2), connections=connections)
            self.stderr.write(f"ping: {ping.rps} req/s")
            if warmup:
                # Not counted: fills each worker's per-process account cache (payer wallets, merchant accounts,
                # fee shards), as on a server that has been running; a cold worker pays one ORM lookup per
                # first-seen account, ~300 per worker here, about a third of a 15 s run's payments.
                bench.wrk_run(f"{base_url}/api/v1/wallet/payments", duration_s=warmup, connections=connections,
                              lua=bench.wrk_script(method="POST", tokens=tokens, bodies=bodies, idempotency_key=True,
                                                  pick="random"))
            pay = bench.wrk_run(f"{base_url}/api/v1/wallet/payments", duration_s=duration, connections=connections,
                                lua=bench.wrk_script(method="POST", tokens=tokens, bodies=bodies, idempotency_key=True,
                                                  pick="random"))
            self.stderr.write(f"payments: {pay.rps} req/s, p99 {pay.p99_ms} ms, non-2xx {pay.non_2xx}")
        pgbench_tps = self._pgbench(duration=duration, clients=connections)
        self.stderr.write(f"pgbench tpcb-like: {pgbench_tps} tps")
        report = ledger_check()
        successful_rps = pay.rps * (1 - pay.non_2xx / pay.requests) if pay.requests else 0.0
        bench.print_result(self.stdout, {
            "payments_per_s": round(successful_rps, 1),
            "pgbench_tps": pgbench_tps,
            "ratio": round(successful_rps / pgbench_tps, 3) if pgbench_tps else None,
            "p50_ms": pay.p50_ms,
            "p99_ms": pay.p99_ms,
            "ledger_ok": report["ok"],
            "requests": pay.requests,
            "errors": pay.non_2xx + pay.socket_errors,
            "ping_rps": ping.rps,
            "ratio_to_ping": round(successful_rps / ping.rps, 3) if ping.rps else None,
            "users": len(payers), "merchants": len(shops),
            "duration_s": duration, "warmup_s": warmup, "connections": connections,
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

    def _pgbench(self, *, duration: int, clients: int) -> float:
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
        try:
            common = ["-h", params["host"], "-p", params["port"], "-U", params["user"]]
            subprocess.run(["pgbench", "-i", "-q", "-s", "1", *common, scratch], env=env, check=True,
                           capture_output=True, text=True, timeout=300)
            run = subprocess.run(["pgbench", "-b", "tpcb-like", "-c", str(clients), "-j", "2", "-T", str(duration),
                                  *common, scratch], env=env, check=True, capture_output=True, text=True,
                                 timeout=duration + 120)
            match = re.search(r"tps = ([\d.]+) \((?:without initial connection time|excluding connections)", run.stdout)
            if not match:
                match = re.search(r"tps = ([\d.]+)", run.stdout)
            if not match:
                raise CommandError(f"cannot parse pgbench output:\n{run.stdout}")
            return round(float(match.group(1)), 1)
        finally:
            with psycopg.connect(admin_dsn, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
