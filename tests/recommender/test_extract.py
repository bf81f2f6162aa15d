"""Extraction: the arrays are the rows, on every database; the PostgreSQL stream reader leaves the connection
usable whatever happens."""

import struct
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import connection, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat

from recommender import extract
from recommender.extract import KIND_CODE, _CopyRowsParser, interactions_extract
from recommender.models import Interaction
from tests.factories import UserFactory
from tests.recommender.factories import taste_world

pytestmark = pytest.mark.django_db


def _expected(rows) -> dict[str, np.ndarray]:
    rows = sorted(rows, key=lambda r: (r.user_id, r.merchant_id, r.occurred_at, r.kind, r.value))
    return {
        "user": np.array([r.user_id for r in rows], np.int64),
        "merchant": np.array([r.merchant_id for r in rows], np.int64),
        "kind": np.array([KIND_CODE[r.kind] for r in rows], np.int16),
        "value": np.array([r.value for r in rows], np.float32),
        "ts": np.array([r.occurred_at.timestamp() for r in rows], np.float64),
    }


def _got(arrays) -> dict[str, np.ndarray]:
    order = np.lexsort((arrays.values, arrays.kind_codes, arrays.timestamps, arrays.merchant_ids, arrays.user_ids))
    return {"user": arrays.user_ids[order], "merchant": arrays.merchant_ids[order], "kind": arrays.kind_codes[order],
            "value": arrays.values[order], "ts": arrays.timestamps[order]}


def _assert_same(arrays, rows) -> None:
    got, expected = _got(arrays), _expected(rows)
    for name in ("user", "merchant", "kind", "value"):
        assert np.array_equal(got[name], expected[name]), name
    assert np.allclose(got["ts"], expected["ts"], rtol=0, atol=1e-3)


def test_the_arrays_are_the_rows_with_the_window_and_the_source_filter(sql_branch):
    taste_world()
    first = list(Interaction.objects.order_by("pk").values_list("pk", flat=True)[:40])
    Interaction.objects.filter(pk__in=first).update(kind="review", value=4.0,
                                                    source=Concat(Value("import:x:"), Cast("pk", CharField())))
    _assert_same(interactions_extract(), Interaction.objects.all())
    middle = Interaction.objects.order_by("occurred_at")[300].occurred_at
    _assert_same(interactions_extract(since=middle), Interaction.objects.filter(occurred_at__gte=middle))
    _assert_same(interactions_extract(until=middle), Interaction.objects.filter(occurred_at__lt=middle))
    _assert_same(interactions_extract(source_prefix="import:x:"), Interaction.objects.filter(pk__in=first))


def test_nothing_to_extract_gives_empty_arrays():
    far = datetime.now(UTC) + timedelta(days=365)
    assert len(interactions_extract(since=far)) == 0


def test_the_stream_parser_accepts_any_chunking_and_checks_the_layout():
    rows = np.zeros(3, dtype=extract._PG_ROW)
    rows["n"] = 5
    for field, size in extract._EXPECTED_LENGTHS.items():
        rows[field] = size
    kinds = extract.KindHashes(np.array([5, 900, -7], np.int32))  # codes 0, 1, 2
    rows["user"], rows["merchant"], rows["kind"] = [1, 2, 3], [10, 20, 30], [5, 900, -7]  # kinds' hashes
    rows["value"], rows["ts"] = [1.0, 2.5, -1.0], [0, 1_000_000, 2_000_000]
    stream = extract._PG_SIGNATURE + bytes(8) + rows.tobytes() + b"\xff\xff"
    for size, capacity in ((1, 0), (7, 1), (56, 2), (57, 3), (len(stream), 0), (len(stream), 1000)):
        parser = _CopyRowsParser(None, kinds, capacity=capacity)  # too small (it grows), exact, or too large
        for start in range(0, len(stream), size):
            parser.feed(bytearray(stream[start:start + size]))
        arrays = parser.finish()
        assert arrays.user_ids.tolist() == [1, 2, 3] and arrays.merchant_ids.tolist() == [10, 20, 30]
        assert arrays.kind_codes.tolist() == [0, 1, 2] and arrays.values.tolist() == [1.0, 2.5, -1.0]
        assert arrays.timestamps.tolist() == [946_684_800.0, 946_684_801.0, 946_684_802.0]
    rows["kind"][2] = 6  # a kind the mapping does not know
    parser = _CopyRowsParser(None, kinds)
    parser.feed(extract._PG_SIGNATURE + bytes(8) + rows.tobytes() + b"\xff\xff")
    assert parser.finish().kind_codes.tolist() == [0, 1, -1]
    parser = _CopyRowsParser(None, kinds)
    parser.feed(stream[:-1])
    with pytest.raises(RuntimeError, match="trailer"):
        parser.finish()
    rows["l_kind"][1] = -1  # a NULL
    with pytest.raises(RuntimeError, match="row layout"):
        _CopyRowsParser(None, kinds).feed(extract._PG_SIGNATURE + bytes(8) + rows.tobytes() + b"\xff\xff")


