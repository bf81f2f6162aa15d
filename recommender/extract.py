"""Interactions out of the database into NumPy, fast: no model objects.

PostgreSQL: one `COPY (SELECT ...) TO STDOUT (FORMAT BINARY)` whose rows all have the same fixed width
(every column is of a fixed-size type and NOT NULL), so the stream is parsed with one
`np.frombuffer` per chunk instead of a Python loop per row. The server sends the columns as they are stored
(`value` no longer cast to float4) and `kind` as its `hashtext`, mapped to the kind's code in NumPy
(`KindHashes`): one function call per row, where the `CASE kind WHEN ...` that used to map it made several
(10M rows into /dev/null, alternated, load 6: 5.8-6.8 s of the server's CPU with the `CASE`, 5.0-5.7 s).
`occurred_at` travels as the raw timestamptz (int64 microseconds since 2000) and becomes unix seconds in
NumPy: `EXTRACT(EPOCH ...)` returns `numeric` since PostgreSQL 14 and cost the server more than the rest of
the query together. A large extract (`PARALLEL_COPY_MIN_ROWS`) runs two COPYs over alternate ranges of the table's
pages, *packed*: one COPY row per range carrying its rows as fixed-width records in one `bytea`
(`packed_copy_query`), so the client takes ~100 messages instead of 10M. Other databases: a raw cursor with
`fetchmany`, still without model instances.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np
from django.db import connection

from merchants.models import Merchant
from recommender.models import Interaction, InteractionKind
from superapp.db import postgresql_sql

# Kinds travel as small integers (their position here); names are looked up once per kind, not per row.
KINDS: list[str] = [k.value for k in InteractionKind]
KIND_CODE = {name: code for code, name in enumerate(KINDS)}

_PG_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PG_ROW = np.dtype([
    ("n", ">i2"),
    ("l_user", ">i4"), ("user", ">i8"),
    ("l_merchant", ">i4"), ("merchant", ">i8"),
    ("l_kind", ">i4"), ("kind", ">i4"),  # hashtext(kind)
    ("l_value", ">i4"), ("value", ">f8"),
    ("l_ts", ">i4"), ("ts", ">i8"),  # timestamptz as PostgreSQL sends it: microseconds since 2000-01-01 UTC
])
# The same row led by the interaction's id (the retrain's extract snapshot needs it).
_PG_ROW_WITH_ID = np.dtype([("n", ">i2"), ("l_id", ">i4"), ("id", ">i8"),
                            *((name, _PG_ROW.fields[name][0]) for name in _PG_ROW.names[1:])])
# A packed COPY's record (`packed_copy_query`): the same fields without the per-field lengths.
_PACKED_ROW = np.dtype([("user", ">i8"), ("merchant", ">i8"), ("kind", ">i4"), ("value", ">f8"), ("ts", ">i8")])
_PACKED_ROW_WITH_ID = np.dtype([("id", ">i8"), *((name, _PACKED_ROW.fields[name][0]) for name in _PACKED_ROW.names)])
# The same with the user's and the merchant's ids as one int8, `user_id << 32 | merchant_id`, when every row's ids fit
# (`_ids_fit_in_pairs`): one send function and one concatenation fewer a row for the server.
_PACKED_ROW_PAIRED = np.dtype([("pair", ">i8"), ("kind", ">i4"), ("value", ">f8"), ("ts", ">i8")])
_PACKED_ROW_PAIRED_WITH_ID = np.dtype([("id", ">i8"), *((name, _PACKED_ROW_PAIRED.fields[name][0])
                                                         for name in _PACKED_ROW_PAIRED.names)])
_PAIR_MERCHANT_BITS = 32
_PG_EPOCH_UNIX = 946_684_800.0  # 2000-01-01T00:00:00Z
_EXPECTED_LENGTHS = {"l_user": 8, "l_merchant": 8, "l_kind": 4, "l_value": 8, "l_ts": 8}


@dataclass
class InteractionArrays:
    user_ids: np.ndarray       # int64, User.pk
    merchant_ids: np.ndarray   # int64, Merchant.pk
    kind_codes: np.ndarray     # int16, index into KINDS
    values: np.ndarray         # float32
    timestamps: np.ndarray     # float64 unix seconds

    def __len__(self) -> int:
        return len(self.user_ids)

    def head(self, n: int) -> InteractionArrays:
        """The first `n` rows, as views (no copy)."""
        return InteractionArrays(*(getattr(self, name)[:n] for name in self.FIELDS))

    def subset(self, mask: np.ndarray) -> InteractionArrays:
        return InteractionArrays(self.user_ids[mask], self.merchant_ids[mask], self.kind_codes[mask],
                                 self.values[mask], self.timestamps[mask])

    FIELDS: ClassVar[tuple[str, ...]] = ("user_ids", "merchant_ids", "kind_codes", "values", "timestamps")

    @classmethod
    def allocate(cls, n: int) -> InteractionArrays:
        """Uninitialised arrays for `n` rows."""
        return cls(np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int16), np.empty(n, np.float32),
                   np.empty(n, np.float64))

    @classmethod
    def empty(cls) -> InteractionArrays:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int16),
                   np.zeros(0, np.float32), np.zeros(0, np.float64))

    @classmethod
    def concat(cls, parts: list[InteractionArrays]) -> InteractionArrays:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.FIELDS))


def _kind_case() -> str:
    """`kind` -> its code in `KINDS` (-1 for anything else), in SQL (the databases other than PostgreSQL)."""
    whens = " ".join(f"WHEN '{name}' THEN {code}" for name, code in KIND_CODE.items())
    return f"CASE kind {whens} ELSE -1 END"


@dataclass(frozen=True)
class KindHashes:
    """PostgreSQL's `hashtext` of every kind name, which turns the hashes the COPY sends back into kind codes.
    Any other hash is an unknown kind (code -1), as in `_kind_case`; only a kind outside `KINDS` whose 32-bit
    hash equals a known kind's (a chance of ~1 in 4e8 per unknown name) would be counted as that kind.

    The lookup is a table indexed by the hash's low bits (as many as it takes for the known kinds to land in
    different slots) plus one comparison with the full hash: a few cheap passes over 10M rows, where a binary
    search cost ~0.3 s."""

    hashes: np.ndarray  # int32, the hash of KINDS[code] at position code

    def __post_init__(self) -> None:
        if len(np.unique(self.hashes)) != len(self.hashes):
            raise RuntimeError("two interaction kinds have the same hashtext on this server")
        bits = max(int(len(self.hashes) - 1).bit_length(), 1)
        while len(np.unique(self.hashes & ((1 << bits) - 1))) != len(self.hashes):
            bits += 1
        slots = np.full(1 << bits, -1, dtype=np.int16)
        slots[self.hashes & ((1 << bits) - 1)] = np.arange(len(self.hashes), dtype=np.int16)
        object.__setattr__(self, "_mask", np.int32((1 << bits) - 1))
        object.__setattr__(self, "_slots", slots)

    @classmethod
    def from_server(cls) -> KindHashes:
        with connection.cursor() as cursor:
            cursor.execute("SELECT hashtext(name) FROM unnest(%s::text[]) WITH ORDINALITY AS kinds(name, position) "
                           "ORDER BY position", [KINDS])
            return cls(np.array([row[0] for row in cursor.fetchall()], dtype=np.int32))

    def codes_of(self, hashes: np.ndarray) -> np.ndarray:
        hashes = hashes.astype(np.int32, copy=False)
        codes = self._slots[hashes & self._mask]
        codes[self.hashes[codes] != hashes] = -1  # another hash in a known kind's slot (codes -1: any entry)
        return codes


def _where(since: datetime | None, until: datetime | None, quote: Callable[[datetime], str],
           source_prefix: str | None = None, quote_text: Callable[[str], str] | None = None,
           extra: str | None = None) -> str:
    clauses = [extra] if extra else []
    if source_prefix:
        escaped = source_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(f"source LIKE {quote_text(escaped + '%')} ESCAPE '\\'")
    if since is not None:
        clauses.append(f"occurred_at >= {quote(since)}")
    if until is not None:
        clauses.append(f"occurred_at < {quote(until)}")
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def interactions_extract(*, since: datetime | None = None, until: datetime | None = None,
                         source_prefix: str | None = None,
                         active_merchants_only: bool = True,
                         progress: Callable[[int], None] | None = None) -> InteractionArrays:
    """All interactions in [since, until) as arrays (`progress(rows_so_far)` after each chunk).

    `source_prefix` keeps one imported data set, e.g. `import:ml100k:` (used by offline evaluation)."""
    if postgresql_sql():
        arrays = _extract_postgres(since, until, source_prefix, progress)
    else:
        arrays = _extract_generic(since, until, source_prefix, progress)
    return without_inactive_merchants(arrays) if active_merchants_only else arrays


def without_inactive_merchants(arrays: InteractionArrays) -> InteractionArrays:
    """Few merchants are inactive: mask them out here rather than joining 10M rows in SQL."""
    if not len(arrays):
        return arrays
    inactive = np.fromiter(Merchant.objects.filter(is_active=False).values_list("pk", flat=True), dtype=np.int64)
    return arrays.subset(~np.isin(arrays.merchant_ids, inactive)) if len(inactive) else arrays


# From this many rows (the planner's estimate) on, PostgreSQL sends the table over two connections (packed, in
# alternate ranges of pages): one COPY keeps one backend busy on one core while the other core idles.
PARALLEL_COPY_MIN_ROWS = 2_000_000


def copy_query(*, since: datetime | None = None, until: datetime | None = None, source_prefix: str | None = None,
               extra: str | None = None, with_ids: bool = False) -> str:
    """The `COPY ... TO STDOUT (FORMAT BINARY)` of the interactions `_CopyRowsParser` reads (led by `id` with
    `with_ids`)."""
    from psycopg import sql

    # The casts are no-ops on the current schema (the planner drops a cast to a column's own type); they
    # pin the fixed-width layout `_PG_ROW` expects.
    columns = "id::int8, " if with_ids else ""
    return (
        f"COPY (SELECT {columns}user_id::int8, merchant_id::int8, hashtext(kind), "  # noqa: S608
        f"value::float8, occurred_at::timestamptz FROM {Interaction._meta.db_table}"
        + _where(since, until, lambda d: sql.Literal(d).as_string(None), source_prefix,
                 lambda t: sql.Literal(t).as_string(None), extra)
        + ") TO STDOUT (FORMAT BINARY)"
    )


def _extract_postgres(since, until, source_prefix, progress) -> InteractionArrays:
    table = Interaction._meta.db_table
    kinds = KindHashes.from_server()
    estimated = estimated_rows(table)
    connection.ensure_connection()
    # Only outside a transaction: the second connection could not see the rows this one has not committed.
    if estimated >= PARALLEL_COPY_MIN_ROWS and connection.get_autocommit() and not connection.in_atomic_block:
        first = connection.connection
        opened = False
        try:
            with connection.wrap_database_errors:
                first.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                opened = True
                arrays, _ = copy_parallel(kinds, estimated, progress, since=since, until=until,
                                          source_prefix=source_prefix)
                first.execute("COMMIT")
                opened = False
        finally:
            if opened and not first.closed:
                first.execute("ROLLBACK")
        return arrays
    return copy_single(copy_query(since=since, until=until, source_prefix=source_prefix), kinds, estimated,
                       progress)[0]


def copy_single(query: str, kinds: KindHashes, estimated: int, progress,
                *, with_ids: bool = False,
                then: InteractionArrays | None = None) -> tuple[InteractionArrays, np.ndarray | None]:
    """One COPY on Django's connection (in whatever transaction it is in), parsed as it arrives; the arrays and,
    `with_ids`, the ids. `then`: rows to put after the COPY's (not `with_ids`), in the same arrays."""
    parser = _CopyRowsParser(progress, kinds, capacity=estimated + (len(then) if then is not None else 0),
                             with_ids=with_ids)
    # The connection's thread reads the stream; a second thread parses each chunk meanwhile (NumPy releases
    # the GIL), on the core the PostgreSQL backend leaves free. One worker keeps the chunks in order.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy-parse") as pool:
        parse_later = _ordered_feeder(pool, parser)
        with connection.wrap_database_errors:
            _copy_out(connection.connection, query, parse_later, chunk_bytes=16 << 20)
        parse_later(None)
    return parser.finish(then), parser.ids_out()


