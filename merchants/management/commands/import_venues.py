"""Import points of interest from CSV/TSV into merchants (idempotent on the external id).

Examples:
    manage.py import_venues dataset_TSMC2014_NYC.txt --format foursquare
    manage.py import_venues pois.csv --external-id poi_id --name title --category kind --lat y --lon x \\
        --country country_code --time-zone tz

The last line of output is a JSON summary: rows, venues, imported, updated, unchanged, rejected (by reason).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management import BaseCommand, CommandError
from tqdm import tqdm

from merchants.venue_import import FOURSQUARE_COLUMNS, ColumnMapping, read_delimited, venues_import


def _decoded_lines(path: Path, encoding: str):
    """Lines as text; bytes that are not valid in `encoding` fall back to Latin-1 (the Foursquare files mix
    both), so one odd character never rejects a whole file."""
    with path.open("rb") as handle:
        for raw in handle:
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError:
                yield raw.decode("latin-1")


class Command(BaseCommand):
    help = "Import venues (points of interest) from a CSV/TSV file into merchants."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["csv", "tsv", "foursquare"], default=None,
                            help="foursquare = the headerless NYC/Tokyo check-in TSV; default from the extension")
        parser.add_argument("--delimiter", default=None, help="Override the delimiter (e.g. ';')")
        parser.add_argument("--columns", default=None,
                            help="Comma-separated column names for a headerless file")
        for option, help_text in (("external-id", "external id column (required unless --format foursquare)"),
                                  ("name", "name column"), ("category", "category name column"),
                                  ("lat", "latitude column"), ("lon", "longitude column"),
                                  ("city", "city slug or name column"), ("country", "ISO country code column"),
                                  ("tz-offset", "time-zone offset column, minutes east of UTC"),
                                  ("time-zone", "IANA time-zone column")):
            parser.add_argument(f"--{option}", default=None, help=help_text)
        parser.add_argument("--id-prefix", default="", help="Prefix added to every external id, e.g. 4sq:")
        parser.add_argument("--max-city-distance-km", type=float, default=100.0,
                            help="Attach a venue to the nearest known city within this distance")
        parser.add_argument("--encoding", default="utf-8")
        parser.add_argument("--dry-run", action="store_true", help="Parse and count, write nothing")

    def handle(self, *args, file: Path, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        fmt = options["format"] or ("csv" if file.suffix.lower() == ".csv" else "tsv")
        delimiter = options["delimiter"] or ("," if fmt == "csv" else "\t")
        columns = options["columns"].split(",") if options["columns"] else None
        if fmt == "foursquare":
            mapping = ColumnMapping.foursquare()
            columns = columns or FOURSQUARE_COLUMNS
        else:
            if not (options["external_id"] and options["lat"] and options["lon"]):
                raise CommandError("--external-id, --lat and --lon are required (or use --format foursquare)")
            mapping = ColumnMapping(external_id=options["external_id"], latitude=options["lat"],
                                    longitude=options["lon"])
        for attr, option in (("external_id", "external_id"), ("latitude", "lat"), ("longitude", "lon"),
                             ("name", "name"), ("category", "category"), ("city", "city"), ("country", "country"),
                             ("tz_offset", "tz_offset"), ("time_zone", "time_zone")):
            if options[option]:
                setattr(mapping, attr, options[option])

        total_bytes = file.stat().st_size
        progress = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="import_venues", file=self.stderr,
                        mininterval=0.5, disable=None)

        def lines():
            for line in _decoded_lines(file, options["encoding"]):
                progress.update(len(line.encode(options["encoding"], errors="replace")))
                yield line

        rows = read_delimited(lines(), delimiter=delimiter, columns=columns)
        if options["id_prefix"]:
            prefix = options["id_prefix"]
            rows = ((n, ({**r, mapping.external_id: prefix + r[mapping.external_id]} if r else r), p)
                    for n, r, p in rows)
        summary = venues_import(rows=rows, mapping=mapping, max_city_distance_km=options["max_city_distance_km"],
                                dry_run=options["dry_run"])
        progress.close()
        result = summary.as_dict()
        self.stderr.write(
            f"{result['rows']} rows, {result['venues']} venues: {result['imported']} imported, "
            f"{result['updated']} updated, {result['unchanged']} unchanged, {result['rejected']} rejected"
            + (" (dry run, nothing written)" if options["dry_run"] else ""))
        for reason, count in result["rejected_by_reason"].items():
            self.stderr.write(f"  rejected {count} x {reason}, e.g. {result['rejected_examples'][reason]}")
        self.stdout.write(json.dumps(result))