def _packed_stream(blocks, row) -> bytes:
    """A packed COPY's stream: one (count, records) row per block, None for a range without rows."""
    out = [extract._PG_SIGNATURE + bytes(8)]
    for block in blocks:
        if block is None:
            out.append(struct.pack(">hiqi", 2, 8, 0, -1))
        else:
            out.append(struct.pack(">hiqi", 2, 8, len(block), len(block) * row.itemsize) + block.tobytes())
    return b"".join(out) + b"\xff\xff"


def test_the_packed_stream_parser_accepts_any_chunking_and_checks_the_counts():
    # Given a packed stream of two ranges with rows and two without (ids included),
    kinds = extract.KindHashes(np.array([5, 900, -7], np.int32))
    row = extract._PACKED_ROW_WITH_ID
    records = np.zeros(5, dtype=row)
    records["id"], records["user"], records["merchant"] = [11, 12, 13, 14, 15], [1, 2, 3, 4, 5], [10, 20, 30, 40, 50]
    records["kind"], records["value"] = [5, 900, -7, 6, 5], [1.0, 2.5, -1.0, 3.0, 4.0]
    records["ts"] = [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000]
    stream = _packed_stream([None, records[:2], None, records[2:]], row)
    # when it arrives cut anywhere, into arrays of any first capacity,
    for size, capacity in ((1, 0), (7, 1), (18, 2), (19, 5), (len(stream), 100)):
        parser = extract._PackedRowsParser(None, kinds, capacity=capacity, with_ids=True)
        for start in range(0, len(stream), size):
            parser.feed(bytearray(stream[start:start + size]))
        arrays = parser.finish()
        # then the arrays are the records, in order, kinds mapped (6: unknown) and times in unix seconds.
        assert parser.ids_out().tolist() == [11, 12, 13, 14, 15]
        assert arrays.user_ids.tolist() == [1, 2, 3, 4, 5] and arrays.merchant_ids.tolist() == [10, 20, 30, 40, 50]
        assert arrays.kind_codes.tolist() == [0, 1, 2, -1, 0] and arrays.values.tolist() == [1.0, 2.5, -1.0, 3.0, 4.0]
        assert arrays.timestamps.tolist() == [946_684_800.0 + second for second in range(5)]
    parser = extract._PackedRowsParser(None, kinds, with_ids=True)
    parser.feed(stream[:-1])
    with pytest.raises(RuntimeError, match="trailer"):
        parser.finish()
    # A row with a NULL column drops out of string_agg: its range's count and records disagree.
    short = extract._PG_SIGNATURE + bytes(8) + struct.pack(">hiqi", 2, 8, 3, 2 * row.itemsize) + records[:2].tobytes()
    with pytest.raises(RuntimeError, match="row layout"):
        extract._PackedRowsParser(None, kinds, with_ids=True).feed(short + b"\xff\xff")