def _ordered_feeder(pool: ThreadPoolExecutor, parser: _CopyRowsParser) -> Callable[[bytearray | None], None]:
    """`feed(chunk)` parses `chunk` on `pool` (one worker: in order), keeping at most ~3 chunks in memory;
    `feed(None)` waits for all of them (and raises the first parsing error)."""
    pending: deque[Future] = deque()

    def feed(chunk: bytearray | None) -> None:
        if chunk is not None:
            pending.append(pool.submit(parser.feed, chunk))
        while pending and (chunk is None or len(pending) > 2 or pending[0].done()):
            pending.popleft().result()

    return feed


def copy_parallel(kinds: KindHashes, estimated: int, progress, *, since: datetime | None = None,
                  until: datetime | None = None, source_prefix: str | None = None,
                  with_ids: bool = False, extra: str | None = None,
                  then: InteractionArrays | None = None) -> tuple[InteractionArrays, np.ndarray | None]:
    """The table as two packed COPYs (`packed_copy_query`) on two connections that share one snapshot
    (`pg_export_snapshot`): the first sends page ranges 0, 2, 4, ..., the second 1, 3, 5, ... (two backends on
    the two cores, abreast through the table). This thread reads both as their data arrives and puts each range's
    rows in place in one set of arrays (`_PackedAssembler`, two threads writing): the same rows in the same
    (physical) order as one COPY's scan, with nothing concatenated afterwards.

    `extra`: one more SQL condition on the rows; `then`: rows to put after the COPYs' (not `with_ids`), in the same
    arrays. Django's connection must be in a REPEATABLE READ transaction (the caller's): its snapshot is the one
    shared."""
    from psycopg import sql

    table = Interaction._meta.db_table
    first = connection.connection
    with connection.wrap_database_errors:
        pages = int(first.execute("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int8",
                                  [table]).fetchone()[0])
        paired = _ids_fit_in_pairs(first, table)  # in the snapshot the COPYs read
    ranges = page_ranges(0, None, pages=pages)
    queries = [packed_copy_query(ranges[part::2], since=since, until=until, source_prefix=source_prefix,
                                 with_ids=with_ids, paired=paired, extra=extra) for part in range(2)]
    second = connection.get_new_connection(connection.get_connection_params())
    try:
        second.autocommit = True
        with connection.wrap_database_errors:
            snapshot = first.execute("SELECT pg_export_snapshot()").fetchone()[0]
            second.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            second.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="copy-write") as pool:
                assembler = _PackedAssembler(2, progress, kinds, with_ids=with_ids, pool=pool, paired=paired,
                                             capacity=estimated + (len(then) if then is not None else 0))
                try:
                    _copy_out_many([first, second], queries, [assembler.feeder(part) for part in range(2)],
                                   chunk_bytes=0)
                finally:
                    assembler.wait_writes()
    finally:
        second.close()
    return assembler.finish(then), assembler.ids_out()


