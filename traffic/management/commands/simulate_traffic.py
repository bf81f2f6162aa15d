"""Write simulated observations for a city's network (see traffic/core/simulator.py)."""

import json
import time

from django.core.management import BaseCommand, CommandError

from merchants.models import City
from traffic import services


class Command(BaseCommand):
    help = "Simulate observations with daily/weekly patterns, rush hours, weather noise and incidents."

    def add_arguments(self, parser):
        parser.add_argument("--city", required=True)
        parser.add_argument("--days", type=float, default=7.0)
        parser.add_argument("--interval", type=int, choices=[60, 300], default=300, help="Seconds per interval.")
        parser.add_argument("--incidents-per-day", type=float, default=3.0)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--train", action="store_true", help="Train the predictor and refresh forecasts after.")

    def handle(self, *args, city, days, interval, incidents_per_day, seed, train, **options):
        place = City.objects.filter(slug=city).first()
        if place is None:
            raise CommandError(f"unknown city {city!r}")
        if days <= 0 or days > 60:
            raise CommandError("--days must be within (0, 60]")
        started = time.perf_counter()
        try:
            summary = services.traffic_simulate(city=place, days=days, interval_s=interval, seed=seed,
                                                incidents_per_day=incidents_per_day, progress=self.stdout.write)
        except ValueError as exc:
            raise CommandError(str(exc))
        summary.pop("grid", None)
        if train:
            version = services.predictor_train(city=place, days=int(max(days, 2)), progress=self.stdout.write)
            summary["predictor"] = {"version": version.version, "status": version.status,
                                    "mae": version.params["summary_mae"]}
            summary["forecasts"] = services.forecasts_refresh(city=place)
        summary["seconds"] = round(time.perf_counter() - started, 1)
        summary["incidents_injected"] = len(summary["incidents"])
        self.stdout.write(json.dumps(summary))
