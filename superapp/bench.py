"""Benchmark harness: serve the app under gunicorn on a free loopback port and drive it with wrk.

Every benchmark measures `ping` (GET /healthz, same server, same run) as its baseline and reports
its own figure as a ratio, because these machines are noisy. Used by `bench_ping` and by each app's
`bench_*` command::

    with gunicorn_server() as base_url:
        ping = wrk_run(f"{base_url}/healthz")
        feed = wrk_run(f"{base_url}/api/v1/feed", headers={"Authorization": f"Bearer {token}"})
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management import CommandError

from superapp.warmup import READY_DIR_ENV

# The server is the production one (gunicorn.conf.py: gevent workers, one per core); BENCH_WORKERS overrides the
# process count, and BENCH_THREADS > 0 serves with threaded (gthread) workers instead, for comparisons.
WORKERS = int(os.environ.get("BENCH_WORKERS", "0")) or None
THREADS = int(os.environ.get("BENCH_THREADS", "0")) or None


class BenchError(CommandError):
    """A benchmark could not run (no wrk, a server that did not start): the command exits with this message."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(**extra: str) -> dict[str, str]:
    """The server shares this process's database, Redis and signing key (so our tokens verify)."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "superapp.settings",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "JWT_ACCESS_MINUTES": "600",
        "DJANGO_ENV": "development",
    })
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        env["SQLITE_PATH"] = str(db["NAME"])
    env.update(extra)
    return env


class ServerUrl(str):
    """A running server's base URL (what `gunicorn_server` yields); `pid` is its master process, `workers` how many
    worker processes it runs."""

    pid: int
    workers: int = 0
    concurrency: str = ""  # "gevent" or "threads" (superapp.warmup.concurrency_model)

    def server_fields(self) -> dict[str, int | str]:
        """What a benchmark's last line says about the server it measured."""
        return {"workers": self.workers, "concurrency": self.concurrency}


def child_pids(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc; [] elsewhere)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # the fields after the command name (which may hold spaces)


def tree_cpu_s(*pids: int) -> float:
    """CPU seconds (user + system) used so far by these processes and every live descendant of theirs, from
    /proc (Linux; 0.0 elsewhere). The difference across a phase is what the phase cost those processes."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in (os.listdir("/proc") if os.path.isdir("/proc") else ()):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:  # fields[1] is the parent; [11], [12] user and system ticks
                parents[int(entry)] = int(fields[1])
                cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    wanted, frontier = set(pids), set(pids)
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - wanted
        wanted |= frontier
    return sum(cpu.get(pid, 0.0) for pid in wanted)


def _cpu_ticks() -> list[int]:
    """The first line of /proc/stat (all cores): user, nice, system, idle, iowait, irq, softirq, steal, ... ([] when
    there is none)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return []
    return [int(v) for v in first[1:]]


def machine_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    ticks = _cpu_ticks()
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLOCK_TICKS if ticks else 0.0


def machine_steal_s() -> float:
    """CPU seconds the hypervisor ran something else while this machine's cores wanted to run (/proc/stat's
    steal; 0.0 on bare metal or without /proc). Counted in `machine_busy_s` too."""
    ticks = _cpu_ticks()
    return ticks[7] / _CLOCK_TICKS if len(ticks) > 7 else 0.0