def _ids_fit_in_pairs(raw, table: str) -> bool:
    """Whether every row's user and merchant ids fit a paired record (`_PACKED_ROW_PAIRED`: the user's below 2^31,
    the merchant's below 2^32, neither negative), read from the two ids' indexes (a few ms) in the connection's
    transaction: the extract's snapshot, so it holds for every row its COPYs send."""
    low_user, high_user, low_merchant, high_merchant = raw.execute(
        f"SELECT min(user_id), max(user_id), min(merchant_id), max(merchant_id) FROM {table}").fetchone()  # noqa: S608
    return high_user is None or (low_user >= 0 and high_user < 1 << 31
                                 and low_merchant >= 0 and high_merchant < 1 << _PAIR_MERCHANT_BITS)


# A packed COPY sends this many heap pages' rows (~100k rows of the interaction table) as one COPY row.
PACKED_CHUNK_PAGES = 1024
_BEYOND_LAST_PAGE = 4_294_967_294  # PostgreSQL's highest block number: an open end


def page_ranges(start: int, end: int | None, *, pages: int = 0,
                chunk_pages: int | None = None) -> list[tuple[int, int]]:
    """[start, end) in ranges of `chunk_pages` (default `PACKED_CHUNK_PAGES`) pages; `end` None: to the table's
    end, whatever it is when the query runs (`pages`, the size read before, only sets how the ranges are cut)."""
    step = chunk_pages or PACKED_CHUNK_PAGES
    stop = max(pages, start + 1) if end is None else end
    ranges = [(lo, min(lo + step, stop)) for lo in range(start, stop, step)]
    if end is None:
        ranges[-1] = (ranges[-1][0], _BEYOND_LAST_PAGE)
    return ranges


