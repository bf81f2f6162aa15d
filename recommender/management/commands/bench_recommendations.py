"""Recommendation requests under load through gunicorn, as a ratio to ping in the same run. Last line: JSON."""

from django.core.management import BaseCommand

from recommender.serving import bench
from superapp.bench import print_result


class Command(BaseCommand):
    help = "Benchmark GET /api/v1/recommendations (16 connections, ratio to ping, p50/p99)."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=2000, help="Bench users with histories (created once)")
        parser.add_argument("--per-user", type=int, default=20, help="Interactions per bench user")
        parser.add_argument("--duration", type=int, default=12, help="Seconds per wrk phase")
        parser.add_argument("--connections", type=int, default=16)
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, users: int, per_user: int, duration: int, connections: int, seed: int, **options):
        result = bench.run(n_users=users, per_user=per_user, duration_s=duration, connections=connections,
                           seed=seed, log=lambda line: self.stderr.write(line))
        print_result(self.stdout, result)