def test_a_paired_record_gives_the_user_and_the_merchant_up_to_the_highest_ids_that_fit():
    # Given paired records (`user << 32 | merchant`) with the highest ids a pair holds,
    kinds = extract.KindHashes(np.array([5, 900, -7], np.int32))
    users, merchants = [1, 2**31 - 1, 7], [2**32 - 1, 1, 0]
    records = np.zeros(3, dtype=extract._PACKED_ROW_PAIRED_WITH_ID)
    records["id"], records["pair"] = [4, 5, 6], [(u << 32) | m for u, m in zip(users, merchants, strict=True)]
    records["kind"], records["value"], records["ts"] = [900, 5, -7], [1.0, 2.0, 3.0], 0
    parser = extract._PackedRowsParser(None, kinds, with_ids=True, paired=True)
    parser.feed(_packed_stream([records[:1], None, records[1:]], extract._PACKED_ROW_PAIRED_WITH_ID))
    arrays = parser.finish()
    # then the columns are the ids the pairs were made of.
    assert arrays.user_ids.tolist() == users and arrays.merchant_ids.tolist() == merchants
    assert parser.ids_out().tolist() == [4, 5, 6] and arrays.kind_codes.tolist() == [1, 0, 2]


def test_the_assembler_puts_interleaved_ranges_in_order_whatever_arrives_first():
    # Given 7 ranges of records (two without rows) sent by two streams in turn (ranges 0, 2, 4, 6 and 1, 3, 5),
    kinds = extract.KindHashes(np.array([5, 900, -7], np.int32))
    row = extract._PACKED_ROW_WITH_ID
    sizes = [3, 0, 2, 4, 0, 1, 5]
    ranges, next_id = [], 1
    for size in sizes:
        records = np.zeros(size, dtype=row)
        records["id"] = records["user"] = np.arange(next_id, next_id + size)
        records["kind"], records["ts"] = 900, 0
        ranges.append(records if size else None)
        next_id += size
    streams = [_packed_stream(ranges[part::2], row) for part in range(2)]
    for capacity, size, second_first in ((0, 5, False), (3, 7, True), (100, 1 << 20, True)):
        # when their data arrives cut anywhere, in turns, one stream's ahead of the other's (any first capacity),
        with ThreadPoolExecutor(max_workers=2) as pool:
            assembler = extract._PackedAssembler(2, None, kinds, capacity=capacity, with_ids=True, pool=pool)
            feeders = [assembler.feeder(part) for part in range(2)]
            order = [1, 0] if second_first else [0, 1]
            chunks = [[stream[start:start + size] for start in range(0, len(stream), size)] for stream in streams]
            for part in order:  # the whole of one stream, then the other: the most waiting there can be
                for chunk in chunks[part]:
                    feeders[part](memoryview(chunk))
            arrays = assembler.finish()
        # then the rows are in range order, each range's records in theirs.
        assert assembler.ids_out().tolist() == list(range(1, next_id))
        assert arrays.user_ids.tolist() == list(range(1, next_id)) and set(arrays.kind_codes.tolist()) == {1}
    with ThreadPoolExecutor(max_workers=2) as pool:  # a stream that stopped early
        assembler = extract._PackedAssembler(2, None, kinds, capacity=0, with_ids=True, pool=pool)
        assembler.feeder(0)(streams[0])
        assembler.feeder(1)(streams[1][:-2])
        with pytest.raises(RuntimeError, match="trailer"):
            assembler.finish()


def test_page_ranges_cover_the_pages_once_and_leave_the_last_one_open():
    assert extract.page_ranges(0, 5, chunk_pages=2) == [(0, 2), (2, 4), (4, 5)]
    assert extract.page_ranges(0, 0, chunk_pages=2) == []
    open_end = extract._BEYOND_LAST_PAGE
    assert extract.page_ranges(5, None, pages=9, chunk_pages=2) == [(5, 7), (7, open_end)]
    assert extract.page_ranges(0, None, pages=0, chunk_pages=2) == [(0, open_end)]  # rows added since still read