def packed_copy_query(ranges: list[tuple[int, int]], *, since: datetime | None = None,
                      until: datetime | None = None, source_prefix: str | None = None,
                      with_ids: bool = False, paired: bool = False, extra: str | None = None) -> str:
    """A `COPY ... TO STDOUT (FORMAT BINARY)` with one row per range of heap pages (`page_ranges`): the range's
    row count and its rows as one `bytea` of fixed-width big-endian records (`_PACKED_ROW`, led by the id
    `with_ids`; `paired`: `_PACKED_ROW_PAIRED`, when `_ids_fit_in_pairs`), built by the server. `_PackedRowsParser`
    reads it. `extra`: one more SQL condition on the rows (the caller's text, as `copy_query`'s).

    Why: a plain COPY sends one protocol message per table row, and the client's loop taking 10M messages from
    libpq (`get_copy_data`, holding the GIL) cost more CPU than the server spent producing them (10M rows with
    ids, two connections: 5.6-6.1 s of wall time and as much of the client's CPU); packed, a range of ~100k rows
    is one message. The server's CPU stays about the same (one 10M-row COPY into a file on the server: 3.0 s as
    rows, 3.3 s packed; the whole table with ids on one backend into /dev/null, paired 2.9 s against 3.1-3.3 s).
    The ranges are TID range scans (PostgreSQL 14+), one after the other in page order."""
    from psycopg import sql

    ids = ([f"int8send((user_id::int8 << {_PAIR_MERCHANT_BITS}) | merchant_id::int8)"] if paired
           else ["int8send(user_id::int8)", "int8send(merchant_id::int8)"])
    fields = (["int8send(id::int8)"] if with_ids else []) + ids + [
        "int4send(hashtext(kind))", "float8send(value::float8)", "timestamptz_send(occurred_at::timestamptz)"]
    lows = "{" + ",".join(str(lo) for lo, _ in ranges) + "}"
    highs = "{" + ",".join(str(hi) for _, hi in ranges) + "}"
    where = _where(since, until, lambda d: sql.Literal(d).as_string(None), source_prefix,
                   lambda t: sql.Literal(t).as_string(None),
                   "ctid >= format('(%s,0)', p.lo)::tid AND ctid < format('(%s,0)', p.hi)::tid"
                   + (f" AND ({extra})" if extra else ""))
    # Only integers and literals quoted by psycopg go into the text.
    return (
        f"COPY (SELECT r.n, r.packed FROM unnest('{lows}'::int8[], '{highs}'::int8[]) AS p(lo, hi), "  # noqa: S608
        f"LATERAL (SELECT count(*)::int8 AS n, string_agg({' || '.join(fields)}, ''::bytea) AS packed "
        f"FROM {Interaction._meta.db_table}{where}) r) TO STDOUT (FORMAT BINARY)"
    )