def process_stop(proc: subprocess.Popen, *, timeout_s: float = 20.0) -> None:
    """Stop a server the benchmark started: SIGTERM, then SIGKILL if it is still there after `timeout_s`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def gunicorn_command(port: int, *, workers: int | None = None, threads: int | None = None,
                     worker_connections: int | None = None) -> list[str]:
    """gunicorn as production runs it (the project's gunicorn.conf.py, read from the project root), with these
    overrides: `workers` processes (None: the config's, one per core); `threads` > 1 serves with gthread workers
    of that many threads instead of the config's gevent workers."""
    cmd = [sys.executable, "-m", "gunicorn", "superapp.wsgi:application", "--config", "gunicorn.conf.py",
           "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    if workers:
        cmd += ["--workers", str(workers)]
    if threads and threads > 1:
        cmd += ["--worker-class", "gthread", "--threads", str(threads)]
    if worker_connections is not None:
        cmd += ["--worker-connections", str(worker_connections)]
    return cmd


@contextlib.contextmanager
def gunicorn_server(*, workers: int | None = WORKERS, threads: int | None = THREADS,
                    env: dict[str, str] | None = None, timeout_s: float = 180.0,
                    worker_connections: int | None = None) -> Iterator[ServerUrl]:
    """`worker_connections`: at most this many open connections per worker. wrk opens all its keep-alive
    connections at once and whichever worker wakes first may accept most of them for the whole run (seen: 16 of
    16 on one of two workers, the other idle), so a benchmark that sets it to its connections per worker measures
    both cores; None keeps the config's (1000). Yields the base URL, whose `pid` is gunicorn's master
    (`tree_cpu_s(base_url.pid)`: what the workers spent)."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    # Each worker leaves a file here once warm (superapp.warmup): the first /healthz answer only says that one is,
    # and with a large catalogue the others spent the first seconds of a measurement building their caches.
    ready = tempfile.TemporaryDirectory(prefix="gunicorn-ready-")
    env = {**(env or server_env()), READY_DIR_ENV: ready.name}
    cmd = gunicorn_command(port, workers=workers, threads=threads, worker_connections=worker_connections)
    proc = subprocess.Popen(cmd, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=log)
    base_url = ServerUrl(f"http://127.0.0.1:{port}")
    base_url.pid = proc.pid
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise BenchError(f"gunicorn exited: {Path(log.name).read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("gunicorn did not become healthy in time")
            time.sleep(0.2)
        # The master forked every worker before the first answered (gunicorn spawns them all at start).
        base_url.workers = len(child_pids(proc.pid))
        while len(os.listdir(ready.name)) < base_url.workers:
            if proc.poll() is not None:
                raise BenchError(f"gunicorn exited: {Path(log.name).read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise BenchError(f"only {len(os.listdir(ready.name))} of {base_url.workers} workers warmed up in time")
            time.sleep(0.2)
        base_url.concurrency = (Path(ready.name) / os.listdir(ready.name)[0]).read_text()
        # Warm every worker (imports, connections, lazily loaded models).
        for _ in range(base_url.workers * 8):
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{base_url}/healthz", timeout=5):  # noqa: S310
                pass
        yield base_url
    finally:
        process_stop(proc)
        log.close()
        os.unlink(log.name)
        ready.cleanup()


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    output: str = field(default="", repr=False, compare=False)  # wrk's stdout (what a script's `done` printed)

    def as_dict(self) -> dict[str, float]:
        return {key: value for key, value in asdict(self).items() if key != "output"}


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise BenchError(f"cannot parse latency {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, flags=re.M))  # wrk pads "1.21s "
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and total and "50" in percentiles and "99" in percentiles):
        raise BenchError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        rps=round(float(rps.group(1)), 1),
        p50_ms=round(_to_ms(percentiles["50"]), 2),
        p99_ms=round(_to_ms(percentiles["99"]), 2),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        output=output,
    )


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if not path:
        raise BenchError("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    return path


def wrk_run(url: str, *, duration_s: int = 10, connections: int = 16, threads: int = 2,
            headers: dict[str, str] | None = None, lua: str | None = None) -> WrkResult:
    """Drive `url` for a fixed time, each request shaped by the Lua script `lua` (`wrk_script`) if given."""
    cmd = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    script_path = None
    if lua is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script_file:
            script_file.write(lua)
            script_path = script_file.name
        cmd += ["-s", script_path]
    cmd.append(url)
    try:
        completed = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    finally:
        if script_path:
            os.unlink(script_path)
    if completed.returncode != 0:
        raise BenchError(f"wrk failed: {completed.stderr}")
    return parse_wrk(completed.stdout)


def lua_table(values) -> str:
    """A Lua table literal of strings or numbers (JSON's string escapes are Lua's for the ASCII we send)."""
    return "{ " + ",\n".join(json.dumps(v) for v in values) + " }"


# Every script's threads: `thread_id` (0-based, distinct per wrk thread), `offset` (a random start per thread, so
# threads rotating over the same list do not ask for the same item at once), `counter` (requests sent by this
# thread: 1 in the first), `threads` (setup's list, for a `done` hook) and a random seed of their own.
_LUA_THREADS = """
local counter = 0
local thread_id = 0
local offset = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  thread_id = id
  math.randomseed(os.time() * 1000 + id)
  offset = math.random(0, 1000000)
end
"""


def wrk_script(*, method: str = "GET", paths: list[str] | None = None, tokens: list[str] | None = None,
               bodies: list[str] | None = None, idempotency_key: bool = False, pick: str = "rotate",
               request: str | None = None, extra: str = "") -> str:
    """The one wrk Lua script generator of the benchmarks.

    Each request: the next (`pick="rotate"`) or a random (`pick="random"`) path of `paths` (none: the URL
    given to wrk), `Authorization: Bearer` token of `tokens` and JSON body of `bodies`; `idempotency_key`: a
    fresh `Idempotency-Key` (time, thread, counter, random) for money-moving endpoints. A benchmark whose
    requests need more (a body built per request, a mix of GETs and POSTs) passes its own `request` function
    body, which may use `counter`, `thread_id`, `offset`, `pick(list)` and the tables `paths`, `tokens`,
    `bodies`;
    `extra` is appended (wrk's `response`/`done` hooks)."""
    if pick not in ("rotate", "random"):
        raise ValueError(f"pick must be rotate or random, not {pick!r}")
    choose = "list[math.random(1, #list)]" if pick == "random" else "list[((counter + offset) % #list) + 1]"
    default_request = f"""
  local headers = {{}}
  for name, value in pairs(wrk.headers) do headers[name] = value end  -- keep wrk's -H headers
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. pick(tokens) end
  if #bodies > 0 then headers["Content-Type"] = "application/json" end
  {'headers["Idempotency-Key"] = string.format("bench-%d-%d-%d-%d", os.time(), thread_id, counter, '
   'math.random(1, 1e9))' if idempotency_key else ''}
  local path = nil
  if #paths > 0 then path = pick(paths) end
  local body = nil
  if #bodies > 0 then body = pick(bodies) end
  return wrk.format({json.dumps(method)}, path, headers, body)"""
    return f"""{_LUA_THREADS}
local paths = {lua_table(paths or [])}
local tokens = {lua_table(tokens or [])}
local bodies = {lua_table(bodies or [])}
local function pick(list)
  return {choose}
end
request = function()
  counter = counter + 1
{request if request is not None else default_request}
end
{extra}
"""


def database_vendor() -> str:
    return settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]


def print_result(stdout, result: dict) -> None:
    """The last line of every benchmark: one JSON object.

    A run in which requests failed (`errors`, and `*_errors` of secondary phases) is printed, then refused: its
    throughput counts the failures as answers (a bench whose every request got a 401 once read as a good
    ratio), so its figures must not be taken for a measurement.
    """
    stdout.write(json.dumps(result, sort_keys=False))
    failed = {key: value for key, value in result.items()
              if (key == "errors" or key.endswith("_errors")) and isinstance(value, int) and value}
    if failed:
        raise CommandError(f"requests failed during the run, the figures above are not a measurement: {failed}")
