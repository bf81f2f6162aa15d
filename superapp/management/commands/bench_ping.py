"""Baseline benchmark: GET /healthz through gunicorn, driven by wrk. Last line is JSON."""

from django.core.management import BaseCommand

from superapp import bench


class Command(BaseCommand):
    help = "Serve the app under gunicorn and measure ping throughput and latency with wrk."

    def add_arguments(self, parser):
        parser.add_argument("--duration", type=int, default=10)
        parser.add_argument("--connections", type=int, default=16)

    def handle(self, *args, duration: int, connections: int, **options):
        with bench.gunicorn_server() as base_url:
            self.stderr.write(f"serving on {base_url}; {base_url.server_fields()}")
            ping = bench.wrk_run(f"{base_url}/healthz", duration_s=duration, connections=connections)
        bench.print_result(self.stdout, {
            "ping_rps": ping.rps, "p50_ms": ping.p50_ms, "p99_ms": ping.p99_ms,
            "requests": ping.requests, "errors": ping.non_2xx + ping.socket_errors,
            "database": bench.database_vendor(), **base_url.server_fields(),
        })