@pytest.mark.postgres
def test_the_copy_reader_leaves_the_connection_usable_after_errors():
    taste_world()
    connection.ensure_connection()
    raw = connection.connection
    with pytest.raises(Exception, match="no_such_table"), transaction.atomic():
        extract._copy_out(raw, "COPY (SELECT 1 FROM no_such_table) TO STDOUT (FORMAT BINARY)",
                          lambda chunk: None, chunk_bytes=1 << 10)

    def fail(chunk):
        raise ValueError("consumer failed")

    table = Interaction._meta.db_table
    with pytest.raises(ValueError, match="consumer failed"), transaction.atomic():
        extract._copy_out(raw, f"COPY (SELECT * FROM {table}) TO STDOUT (FORMAT BINARY)", fail,  # noqa: S608
                          chunk_bytes=256)
    with pytest.raises(Exception, match="division by zero"), transaction.atomic():  # after the stream began
        extract._copy_out(raw, f"COPY (SELECT 1 / (count(*) OVER (ORDER BY id) - 300) FROM {table}) "  # noqa: S608
                          "TO STDOUT (FORMAT BINARY)", lambda chunk: None, chunk_bytes=64)
    chunks = []
    extract._copy_out(raw, f"COPY (SELECT id FROM {table}) TO STDOUT (FORMAT BINARY)",  # noqa: S608
                      chunks.append, chunk_bytes=100)
    assert len(chunks) > 1 and sum(map(len, chunks)) == 19 + Interaction.objects.count() * 14 + 2
    _assert_same(interactions_extract(), Interaction.objects.all())


def test_the_kind_mapping_in_sql_gives_every_kind_its_code():
    case = extract._kind_case()
    for name, code in KIND_CODE.items():
        assert case.count(f"WHEN '{name}' THEN {code} ") == 1
    assert case.endswith("ELSE -1 END")


@pytest.mark.postgres
def test_the_copy_maps_every_kind_by_its_hash_and_unknown_kinds_to_minus_one():
    # Given rows of every kind, and one of a kind the code does not know,
    taste_world()
    rows = list(Interaction.objects.order_by("pk").values_list("pk", flat=True))
    for position, name in enumerate(KIND_CODE):
        Interaction.objects.filter(pk=rows[position]).update(kind=name)
    Interaction.objects.filter(pk=rows[len(KIND_CODE)]).update(kind="no-such-kind")
    # when they are extracted, then every known kind has its code and the unknown one -1.
    arrays = interactions_extract()
    _assert_same(arrays.subset(arrays.kind_codes >= 0), Interaction.objects.exclude(kind="no-such-kind"))
    assert (arrays.kind_codes == -1).sum() == 1 and len(arrays) == Interaction.objects.count()
    assert len(extract.KindHashes.from_server().hashes) == len(KIND_CODE)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("large_id", [False, True], ids=["ids paired", "a user id too large to pair"])