def estimated_rows(table: str) -> int:
    """The planner's row count of `table` (kept by `ANALYZE` and autovacuum), 0 if unknown: the parser's
    initial capacity. An under-estimate only costs a copy; over-estimated rows are never touched."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return int(row[0] * 1.02) + 1 if row and row[0] and row[0] > 0 else 0


class _StreamParser:
    """A `COPY ... (FORMAT BINARY)` stream to `InteractionArrays`, fed chunk by chunk (in order; a chunk may end
    anywhere). Subclasses read their row format in `feed` and hand blocks of records to `_store`."""

    def __init__(self, progress: Callable[[int], None] | None, kinds: KindHashes, capacity: int = 0,
                 with_ids: bool = False) -> None:
        self.progress = progress
        self.kinds = kinds
        self.ids = np.empty(capacity, np.int64) if with_ids else None
        # The output columns, filled block by block in the parsing thread: with the row count estimated up front,
        # nothing is copied once the stream ends (concatenating 10M rows' parts cost ~0.2 s after the last
        # chunk). Only the rows filled so far are touched; the rest of an over-estimate stays unallocated.
        self.out = InteractionArrays.allocate(capacity)
        self.rest = b""
        self.header_done = False
        self.rows = 0

    def _after_header(self, data: bytes | bytearray) -> int | None:
        """Where the rows start in `data` (0 once the header is behind), None if the header is not all there."""
        if self.header_done:
            return 0
        if len(data) < 19:
            return None
        if bytes(data[:11]) != _PG_SIGNATURE:
            raise RuntimeError("unexpected COPY BINARY header")
        self.header_done = True
        return 19 + int.from_bytes(data[15:19], "big")  # flags, then the header extension's length

    def _with_rest(self, chunk: bytes | bytearray) -> tuple[bytes | bytearray, int] | None:
        """The unparsed bytes so far (the previous chunk's tail, then `chunk`) and where the rows start in them;
        None (kept for the next chunk) while the header is not all there."""
        data = self.rest + chunk if self.rest else chunk
        offset = self._after_header(data)
        if offset is None:
            self.rest = bytes(data)
            return None
        return data, offset

    def _store(self, block: np.ndarray) -> None:
        """Append a block of records (fields user, merchant, kind, value, ts, and id `with_ids`)."""
        self._write(block, self._reserve(len(block)))
        if self.progress:
            self.progress(self.rows)

    def _reserve(self, n: int) -> int:
        """Room for `n` more rows (growing the arrays if the estimate was short); where they start."""
        start, stop = self.rows, self.rows + n
        if stop > len(self.out):  # under-estimated: grow by half at least
            grown = InteractionArrays.allocate(max(stop, len(self.out) * 3 // 2))
            for name in InteractionArrays.FIELDS:
                getattr(grown, name)[:start] = getattr(self.out, name)[:start]
            self.out = grown
            if self.ids is not None:
                ids = np.empty(len(grown), np.int64)
                ids[:start] = self.ids[:start]
                self.ids = ids
        self.rows = stop
        return start

    def _write(self, block: np.ndarray, start: int) -> None:
        """Write `block`'s records into the rows from `start` (reserved)."""
        stop = start + len(block)
        if self.ids is not None:
            self.ids[start:stop] = block["id"]
        if "pair" in block.dtype.names:  # `user << 32 | merchant`
            users = self.out.user_ids[start:stop]
            users[:] = block["pair"]
            np.bitwise_and(users, (1 << _PAIR_MERCHANT_BITS) - 1, out=self.out.merchant_ids[start:stop])
            users >>= _PAIR_MERCHANT_BITS
        else:
            self.out.user_ids[start:stop] = block["user"]
            self.out.merchant_ids[start:stop] = block["merchant"]
        self.out.kind_codes[start:stop] = self.kinds.codes_of(block["kind"])
        self.out.values[start:stop] = block["value"]
        ts = self.out.timestamps[start:stop]
        ts[:] = block["ts"]  # microseconds since 2000-01-01 -> unix seconds
        ts /= 1e6
        ts += _PG_EPOCH_UNIX

    def finish(self, then: InteractionArrays | None = None) -> InteractionArrays:
        """The rows parsed, then `then`'s (if any), once the stream has ended with its trailer."""
        if not self.header_done or self.rest != b"\xff\xff":  # the trailer: a 16-bit -1 after the last row
            raise RuntimeError("unexpected COPY BINARY trailer")
        return self._rows_then(then)

    def _rows_then(self, then: InteractionArrays | None) -> InteractionArrays:
        if then is not None and len(then):
            if self.ids is not None:
                raise ValueError("rows without ids cannot follow rows with ids")
            start = self._reserve(len(then))
            for name in InteractionArrays.FIELDS:
                getattr(self.out, name)[start:self.rows] = getattr(then, name)
        rows = self.out.head(self.rows)
        # The parser lets go of its arrays: whoever holds the rows decides when they are freed (a retrain frees
        # them once its build has read them), whether or not this object is still referenced.
        self.out = None
        return rows

    def ids_out(self) -> np.ndarray | None:
        """The rows' ids (`with_ids`), once `finish` has checked the stream."""
        return None if self.ids is None else self.ids[:self.rows]


class _CopyRowsParser(_StreamParser):
    """The fixed-width rows of a plain COPY (`copy_query`): one `np.frombuffer` per chunk."""

    def __init__(self, progress: Callable[[int], None] | None, kinds: KindHashes, capacity: int = 0,
                 with_ids: bool = False) -> None:
        super().__init__(progress, kinds, capacity, with_ids)
        self.row = _PG_ROW_WITH_ID if with_ids else _PG_ROW

    def feed(self, chunk: bytes | bytearray) -> None:
        if (started := self._with_rest(chunk)) is None:
            return
        data, offset = started
        row = self.row
        n = (len(data) - offset) // row.itemsize
        end = offset + n * row.itemsize
        self.rest = bytes(data[end:])
        if n <= 0:
            return
        block = np.frombuffer(data, dtype=row, count=n, offset=offset)
        with_ids = self.ids is not None
        if (not (block["n"] == 5 + with_ids).all() or (with_ids and (block["l_id"] != 8).any())
                or any((block[f] != size).any() for f, size in _EXPECTED_LENGTHS.items())):
            raise RuntimeError("unexpected row layout in COPY BINARY stream (a NULL?)")
        self._store(block)


class _PackedRowsParser(_StreamParser):
    """A packed COPY (`packed_copy_query`): rows of (count int8, records bytea), each bytea one `np.frombuffer`.
    Each range's records (None for a range without rows) go to `on_range` if given, else into its own arrays.
    `paired`: the query's records are paired (`_PACKED_ROW_PAIRED`)."""

    def __init__(self, progress: Callable[[int], None] | None, kinds: KindHashes, capacity: int = 0,
                 with_ids: bool = False, on_range: Callable[[np.ndarray | None], None] | None = None,
                 paired: bool = False) -> None:
        super().__init__(progress, kinds, capacity, with_ids)
        if paired:
            self.row = _PACKED_ROW_PAIRED_WITH_ID if with_ids else _PACKED_ROW_PAIRED
        else:
            self.row = _PACKED_ROW_WITH_ID if with_ids else _PACKED_ROW
        self.on_range = on_range

    def feed(self, chunk: bytes | bytearray) -> None:
        if (started := self._with_rest(chunk)) is None:
            return
        data, offset = started
        itemsize = self.row.itemsize
        while len(data) - offset >= 18:  # field count, count's length, count, records' length
            fields, count_length, count, size = struct.unpack_from(">hiqi", data, offset)
            if fields == -1:  # the trailer (`finish` checks it)
                break
            # A NULL in a record's column would make its whole record NULL, which string_agg skips: the count
            # (of rows, not records) and the records' length must agree.
            if fields != 2 or count_length != 8 or size != (count * itemsize if count else -1):
                raise RuntimeError("unexpected row layout in packed COPY stream (a NULL?)")
            end = offset + 18 + max(size, 0)
            if len(data) < end:
                break
            records = np.frombuffer(data, dtype=self.row, count=count, offset=offset + 18) if count else None
            if self.on_range is not None:
                self.on_range(records)
            elif records is not None:
                self._store(records)
            offset = end
        self.rest = bytes(data[offset:])


class _PackedAssembler(_StreamParser):
    """Packed COPY streams over interleaved page ranges (stream p of n sends ranges p, p + n, p + 2n, ...) into one
    set of arrays in range order: a range's records are written at their place as soon as every range before it
    has arrived, by `pool` (writes of different ranges run side by side). `feeder(p)` takes stream p's data (whole
    messages or any chunks)."""

    def __init__(self, parts: int, progress: Callable[[int], None] | None, kinds: KindHashes, *, capacity: int,
                 with_ids: bool, pool: ThreadPoolExecutor, paired: bool = False) -> None:
        super().__init__(progress, kinds, capacity, with_ids)
        self.parts = parts
        self.pool = pool
        self.streams = [_PackedRowsParser(None, kinds, with_ids=with_ids, on_range=self._arrival(part), paired=paired)
                        for part in range(parts)]
        self.arrived = [0] * parts    # ranges received from each stream
        self.waiting: dict[int, np.ndarray | None] = {}  # received, not placed yet (a range before is missing)
        self.next_range = 0
        self.writes: deque[Future] = deque()

    def feeder(self, part: int) -> Callable[[bytes | bytearray | memoryview], None]:
        def feed(chunk: bytes | bytearray | memoryview) -> None:
            self.streams[part].feed(chunk)
            self._place()
        return feed

    def _arrival(self, part: int) -> Callable[[np.ndarray | None], None]:
        def arrived(records: np.ndarray | None) -> None:
            self.waiting[self.arrived[part] * self.parts + part] = records
            self.arrived[part] += 1
        return arrived

    def _place(self) -> None:
        while self.next_range in self.waiting:
            records = self.waiting.pop(self.next_range)
            self.next_range += 1
            if records is None:
                continue
            if self.rows + len(records) > len(self.out):
                self.wait_writes()  # growing copies the rows written so far
            start = self._reserve(len(records))
            self.writes.append(self.pool.submit(self._write, records, start))
            if self.progress:
                self.progress(self.rows)
        while self.writes and self.writes[0].done():
            self.writes.popleft().result()

    def wait_writes(self) -> None:
        """Wait for the writes submitted so far (raising the first error)."""
        while self.writes:
            self.writes.popleft().result()

    def finish(self, then: InteractionArrays | None = None) -> InteractionArrays:
        self.wait_writes()
        for stream in self.streams:
            stream.finish()  # each ended with its trailer
        if self.waiting:
            raise RuntimeError("a packed COPY's page ranges did not all arrive")
        self.streams = []  # their callbacks refer back to this object: no cycle left for the garbage collector
        return self._rows_then(then)


def _copy_out(raw, query: str, on_chunk: Callable[[bytearray], None], *, chunk_bytes: int) -> None:
    """Run `COPY ... TO STDOUT` on a psycopg connection and hand its data to `on_chunk` in chunks of about
    `chunk_bytes` (each a new bytearray, the consumer's to keep).

    PostgreSQL sends one CopyData message per row, and psycopg's `Copy` iterator hands each one through a
    Python generator (~0.7 µs per row here, more than the server spends producing the row). This reads the
    messages with libpq's blocking `PQgetCopyData` through psycopg's documented low-level `pgconn` instead
    (~0.25 µs per row). The connection is left idle whatever happens: after an error in `on_chunk` the rest
    of the stream is read and dropped before the error propagates.
    """
    from psycopg import errors

    with raw.lock:  # psycopg's own lock: nothing else uses the connection meanwhile
        pgconn = raw.pgconn
        _copy_start(pgconn, query, errors)
        stream = _CopyStream(on_chunk)
        get = pgconn.get_copy_data
        buffer = bytearray()
        extend = buffer.extend
        while True:
            nbytes, data = get(0)  # blocking; -1 when the COPY is done, -2 on error
            if nbytes <= 0:
                break
            extend(data)
            if len(buffer) >= chunk_bytes:
                stream.hand(buffer)
                buffer = bytearray()
                extend = buffer.extend
        stream.end(buffer, nbytes)
        _copy_finish(pgconn, stream, errors)


def _copy_out_many(raws: list, queries: list[str], on_chunks: list[Callable[[bytearray], None]], *,
                   chunk_bytes: int) -> None:
    """`_copy_out` of one query per connection, all running at once: this thread takes whatever rows have
    arrived on each connection in turn (non-blocking `PQgetCopyData`) and waits in `select` when none has any.
    `chunk_bytes` 0 hands each message on by itself (for streams of few, large messages: no copy).
    Every connection is left idle whatever happens (each stream is read to its end)."""
    import select
    from contextlib import ExitStack

    from psycopg import errors

    with ExitStack() as locks:
        for raw in raws:
            locks.enter_context(raw.lock)
        pgconns = [raw.pgconn for raw in raws]
        started = []
        try:
            for pgconn, query in zip(pgconns, queries, strict=True):
                _copy_start(pgconn, query, errors)
                started.append(pgconn)
        except BaseException:
            for pgconn in started:  # drain those already streaming, so that their connections stay usable
                _copy_finish(pgconn, _CopyStream(None), errors, drain=True)
            raise
        streams = [_CopyStream(on_chunk) for on_chunk in on_chunks]
        buffers = [bytearray() for _ in pgconns]
        active = set(range(len(pgconns)))
        while active:
            waiting = []
            for index in sorted(active):
                get, buffer = pgconns[index].get_copy_data, buffers[index]
                extend = buffer.extend
                nbytes, data = get(1)  # non-blocking: 0 when no whole row is in libpq's buffer
                while nbytes > 0:
                    if not chunk_bytes:  # each message as it is (a memoryview of libpq's buffer, kept alive)
                        streams[index].hand(data)
                    else:
                        extend(data)
                        if len(buffer) >= chunk_bytes:
                            streams[index].hand(buffer)
                            buffer = buffers[index] = bytearray()
                            extend = buffer.extend
                    nbytes, data = get(1)
                if nbytes == 0:
                    waiting.append(index)
                else:  # -1 done, -2 error
                    streams[index].end(buffer, nbytes)
                    active.discard(index)
            if waiting and len(waiting) == len(active):
                readable, _, _ = select.select([pgconns[index].socket for index in waiting], [], [])
                for index in waiting:
                    if pgconns[index].socket in readable:
                        pgconns[index].consume_input()
            else:
                for index in waiting:
                    pgconns[index].consume_input()
        failure = None
        for pgconn, stream in zip(pgconns, streams, strict=True):
            try:
                _copy_finish(pgconn, stream, errors)
            except BaseException as error:  # noqa: BLE001 -- the first is re-raised once all are finished
                failure = failure or error
        if failure is not None:
            raise failure


class _CopyStream:
    """Hands a COPY's chunks to `on_chunk` and remembers the first error the consumer raised (the stream is
    still read to its end; `_copy_finish` re-raises it)."""

    def __init__(self, on_chunk: Callable[[bytearray], None] | None) -> None:
        self.on_chunk = on_chunk
        self.failure: BaseException | None = None
        self.nbytes = 0

    def hand(self, buffer: bytearray) -> None:
        if self.failure is None and self.on_chunk is not None:
            try:
                self.on_chunk(buffer)
            except BaseException as error:  # noqa: BLE001 -- re-raised once the stream is drained
                self.failure = error

    def end(self, buffer: bytearray, nbytes: int) -> None:
        """The stream ended (`nbytes` -1: done, -2: error); `buffer` holds its last rows."""
        self.nbytes = nbytes
        if buffer and nbytes == -1:
            self.hand(buffer)


def _copy_start(pgconn, query: str, errors) -> None:
    from psycopg import pq

    pgconn.send_query(query.encode())
    while pgconn.flush():  # psycopg's connections are non-blocking
        pass
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        while pgconn.get_result() is not None:
            pass
        raise _pg_error(result, pgconn, errors)


def _copy_finish(pgconn, stream: _CopyStream, errors, *, drain: bool = False) -> None:
    """Read the COPY's results (after its data, or all of its data first with `drain`) and raise the first
    error: the consumer's, the server's, or the connection's."""
    from psycopg import pq

    if drain:
        while (nbytes := pgconn.get_copy_data(0)[0]) > 0:
            pass
        stream.nbytes = nbytes
    failure = stream.failure
    while (result := pgconn.get_result()) is not None:
        if result.status != pq.ExecStatus.COMMAND_OK and failure is None:
            failure = _pg_error(result, pgconn, errors)
    if stream.nbytes == -2 and failure is None:
        failure = _pg_error(None, pgconn, errors)
    if failure is not None:
        raise failure


def _pg_error(result, pgconn, errors) -> Exception:
    if result is not None:
        return errors.error_from_result(result)
    return errors.OperationalError(pgconn.error_message.decode(errors="replace"))


def _sqlite_quote(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return f"'{value.isoformat(sep=' ')}'"


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _extract_generic(since, until, source_prefix, progress) -> InteractionArrays:
    table = Interaction._meta.db_table
    if connection.vendor == "sqlite":
        epoch = "(julianday(occurred_at) - 2440587.5) * 86400.0"
    else:
        epoch = "EXTRACT(EPOCH FROM occurred_at)"
    query = (f"SELECT user_id, merchant_id, {_kind_case()}, value, {epoch} FROM {table}"  # noqa: S608
             + _where(since, until, _sqlite_quote, source_prefix, _sql_text))
    parts = []
    rows = 0
    with connection.cursor() as cursor:
        cursor.execute(query)
        while chunk := cursor.fetchmany(100_000):
            block = np.array(chunk, dtype=np.float64)
            parts.append(InteractionArrays(block[:, 0].astype(np.int64), block[:, 1].astype(np.int64),
                                           block[:, 2].astype(np.int16), block[:, 3].astype(np.float32),
                                           np.round(block[:, 4], 3)))
            rows += len(chunk)
            if progress:
                progress(rows)
    return InteractionArrays.concat(parts)
