"""Load the demo world: users, merchants, wallets, social graph, traffic, a first model.

Deterministic for a given --seed. Every app contributes a seeder listed in settings.DEMO_SEEDERS,
each `seed(*, rng: random.Random, stdout)`. Skips when the demo world is already there, unless --reset.
"""

import random
import time

from django.conf import settings
from django.core.management import BaseCommand, call_command
from django.utils.module_loading import import_string

from merchants.models import City
from merchants.reference import load_reference_cities
from superapp.accounts.models import User

MARKER_USERNAME = "alice"


class Command(BaseCommand):
    help = "Load the deterministic demo world (idempotent: skips if already loaded)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--reset", action="store_true", help="Flush the database first.")

    def handle(self, *args, seed: int, reset: bool, **options):
        if reset:
            call_command("flush", "--no-input", verbosity=0)
            # flush empties every table, including the reference data the migrations loaded and the
            # beat schedules; put both back (re-running migrate would not: they are already applied).
            load_reference_cities(City)
            call_command("setup_schedules", verbosity=0)
        elif User.objects.filter(username=MARKER_USERNAME).exists():
            self.stdout.write("Demo world already loaded (use --reset to rebuild it).")
            return
        streams: dict[str, random.Random] = {}
        for entry in settings.DEMO_SEEDERS:
            dotted, stream = (entry, entry) if isinstance(entry, str) else entry
            started = time.perf_counter()
            self.stdout.write(f"seed: {dotted} ...")
            # One RNG per stream, derived from the seed and the stream's name, so adding a seeder never
            # changes what the others generate; seeders naming the same stream continue one sequence.
            rng = streams.setdefault(stream, random.Random(f"{seed}:{stream}"))
            import_string(dotted)(rng=rng, stdout=self.stdout)
            self.stdout.write(f"seed: {dotted} done in {time.perf_counter() - started:.1f}s")
        self.stdout.write(self.style.SUCCESS("Demo world loaded."))
