"""Bulk import of interaction files (CSV/TSV) — the service behind `manage.py import_interactions`.

Rows are parsed and validated in Python (bad rows are counted and reported, never half-written), then
users, placeholder merchants and interactions are written in bulk: `COPY` into a temporary table plus one
`INSERT ... ON CONFLICT DO NOTHING` on PostgreSQL, `bulk_create(ignore_conflicts=True)` elsewhere.

Idempotent: every row becomes `source = "import:<dataset>:<line>"`, unique with its kind, so importing
the same file again stores nothing new.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from merchants.models import Vertical
from merchants.services import merchants_placeholder_ensure
from recommender.models import Interaction, InteractionKind
from superapp.accounts.services import users_imported_ensure
from superapp.db import postgresql_sql

MAX_SOURCE = 64
KINDS = set(InteractionKind.values)


@dataclass
class ColumnMap:
    user: str | int = 0
    item: str | int = 1
    time: str | int | None = None
    kind: str | int | None = None
    weight: str | int | None = None


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    bad_rows: int = 0
    users_created: int = 0
    items_created: int = 0
    errors: list[str] = field(default_factory=list)  # the first few, with line numbers

    def bad(self, line: int, message: str) -> None:
        self.bad_rows += 1
        if len(self.errors) < 20:
            self.errors.append(f"line {line}: {message}")


@dataclass
class ParsedRow:
    line: int
    user: str
    item: str
    kind: str
    value: float
    occurred_at: datetime


def sniff_delimiter(path: Path, delimiter: str | None) -> str:
    if delimiter:
        return {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}.get(
            delimiter, delimiter)
    with path.open(newline="", encoding="utf-8") as handle:
        sample = handle.readline()
    for candidate in ("\t", ",", ";", "|"):
        if candidate in sample:
            return candidate
    return " "


def _resolve(column: str | int | None, header: list[str] | None, name: str) -> int | None:
    if column is None:
        return None
    if isinstance(column, int) or (isinstance(column, str) and column.isdigit()):
        return int(column)
    if header is None:
        raise ValueError(f"--{name}-col {column!r} is a column name but the file has no header row")
    try:
        return header.index(column)
    except ValueError:
        raise ValueError(f"--{name}-col {column!r} is not in the header {header}") from None


def parse_time(raw: str) -> datetime:
    text = raw.strip()
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if not math.isfinite(number) or number < 0:
        raise ValueError("not a valid unix time")
    if number > 1e11:  # milliseconds
        number /= 1000.0
    return datetime.fromtimestamp(number, tz=UTC)


def parse_rows(path: Path, *, columns: ColumnMap, delimiter: str, header: bool | None, default_kind: str,
               id_prefix: str, report: ImportReport, on_rows: Callable[[int], None] | None = None,
               ) -> Iterator[ParsedRow]:
    """Valid rows of the file; bad rows go to `report` with their line number."""
    now = timezone.now()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter, skipinitialspace=delimiter == " ")
        first = next(reader, None)
        if first is None:
            return
        if header is None:
            header = _looks_like_header(first, columns)
        names = [c.strip() for c in first] if header else None
        index = {name: _resolve(getattr(columns, name), names, name) for name in ("user", "item", "time", "kind",
                                                                               "weight")}
        needed = max(i for i in index.values() if i is not None)
        pending = [] if header else [(1, first)]
        for line, row in _chain(pending, reader, start=2):
            report.rows += 1
            if on_rows and line % 10000 == 0:
                on_rows(line)
            if not row or all(not cell.strip() for cell in row):
                report.rows -= 1
                continue
            if len(row) <= needed:
                report.bad(line, f"expected at least {needed + 1} columns, got {len(row)}")
                continue
            user, item = row[index["user"]].strip(), row[index["item"]].strip()
            if not user or not item:
                report.bad(line, "empty user or item id")
                continue
            if len(id_prefix) + max(len(user), len(item)) > 64:
                report.bad(line, "user or item id longer than 64 characters")
                continue
            kind = row[index["kind"]].strip().lower() if index["kind"] is not None else default_kind
            if kind not in KINDS:
                report.bad(line, f"unknown kind {kind!r}")
                continue
            value = 1.0
            if index["weight"] is not None:
                try:
                    value = float(row[index["weight"]])
                except ValueError:
                    report.bad(line, f"weight {row[index['weight']]!r} is not a number")
                    continue
                if not math.isfinite(value):
                    report.bad(line, "weight is not finite")
                    continue
            occurred_at = now
            if index["time"] is not None:
                try:
                    occurred_at = parse_time(row[index["time"]])
                except (ValueError, OverflowError, OSError):
                    report.bad(line, f"timestamp {row[index['time']]!r} is neither unix seconds nor ISO 8601")
                    continue
            yield ParsedRow(line, id_prefix + user, id_prefix + item, kind, value, occurred_at)
        if on_rows:
            on_rows(report.rows + (1 if header else 0))


def _is_name(column: str | int | None) -> bool:
    return isinstance(column, str) and not column.isdigit()


def _looks_like_header(first: list[str], columns: ColumnMap) -> bool:
    """Columns given by name mean a header; else a non-numeric weight or time cell in the first row does."""
    specs = [columns.user, columns.item, columns.time, columns.kind, columns.weight]
    if any(_is_name(c) for c in specs):
        return True
    for column in (columns.weight, columns.time):
        if column is not None and int(column) < len(first):
            cell = first[int(column)].strip()
            if column == columns.time and not _numeric(cell):
                try:
                    parse_time(cell)
                except (ValueError, OverflowError, OSError):
                    return True
            elif column == columns.weight and not _numeric(cell):
                return True
    return False


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _chain(pending: list, reader: Iterable, *, start: int) -> Iterator[tuple[int, list[str]]]:
    yield from pending
    for offset, row in enumerate(reader):
        yield start + offset, row


def _chunks(values: list, size: int = 2000) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def users_for_external_ids(external_ids: set[str], report: ImportReport) -> dict[str, int]:
    """Map external ids to user pks; the accounts app creates imported users (unusable password) for unknown ones."""
    found, created = users_imported_ensure(external_ids=external_ids)
    report.users_created += created
    return found


def merchants_for_external_ids(external_ids: set[str], *, create: bool, vertical: str,
                               report: ImportReport) -> dict[str, int]:
    """Map external ids to merchant pks; with `create`, the merchants app adds placeholders for unknown ones."""
    found, created = merchants_placeholder_ensure(external_ids=external_ids, create=create, vertical=vertical)
    report.items_created += created
    return found


def interactions_import(path: Path, *, columns: ColumnMap, dataset: str, delimiter: str | None = None,
                        header: bool | None = None, default_kind: str = InteractionKind.IMPORT,
                        id_prefix: str = "", create_missing_items: bool = False,
                        item_vertical: str = Vertical.LEISURE, batch_size: int = 50_000,
                        on_rows: Callable[[int], None] | None = None) -> ImportReport:
    report = ImportReport()
    if default_kind not in KINDS:
        raise ValueError(f"unknown kind {default_kind!r}")
    source_prefix = f"import:{dataset}:"[: MAX_SOURCE - 10]
    rows = parse_rows(path, columns=columns, delimiter=sniff_delimiter(path, delimiter), header=header,
                      default_kind=default_kind, id_prefix=id_prefix, report=report, on_rows=on_rows)
    batch: list[ParsedRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            _write_batch(batch, source_prefix=source_prefix, create_missing_items=create_missing_items,
                         item_vertical=item_vertical, report=report)
            batch = []
    if batch:
        _write_batch(batch, source_prefix=source_prefix, create_missing_items=create_missing_items,
                     item_vertical=item_vertical, report=report)
    return report


def _write_batch(batch: list[ParsedRow], *, source_prefix: str, create_missing_items: bool, item_vertical: str,
                 report: ImportReport) -> None:
    with transaction.atomic():
        users = users_for_external_ids({r.user for r in batch}, report)
        merchants = merchants_for_external_ids({r.item for r in batch}, create=create_missing_items,
                                               vertical=item_vertical, report=report)
        records = []
        for row in batch:
            merchant = merchants.get(row.item)
            if merchant is None:
                report.bad(row.line, f"unknown item {row.item!r} (use --create-missing-items)")
                continue
            user = users.get(row.user)
            if user is None:
                report.bad(row.line, f"could not create a user for {row.user!r} (username taken)")
                continue
            records.append((user, merchant, row.kind, row.value, row.occurred_at, f"{source_prefix}{row.line}"))
        inserted = _insert(records)
    report.imported += inserted
    report.duplicates += len(records) - inserted


def _insert(records: list[tuple]) -> int:
    if not records:
        return 0
    if postgresql_sql():
        return _insert_postgres(records)
    sources = [r[5] for r in records]
    # (kind, source) is unique and each line has one source: rows already there are the duplicates.
    # Filter on kind too: the (kind, source) unique index starts with kind.
    kinds = sorted({r[2] for r in records})
    present = sum(Interaction.objects.filter(kind__in=kinds, source__in=chunk).count()
                  for chunk in _chunks(sources, 5000))
    if present < len(records):
        # Raw executemany: the ORM's per-field preparation costs more than SQLite's insert itself.
        adapt = connection.ops.adapt_datetimefield_value
        table = Interaction._meta.db_table
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} (user_id, merchant_id, kind, value, occurred_at, source) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(u, m, k, v, adapt(t), s) for u, m, k, v, t, s in records])
    return len(records) - present


def _insert_postgres(records: list[tuple]) -> int:
    table = Interaction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS import_interaction (user_id bigint, merchant_id bigint, "
                       "kind varchar(16), value double precision, occurred_at timestamptz, source varchar(64)) "
                       "ON COMMIT DELETE ROWS")
        buffer = io.StringIO()
        for user, merchant, kind, value, when, source in records:
            buffer.write(f"{user}\t{merchant}\t{kind}\t{value!r}\t{when.isoformat()}\t{source}\n")
        with cursor.cursor.copy("COPY import_interaction FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        cursor.execute(
            f"INSERT INTO {table} (user_id, merchant_id, kind, value, occurred_at, source) "  # noqa: S608
            "SELECT user_id, merchant_id, kind, value, occurred_at, source FROM import_interaction "
            "ON CONFLICT DO NOTHING")
        inserted = cursor.rowcount
        cursor.execute("TRUNCATE import_interaction")
    return inserted


def count_lines(path: Path) -> int:
    """Lines in the file (for the progress bar's total), counted in binary chunks."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")
