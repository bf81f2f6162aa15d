"""The bank test: the wallet under concurrent clients while its processes and services are killed.

Everything runs against a PRIVATE PostgreSQL cluster and a PRIVATE Redis started by this command in a
temporary directory on free ports (never the shared services), torn down at the end:

1. `initdb` + `pg_ctl` (as the `postgres` user when run as root) and `redis-server --save ""`;
   `migrate` and `--phase setup` (users with a card and a first top-up, merchants with owners) run in
   subprocesses with `DATABASE_URL`/`REDIS_URL` pointing at them; then gunicorn serves the app on them.
2. `--clients` threads do top-ups, payments, transfers, partial refunds (as the merchant's owner) and
   withdrawals through the API, each with a fresh `Idempotency-Key`. A connection error, a timeout or a 5xx
   is retried with the SAME key and body until the answer is definitive (2xx = acked, 4xx = refused).
3. Meanwhile, every `--fault-every` seconds, one fault: SIGKILL a gunicorn worker, restart PostgreSQL
   (alternately `-m fast` and `-m immediate`, i.e. a crash with recovery) or kill and restart Redis.
4. After the run every answered operation is replayed with its key: the response must be identical.
5. `--phase verify` (on the private database): `ledger_check`; all accounts sum to zero per currency;
   wallets + merchants + fees = top-ups - withdrawals (drift in minor units); every acked operation exists
   once, with the transaction id it answered, and its transaction is in the user's statement exactly once;
   no money object exists that no stored idempotent outcome points at (duplicated or ghost work).

Last line: {"acked", "refused", "lost", "duplicated", "drift_minor_units", "http_5xx", "faults"}. `lost` counts
acked operations missing, changed on replay or not exactly once in the statement; `http_5xx` counts every
5xx except `503` with `Retry-After` (the documented "database restarting, retry" answer, counted apart as
`http_503` in the line before); connection errors from killed workers are expected and retried. Exit 1 if
lost, duplicated, drift or http_5xx is not 0, or the ledger check fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management import BaseCommand, CommandError

from superapp import bench

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
# The ports this command may use for the servers it starts (`--ports START-END` or BANK_TEST_PORTS: on a
# machine shared by several people each has a range of their own).
PORT_RANGE = range(18200, 18300)


def _port_range(text: str | None) -> range:
    if not text:
        return PORT_RANGE
    try:
        start, end = (int(part) for part in text.split("-"))
    except ValueError:
        raise CommandError(f"--ports takes START-END, e.g. 18300-18499, not {text!r}") from None
    if not 1024 <= start <= end <= 65535:
        raise CommandError(f"--ports: {text!r} is not a range of ports within 1024-65535")
    return range(start, end + 1)
CURRENCY = "CNY"
EXPECTED_NO_OUTCOME = (ConnectionError, TimeoutError, OSError, http.client.HTTPException)


def _free_port(taken: set[int], ports: range = PORT_RANGE) -> int:
    for port in random.sample(list(ports), len(ports)):
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise CommandError(f"no free port in {ports.start}-{ports.stop - 1}")


def _log(message: str) -> None:
    sys.stderr.write(f"[bank {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


class PrivatePostgres:
    """A throwaway cluster: initdb in a temp dir, trust auth, loopback only, fsync off (it is thrown away)."""

    def __init__(self, root: Path, port: int) -> None:
        if not PG_BIN_CANDIDATES:
            raise CommandError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
        self.bin, self.port = PG_BIN_CANDIDATES[0], port
        self.dir, self.log = root / "pg", root / "pg.log"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.restarts = 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_postgres, *args], capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> None:
        root = self.dir.parent
        if self.as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(root, entry.pw_uid, entry.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync")
        self._ctl("start")

    def _ctl(self, action: str, *extra: str) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir.parent} "
                   "-c fsync=off -c max_connections=60")
        self._run(str(self.bin / "pg_ctl"), action, "-D", str(self.dir), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, *extra)

    def restart(self) -> str:
        mode = "immediate" if self.restarts % 2 else "fast"  # immediate = a crash: recovery on start
        self.restarts += 1
        self._ctl("restart", "-m", mode)
        return f"postgres_restart_{mode}"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "stop", "-D", str(self.dir), "-m", "immediate", "-w", check=False)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


class PrivateRedis:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port, self.proc = root, port, None

    def start(self) -> None:
        if shutil.which("redis-server") is None:
            raise CommandError("redis-server is not installed")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise CommandError("private redis-server did not start")

    def restart(self) -> str:
        self.stop()
        time.sleep(0.5)  # a moment of outage
        self.start()
        return "redis_restart"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Gunicorn:
    def __init__(self, root: Path, port: int, env: dict[str, str], workers: int, threads: int) -> None:
        self.port, self.env, self.log = port, env, root / "gunicorn.log"
        # As production serves (gunicorn.conf.py: gevent workers, a database pool each) unless --threads > 1.
        self.cmd = [*bench.gunicorn_command(port, workers=workers, threads=threads),
                    "--timeout", "60", "--graceful-timeout", "5"]
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, cwd=settings.BASE_DIR, env=self.env,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CommandError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(*EXPECTED_NO_OUTCOME):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            time.sleep(0.2)
        raise CommandError("gunicorn did not become healthy")

    def workers(self) -> list[int]:
        return bench.child_pids(self.proc.pid)

    def kill_worker(self) -> str:
        pids = self.workers()
        if pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(random.choice(pids), signal.SIGKILL)
        return "worker_kill"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Client:
    """One API call = one operation: retried with the same key and body until a definitive answer."""

    def __init__(self, port: int, stats: Counter, lock: threading.Lock) -> None:
        self.port, self.stats, self.lock = port, stats, lock

    def _count(self, name: str) -> None:
        with self.lock:
            self.stats[name] += 1

    def once(self, path: str, token: str, body: dict, key: str) -> tuple[int, dict, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request("POST", path, body=json.dumps(body), headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key})
            response = conn.getresponse()
            raw = response.read()
            return response.status, dict(response.getheaders()), (json.loads(raw) if raw else {})
        finally:
            conn.close()

    def call(self, path: str, token: str, body: dict, give_up_at: float) -> tuple[int | None, dict, str]:
        key = uuid.uuid4().hex
        while time.monotonic() < give_up_at:
            try:
                status, headers, data = self.once(path, token, body, key)
            except EXPECTED_NO_OUTCOME:
                self._count("connection_errors")
                time.sleep(random.uniform(0.1, 0.4))  # noqa: S311
                continue
            if status >= 500:
                retry_after = headers.get("Retry-After")
                self._count("http_503" if status == 503 and retry_after else "http_5xx")
                if status != 503 or not retry_after:
                    _log(f"{status} on {path}: {str(data)[:300]}")
                time.sleep(float(retry_after or 0.5) * random.uniform(0.5, 1.0))  # noqa: S311
                continue
            return status, data, key
        return None, {}, key


class Command(BaseCommand):
    help = ("Fault-injection test of the wallet on a private PostgreSQL + Redis: concurrent clients while "
            "gunicorn workers are killed and PostgreSQL/Redis restarted; checks money is conserved and exact.")

    def add_arguments(self, parser):
        parser.add_argument("--duration", type=int, default=120, help="Seconds of load with faults.")
        parser.add_argument("--clients", type=int, default=16)
        parser.add_argument("--fault-every", type=float, default=4.0, help="Seconds between faults.")
        parser.add_argument("--no-faults", action="store_true", help="The same load without faults.")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=0, help="> 1: gthread workers of this many threads "
                            "instead of the production gevent workers")
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument("--ports", default=os.environ.get("BANK_TEST_PORTS"),
                            help=f"START-END: ports for the private servers (default {PORT_RANGE.start}-"
                                 f"{PORT_RANGE.stop - 1}, or BANK_TEST_PORTS).")
        parser.add_argument("--keep", action="store_true", help="Keep the temp dir (logs) for inspection.")
        parser.add_argument("--phase", choices=["run", "setup", "verify"], default="run", help="internal")
        parser.add_argument("--state", help="internal: the state file of the setup/verify phases")

    def handle(self, *args, **options):
        if options["phase"] == "setup":
            return self._setup(options)
        if options["phase"] == "verify":
            return self._verify(options)
        return self._run(options)

    # --- orchestration (no database access in this process) -------------------------------------------

    def _run(self, options) -> None:
        rng = random.Random(options["seed"])
        root = Path(tempfile.mkdtemp(prefix="superapp-bank-"))
        os.chmod(root, 0o755)  # noqa: S103 - the postgres user must reach its data dir inside
        taken: set[int] = set()
        ports = _port_range(options["ports"])
        pg = PrivatePostgres(root, _free_port(taken, ports))
        redis = PrivateRedis(root, _free_port(taken, ports))
        env = {**os.environ, "DATABASE_URL": pg.url, "REDIS_URL": redis.url, "SECRET_KEY": secrets.token_hex(32),
               "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
               "JWT_ACCESS_MINUTES": "600", "DJANGO_ENV": "development", "CELERY_TASK_ALWAYS_EAGER": "0",
               "DJANGO_SETTINGS_MODULE": "superapp.settings"}
        gunicorn = Gunicorn(root, _free_port(taken, ports), env, options["workers"], options["threads"])
        state_file = root / "state.json"
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        try:
            _log(f"private PostgreSQL on {pg.port}, Redis on {redis.port}, gunicorn on {gunicorn.port} ({root})")
            pg.start()
            redis.start()
            subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, check=True, timeout=600)
            subprocess.run([*manage, "bank_test", "--phase", "setup", "--state", str(state_file),
                            "--clients", str(options["clients"])], env=env, check=True, timeout=600)
            gunicorn.start()
            state = json.loads(state_file.read_text())
            ops, stats, faults = self._load(state=state, port=gunicorn.port, options=options, rng=rng,
                                            injectors=[] if options["no_faults"] else
                                            [gunicorn.kill_worker, pg.restart, redis.restart])
            mismatches = self._replay(ops=ops, port=gunicorn.port, stats=stats)
            gunicorn.stop()
            state["ops"] = ops
            state_file.write_text(json.dumps(state))
            verified = subprocess.run([*manage, "bank_test", "--phase", "verify", "--state", str(state_file)],
                                      env=env, check=True, timeout=600, capture_output=True, text=True)
            checks = json.loads(verified.stdout.strip().splitlines()[-1])
        finally:
            gunicorn.stop()
            redis.stop()
            pg.stop()
            if options["keep"]:
                _log(f"kept {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)

        acked = sum(1 for op in ops if op["outcome"] == "acked")
        refused = sum(1 for op in ops if op["outcome"] == "refused")
        unresolved = sum(1 for op in ops if op["outcome"] == "unresolved")
        lost = checks["lost"] + mismatches
        detail = {
            "ledger_ok": checks["ledger_ok"], "accounts_sum_zero": checks["accounts_sum_zero"],
            "replay_mismatches": mismatches, "unresolved": unresolved, "missing_or_changed": checks["lost"],
            "statement_not_once": checks["statement_not_once"], "ghost_objects": checks["duplicated"],
            "http_503": stats["http_503"], "connection_errors": stats["connection_errors"],
            "refusal_codes": dict(Counter(op["code"] for op in ops if op["outcome"] == "refused")),
            "acked_by_kind": dict(Counter(op["kind"] for op in ops if op["outcome"] == "acked")),
            "faults_by_kind": dict(Counter(faults)), "clients": options["clients"],
            "duration_s": options["duration"], "workers": options["workers"], "threads": options["threads"],
        }
        self.stdout.write(json.dumps(detail))
        result = {"acked": acked, "refused": refused, "lost": lost, "duplicated": checks["duplicated"],
                  "drift_minor_units": checks["drift_minor_units"], "http_5xx": stats["http_5xx"],
                  "faults": len(faults)}
        self.stdout.write(json.dumps(result))
        if lost or checks["duplicated"] or checks["drift_minor_units"] or stats["http_5xx"] \
                or not checks["ledger_ok"] or not checks["accounts_sum_zero"] or unresolved:
            raise SystemExit(1)

    def _load(self, *, state, port, options, rng, injectors):
        stats, lock = Counter(), threading.Lock()
        ops: list[dict] = []
        payments: list[dict] = []  # acked payments, for refunds
        faults: list[str] = []
        stop_at = time.monotonic() + options["duration"]
        give_up_at = stop_at + 90  # an operation begun before the end may take this long to get its answer
        users, merchants = state["users"], state["merchants"]

        def client_loop(index: int) -> None:
            client, local = Client(port, stats, lock), random.Random(options["seed"] * 1000 + index)
            me = users[index % len(users)]
            while time.monotonic() < stop_at:
                roll = local.random()
                if roll < 0.2:
                    kind, path = "top_up", "/api/v1/wallet/top-ups"
                    body, token = {"funding_source_id": me["source_id"], "amount": f"{local.randint(100, 500)}.00",
                                   "currency": CURRENCY}, me["token"]
                elif roll < 0.55:
                    shop = local.choice(merchants)
                    kind, path, token = "payment", "/api/v1/wallet/payments", me["token"]
                    body = {"merchant_id": shop["id"], "amount": f"{local.randint(1, 150)}.{local.randint(0, 99):02d}"}
                elif roll < 0.75:
                    other = local.choice([u for u in users if u["id"] != me["id"]])
                    kind, path, token = "transfer", "/api/v1/wallet/transfers", me["token"]
                    body = {"recipient_id": other["id"], "amount": f"{local.randint(1, 80)}.00", "currency": CURRENCY}
                elif roll < 0.9:
                    with lock:
                        paid = local.choice(payments) if payments else None
                    if paid is None:
                        continue
                    shop = next(m for m in merchants if m["id"] == paid["merchant_id"])
                    kind, token = "refund", shop["owner_token"]
                    path = f"/api/v1/wallet/merchants/{shop['id']}/payments/{paid['id']}/refunds"
                    body = {"amount": f"{local.randint(1, 20)}.00", "reason": "bank test"}
                else:
                    kind, path, token = "withdrawal", "/api/v1/wallet/withdrawals", me["token"]
                    body = {"funding_source_id": me["source_id"], "amount": f"{local.randint(50, 400)}.00",
                            "currency": CURRENCY}
                status, data, key = client.call(path, token, body, give_up_at)
                op = {"kind": kind, "path": path, "token": token, "body": body, "key": key, "status": status,
                      "response": data, "user_id": me["id"]}
                if status is None:
                    op["outcome"] = "unresolved"
                elif 200 <= status < 300:
                    op["outcome"] = "acked"
                    if kind == "payment":
                        with lock:
                            payments.append({"id": data["id"], "merchant_id": data["merchant"]["id"]})
                else:
                    op["outcome"], op["code"] = "refused", data.get("error", {}).get("code", str(status))
                with lock:
                    ops.append(op)

        def fault_loop() -> None:
            while time.monotonic() < stop_at - 1:
                time.sleep(options["fault_every"] * rng.uniform(0.6, 1.4))
                if time.monotonic() >= stop_at - 1:
                    break
                try:
                    faults.append(rng.choice(injectors)())
                    _log(f"fault: {faults[-1]}")
                except Exception as exc:  # noqa: BLE001 - a failed injection is reported, not fatal
                    _log(f"fault injection failed: {exc}")

        threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(options["clients"])]
        if injectors:
            threads.append(threading.Thread(target=fault_loop, daemon=True))
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            time.sleep(5)
            with lock:
                _log(f"{len(ops)} operations answered, {len(faults)} faults, {dict(stats)}")
            if time.monotonic() > give_up_at + 30:
                break
        return ops, stats, faults

    def _replay(self, *, ops, port, stats) -> int:
        """Every answered operation, sent again with its key: the same status and body, or it counts."""
        client, mismatches = Client(port, stats, threading.Lock()), 0
        for op in ops:
            if op["outcome"] == "unresolved":
                continue
            for _ in range(20):
                try:
                    status, headers, data = client.once(op["path"], op["token"], op["body"], op["key"])
                    break
                except EXPECTED_NO_OUTCOME:
                    time.sleep(0.2)
            else:
                status, headers, data = None, {}, {}
            if status != op["status"] or data != op["response"] or headers.get("Idempotent-Replayed") != "true":
                mismatches += 1
                if mismatches <= 5:
                    _log(f"replay differs: {op['kind']} {op['status']}->{status} {str(data)[:200]}")
        _log(f"replayed {len(ops)} operations, {mismatches} differ")
        return mismatches

    # --- phases run on the private database -------------------------------------------------------------

    def _setup(self, options) -> None:
        from rest_framework_simplejwt.tokens import AccessToken

        from merchants.models import City, Merchant, MerchantStaff
        from payments import services
        from superapp.accounts.models import User
        from superapp.money import Money

        city = City.objects.filter(currency=CURRENCY).first()
        if city is None:
            raise CommandError(f"no {CURRENCY} city (the reference cities come with migrate)")

        def token(user) -> str:
            return str(AccessToken.for_user(user))

        n = max(4, options["clients"])
        users = []
        for i in range(n):
            user = User.objects.create(username=f"bank_{i:03d}", home_city=city, current_city=city,
                                       home_currency=CURRENCY)
            source = services.funding_source_add(user=user, label="Bank test card", currency=CURRENCY)
            services.wallet_top_up(user=user, funding_source=source, amount=Money(100_000, CURRENCY))
            users.append({"id": user.pk, "source_id": source.pk, "token": token(user)})
        merchants = []
        for i in range(max(2, n // 4)):
            owner = User.objects.create(username=f"bank_owner_{i:03d}", home_city=city, home_currency=CURRENCY)
            shop = Merchant.objects.create(external_id=f"bank-{i}", name=f"Bank test shop {i}", vertical="restaurant",
                                           city=city, currency=CURRENCY, latitude=city.latitude,
                                           longitude=city.longitude, time_zone=city.time_zone, accepts_wallet=True)
            MerchantStaff.objects.create(merchant=shop, user=owner, role="owner")
            merchants.append({"id": shop.pk, "owner_token": token(owner)})
        Path(options["state"]).write_text(json.dumps({"users": users, "merchants": merchants}))

    def _verify(self, options) -> None:
        from django.db.models import Sum

        from payments.checks import ledger_check
        from payments.models import (
            Account,
            AccountKind,
            LedgerEntry,
            Payment,
            Refund,
            SystemAccount,
            TopUp,
            Transfer,
            Withdrawal,
        )
        from superapp.models import IdempotencyKey

        state = json.loads(Path(options["state"]).read_text())
        report = ledger_check()
        sums = Account.objects.values("currency").annotate(total=Sum("balance"))
        accounts_sum_zero = all(row["total"] == 0 for row in sums)

        def total(qs) -> int:
            return qs.aggregate(total=Sum("balance"))["total"] or 0

        held = (total(Account.objects.filter(kind__in=[AccountKind.USER, AccountKind.MERCHANT], currency=CURRENCY))
                + total(Account.objects.filter(kind=AccountKind.SYSTEM, system_code=SystemAccount.FEES,
                                               currency=CURRENCY)))
        topped = TopUp.objects.filter(currency=CURRENCY, status="succeeded").aggregate(s=Sum("amount"))["s"] or 0
        withdrawn = (Withdrawal.objects.filter(currency=CURRENCY, status="succeeded")
                     .aggregate(s=Sum("amount"))["s"] or 0)
        drift = abs(held - (topped - withdrawn))

        models = {"top_up": TopUp, "withdrawal": Withdrawal, "payment": Payment, "transfer": Transfer,
                  "refund": Refund}
        lost = statement_not_once = 0
        acked_ids: dict[str, list[int]] = {kind: [] for kind in models}
        for op in state["ops"]:
            if op["outcome"] != "acked":
                continue
            obj = models[op["kind"]].objects.filter(pk=op["response"]["id"]).first()
            acked_ids[op["kind"]].append(op["response"]["id"])
            if obj is None or obj.ledger_transaction_id != op["response"].get("transaction_id"):
                lost += 1
                continue
            if op["kind"] in ("top_up", "withdrawal", "payment", "transfer"):  # the acting user's statement
                lines = LedgerEntry.objects.filter(transaction_id=obj.ledger_transaction_id,
                                                   account__kind=AccountKind.USER, account__user_id=op["user_id"])
                if lines.count() != 1:
                    statement_not_once += 1
        # Work without an outcome: an object no stored 2xx idempotent response points at (setup's first
        # top-ups are not API calls and are excluded), or an acked id answered twice.
        stored: dict[str, set[int]] = {kind: set() for kind in models}
        endpoint_kind = {"/api/v1/wallet/top-ups": "top_up", "/api/v1/wallet/withdrawals": "withdrawal",
                         "/api/v1/wallet/payments": "payment", "/api/v1/wallet/transfers": "transfer"}
        for row in IdempotencyKey.objects.filter(response_status__gte=200, response_status__lt=300):
            kind = endpoint_kind.get(row.endpoint) or ("refund" if row.endpoint.endswith("/refunds") else None)
            if kind and isinstance(row.response_body, dict) and "id" in row.response_body:
                stored[kind].add(row.response_body["id"])
        setup_top_ups = set(TopUp.objects.order_by("pk").values_list("pk", flat=True)[:len(state["users"])])
        duplicated = 0
        for kind, model in models.items():
            ids = set(model.objects.values_list("pk", flat=True)) - (setup_top_ups if kind == "top_up" else set())
            duplicated += len(ids - stored[kind])
            duplicated += len(acked_ids[kind]) - len(set(acked_ids[kind]))
        self.stdout.write(json.dumps({
            "ledger_ok": report["ok"], "accounts_sum_zero": accounts_sum_zero, "drift_minor_units": drift,
            "lost": lost + statement_not_once, "statement_not_once": statement_not_once, "duplicated": duplicated,
        }))
