"""Train the speed predictor for a city now (the Celery beat job does it nightly)."""

import json

from django.core.management import BaseCommand, CommandError

from merchants.models import City
from traffic import services


class Command(BaseCommand):
    help = "Train, evaluate against the baselines and (if better) activate the speed predictor."

    def add_arguments(self, parser):
        parser.add_argument("--city", required=True)
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args, city, days, **options):
        place = City.objects.filter(slug=city).first()
        if place is None:
            raise CommandError(f"unknown city {city!r}")
        try:
            version = services.predictor_train(city=place, days=days, progress=self.stdout.write)
        except ValueError as exc:
            raise CommandError(str(exc))
        forecasts = services.forecasts_refresh(city=place)
        self.stdout.write(json.dumps({"version": version.version, "status": version.status, "metrics": version.metrics,
                                      "forecasts": forecasts}))