def test_the_two_half_copies_give_the_one_copys_rows_in_its_order(monkeypatch, large_id):
    # Given committed rows (the second connection sees only those), some of them moved by an update,
    users, merchants = taste_world()
    if large_id:  # a user whose id does not fit a pair's 31 bits: the records carry the two ids apart
        Interaction.objects.create(user=UserFactory(id=2**31), merchant=merchants[0], kind="view", value=1.0,
                                   occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    first = list(Interaction.objects.order_by("pk").values_list("pk", flat=True)[:40])
    Interaction.objects.filter(pk__in=first).update(kind="review", value=4.0,
                                                    source=Concat(Value("import:x:"), Cast("pk", CharField())))
    middle = Interaction.objects.order_by("occurred_at")[300].occurred_at
    windows = [{}, {"since": middle}, {"until": middle}, {"source_prefix": "import:x:"}]
    one = [interactions_extract(**window) for window in windows]
    # when the extract reads the table on two connections, each sending alternate pages' rows packed,
    monkeypatch.setattr(extract, "PARALLEL_COPY_MIN_ROWS", 0)
    monkeypatch.setattr(extract, "PACKED_CHUNK_PAGES", 1)
    calls = []
    real = extract._copy_out_many
    monkeypatch.setattr(extract, "_copy_out_many", lambda *a, **kw: calls.append(a[1]) or real(*a, **kw))
    rows = []
    two = [interactions_extract(**window, progress=rows.append) for window in windows]
    # then both connections ran and the arrays are the same, row for row, as one COPY's.
    assert len(calls) == len(windows) and all("string_agg" in q[0] and "string_agg" in q[1] for q in calls)
    assert all(("<< 32" in q[0]) != large_id for q in calls)
    for single, packed in zip(one, two, strict=True):
        for name in extract.InteractionArrays.FIELDS:
            assert np.array_equal(getattr(single, name), getattr(packed, name)), name
    assert len(two[0]) == Interaction.objects.count() and rows and rows[-1] > 0
    # and the connection is usable and out of the snapshot's transaction.
    assert not connection.in_atomic_block and Interaction.objects.count() == len(two[0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("parallel", [False, True], ids=["one COPY", "two packed COPYs"])
def test_the_extracted_columns_are_freed_with_the_last_reference_to_them(monkeypatch, parallel):
    # The retrain drops the extract once its build has read it: nothing else may keep the columns alive (the
    # packed assembler's callbacks used to hold them in a reference cycle until the garbage collector ran).
    import gc
    import weakref

    taste_world()
    if parallel:
        monkeypatch.setattr(extract, "PARALLEL_COPY_MIN_ROWS", 0)
        monkeypatch.setattr(extract, "PACKED_CHUNK_PAGES", 1)
    gc.disable()
    try:
        arrays = interactions_extract()
        columns = [getattr(arrays, name) for name in extract.InteractionArrays.FIELDS]
        bases = [weakref.ref(column.base if column.base is not None else column) for column in columns]
        assert len(arrays) == Interaction.objects.count()
        del arrays, columns
        assert [base() for base in bases] == [None] * len(bases)
    finally:
        gc.enable()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_half_copies_leave_both_connections_usable_after_errors():
    taste_world()
    table = Interaction._meta.db_table
    connection.ensure_connection()
    second = connection.get_new_connection(connection.get_connection_params())
    try:
        raws = [connection.connection, second]
        good = f"COPY (SELECT id FROM {table}) TO STDOUT (FORMAT BINARY)"  # noqa: S608
        with pytest.raises(Exception, match="no_such_table"):
            extract._copy_out_many(raws, [good, "COPY (SELECT 1 FROM no_such_table) TO STDOUT (FORMAT BINARY)"],
                                   [lambda c: None] * 2, chunk_bytes=64)

        def fail(chunk):
            raise ValueError("consumer failed")

        with pytest.raises(ValueError, match="consumer failed"):
            extract._copy_out_many(raws, [good, good], [lambda c: None, fail], chunk_bytes=64)
        with pytest.raises(Exception, match="division by zero"):  # after the streams began
            extract._copy_out_many(raws, [good, f"COPY (SELECT 1 / (count(*) OVER (ORDER BY id) - 300) "  # noqa: S608
                                                f"FROM {table}) TO STDOUT (FORMAT BINARY)"],
                                   [lambda c: None] * 2, chunk_bytes=64)
        chunks: list[list[bytearray]] = [[], []]
        extract._copy_out_many(raws, [good, good], [chunks[0].append, chunks[1].append], chunk_bytes=100)
        expected = 19 + Interaction.objects.count() * 14 + 2
        assert all(len(c) > 1 and sum(map(len, c)) == expected for c in chunks)
        assert second.execute("SELECT count(*) FROM " + table).fetchone()[0] == Interaction.objects.count()  # noqa: S608
    finally:
        second.close()
