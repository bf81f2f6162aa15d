"""Batch top-k recommendations for a file of users, from the active model, to CSV."""

import sys
from pathlib import Path

from django.core.management import BaseCommand, CommandError
from tqdm import tqdm

from merchants.models import City, Vertical
from recommender.batch import recommendations_write
from recommender.exceptions import NoActiveModel


class Command(BaseCommand):
    help = ("Write the top-k merchants per user (user, rank, merchant external id, merchant id, score) from the active "
            "model, excluding what each user already has. --users: one user external id (or username) per line.")

    def add_arguments(self, parser):
        parser.add_argument("--users", type=Path, required=True)
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument("--vertical", choices=Vertical.values)
        parser.add_argument("--city", help="City slug, e.g. hangzhou.")
        parser.add_argument("--output", type=Path, required=True, help="CSV file to write ('-' for stdout).")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, users: Path, k=10, vertical=None, city=None, output: Path, batch_size=1000, **options):
        if not users.is_file():
            raise CommandError(f"No such file: {users}")
        if k < 1 or k > 1000:
            raise CommandError("--k must be between 1 and 1000.")
        if city and not City.objects.filter(slug=city).exists():
            raise CommandError(f"Unknown city {city!r}.")
        identifiers = users.read_text(encoding="utf-8").splitlines()
        bar = tqdm(total=len(identifiers), unit="users", file=sys.stderr, desc="recommend")

        def progress(done: int) -> None:
            bar.n = done
            bar.refresh()

        target = sys.stdout if str(output) == "-" else output.open("w", newline="", encoding="utf-8")
        try:
            report = recommendations_write(identifiers=identifiers, output=target, k=k, vertical=vertical, city=city,
                                           batch_size=batch_size, progress=progress)
        except NoActiveModel as exc:
            raise CommandError(exc.message)
        finally:
            bar.close()
            if target is not sys.stdout:
                target.close()
        served = report.requested - report.unknown_users - report.not_in_model
        self.stderr.write(
            f"v{report.version_id}: {report.rows_written} rows for {served} users; {report.unknown_users} unknown "
            f"users, {report.not_in_model} without interactions in the model (skipped).")
