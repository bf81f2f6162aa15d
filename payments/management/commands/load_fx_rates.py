"""Load FX mid rates from a CSV (base,quote,rate[,as_of]) or the built-in demo table."""

import csv
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.management import BaseCommand, CommandError

from payments.fx_demo import demo_rates
from payments.services import fx_rates_load
from superapp.money import MoneyError, currency_exponent


class Command(BaseCommand):
    help = "Load FX rates: `load_fx_rates FILE.csv` (columns base,quote,rate[,as_of]) or `load_fx_rates --demo`."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="CSV file with a header row: base,quote,rate[,as_of]")
        parser.add_argument("--demo", action="store_true", help="Load the built-in demo rates.")
        parser.add_argument("--source", default=None, help="Source label stored with the rates.")

    def handle(self, *args, path, demo, source, **options):
        if bool(path) == bool(demo):
            raise CommandError("Give a CSV path or --demo (not both).")
        if demo:
            count = fx_rates_load(rows=demo_rates(), source=source or "demo")
            self.stdout.write(f"Loaded {count} demo rates.")
            return
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"{file} does not exist.")
        loaded = rejected = 0
        by_time: dict = {}
        with file.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"base", "quote", "rate"} <= set(reader.fieldnames):
                raise CommandError("The CSV needs a header with base, quote and rate columns.")
            for line, row in enumerate(reader, start=2):
                try:
                    base, quote = row["base"].strip().upper(), row["quote"].strip().upper()
                    currency_exponent(base)
                    currency_exponent(quote)
                    rate = Decimal(row["rate"].strip())
                    if not rate.is_finite() or rate <= 0:
                        raise ValueError("rate must be positive")
                    as_of = row.get("as_of") and datetime.fromisoformat(row["as_of"].strip())
                    if as_of and as_of.tzinfo is None:
                        as_of = as_of.replace(tzinfo=UTC)
                except (MoneyError, InvalidOperation, ValueError, AttributeError) as exc:
                    rejected += 1
                    self.stderr.write(f"line {line}: rejected ({exc})")
                    continue
                by_time.setdefault(as_of or None, []).append((base, quote, rate))
        for as_of, rows in by_time.items():
            loaded += fx_rates_load(rows=rows, source=source or file.name, as_of=as_of)
        self.stdout.write(f"Loaded {loaded} rates, rejected {rejected}.")
