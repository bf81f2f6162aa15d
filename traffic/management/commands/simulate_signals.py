"""Compare fixed signal timings with Webster plans on simulated demand; prints the reduction as JSON."""

import json

from django.core.management import BaseCommand, CommandError

from merchants.models import City
from traffic import services


class Command(BaseCommand):
    help = "Average delay per vehicle: fixed timings vs computed (Webster) plans, queue simulation per approach."

    def add_arguments(self, parser):
        parser.add_argument("--city", default="hangzhou")
        parser.add_argument("--intersections", type=int, default=12)
        parser.add_argument("--fixed-cycle", type=float, default=90.0)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, city, intersections, fixed_cycle, seed, **options):
        place = City.objects.filter(slug=city).first()
        if place is None:
            raise CommandError(f"unknown city {city!r}")
        try:
            result = services.signals_compare(city=place, intersections=intersections, fixed_cycle_s=fixed_cycle,
                                              seed=seed, progress=self.stdout.write)
        except ValueError as exc:
            raise CommandError(str(exc))
        self.stdout.write(json.dumps(result))
