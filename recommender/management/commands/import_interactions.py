"""Import interactions from a CSV/TSV file (idempotent; see recommender/importing.py)."""

import sys
from pathlib import Path

from django.core.management import BaseCommand, CommandError
from tqdm import tqdm

from merchants.models import Vertical
from recommender.importing import ColumnMap, count_lines, interactions_import
from recommender.models import InteractionKind


class Command(BaseCommand):
    help = ("Import user-item interactions from CSV/TSV: user external id, item external id, optional timestamp "
            "(unix seconds or ISO 8601), optional kind or weight. Unknown users become imported users; "
            "re-importing the same file stores nothing twice.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--delimiter", help="tab, comma, semicolon, pipe, space or a character (default: sniffed).")
        header = parser.add_mutually_exclusive_group()
        header.add_argument("--header", dest="header", action="store_const", const=True,
                            help="The first row names the columns (default: detected).")
        header.add_argument("--no-header", dest="header", action="store_const", const=False)
        for name, default, text in (("user", "0", "user external id"), ("item", "1", "item external id"),
                                    ("time", None, "timestamp"), ("kind", None, "interaction kind"),
                                    ("weight", None, "weight (value)")):
            parser.add_argument(f"--{name}-col", default=default,
                                help=f"Column of the {text}: a 0-based index or a header name.")
        parser.add_argument("--kind", default=InteractionKind.IMPORT, choices=InteractionKind.values,
                            help="Kind of every row when there is no kind column (default: import).")
        parser.add_argument("--dataset", help="Name used for idempotency (default: the file name).")
        parser.add_argument("--id-prefix", default="", help="Prefix for user and item external ids, e.g. 'ml:', so "
                            "two data sets with numeric ids do not share users or items.")
        parser.add_argument("--create-missing-items", action="store_true",
                            help="Unknown item ids become placeholder merchants (no location).")
        parser.add_argument("--item-vertical", default=Vertical.LEISURE, choices=Vertical.values)
        parser.add_argument("--batch-size", type=int, default=50_000)

    def handle(self, *args, file: Path, delimiter=None, header=None, user_col="0", item_col="1", time_col=None,
               kind_col=None, weight_col=None, kind=InteractionKind.IMPORT, dataset=None, id_prefix="",
               create_missing_items=False, item_vertical=Vertical.LEISURE, batch_size=50_000, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        columns = ColumnMap(user=user_col, item=item_col, time=time_col, kind=kind_col, weight=weight_col)
        total = count_lines(file)
        with tqdm(total=total, unit="rows", unit_scale=True, file=sys.stderr, desc=file.name) as bar:
            def on_rows(line: int) -> None:
                bar.n = min(line, total)
                bar.refresh()

            try:
                report = interactions_import(
                    file, columns=columns, dataset=dataset or file.name, delimiter=delimiter, header=header,
                    default_kind=kind, id_prefix=id_prefix, create_missing_items=create_missing_items,
                    item_vertical=item_vertical, batch_size=batch_size, on_rows=on_rows)
            except (ValueError, UnicodeDecodeError) as exc:
                raise CommandError(str(exc))
        for error in report.errors:
            self.stderr.write(f"  skipped {error}")
        if report.bad_rows > len(report.errors):
            self.stderr.write(f"  ... and {report.bad_rows - len(report.errors)} more bad rows")
        self.stdout.write(
            f"{report.rows} rows: {report.imported} imported, {report.duplicates} already there, "
            f"{report.bad_rows} bad; {report.users_created} users and {report.items_created} placeholder "
            f"merchants created.")
        if report.rows and report.bad_rows == report.rows:
            raise CommandError("Every row was bad; check the column options.")
