"""The retrain's incremental extract gives the rows a full extract gives: after inserts, with a transaction that
held an insert open while the snapshot was taken, and it falls back to a full extract on any change it cannot
follow (delete, update, a damaged file, too many new rows); the snapshot grows by segments of the new rows and
is compacted into one without changing its rows."""

import json
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from recommender import conf, extract, extract_snapshot
from recommender.extract import interactions_extract
from recommender.extract_snapshot import interactions_extract_for_training
from recommender.models import Interaction
from tests.factories import UserFactory
from tests.recommender.factories import taste_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _sorted(arrays) -> dict[str, np.ndarray]:
    order = np.lexsort((arrays.values, arrays.kind_codes, arrays.timestamps, arrays.merchant_ids, arrays.user_ids))
    return {name: getattr(arrays, name)[order] for name in arrays.FIELDS}


def _assert_same_as_full(arrays) -> None:
    full = _sorted(interactions_extract())
    got = _sorted(arrays)
    for name, values in full.items():
        assert np.array_equal(got[name], values), name


def _recorded(function):
    calls = []

    def record(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)
    record.calls = calls
    return record


def _add(users, merchants, n: int, *, kind: str = "payment") -> None:
    now = timezone.now()
    Interaction.objects.bulk_create([
        Interaction(user=users[i % len(users)], merchant=merchants[(3 * i) % len(merchants)], kind=kind,
                    value=1.0 + i, occurred_at=now - timedelta(hours=i)) for i in range(n)])


@pytest.mark.parametrize("halves", [False, True], ids=["one COPY", "two packed COPYs"])
def test_inserts_are_read_incrementally_and_give_the_full_extracts_rows(halves, monkeypatch):
    users, merchants = taste_world()
    if halves:  # the full extract as at scale: two connections, rows packed by range of pages (one page here)
        monkeypatch.setattr(extract_snapshot, "PARALLEL_COPY_MIN_ROWS", 0)
        monkeypatch.setattr(extract, "PACKED_CHUNK_PAGES", 1)
        monkeypatch.setattr(extract, "_copy_out_many", calls := _recorded(extract._copy_out_many))
    first, report = interactions_extract_for_training()
    assert report.mode == "full" and report.watermark is not None
    assert not halves or len(calls.calls) == 1
    _assert_same_as_full(first)

    _add(users, merchants, 25)
    second, report = interactions_extract_for_training()
    assert report.mode == "incremental", report.reason
    assert report.new_rows == 25 and report.rows == len(first) + 25
    _assert_same_as_full(second)

    third, report = interactions_extract_for_training()  # nothing new: the snapshot alone
    assert (report.mode, report.new_rows) == ("incremental", 0)
    _assert_same_as_full(third)


def test_an_insert_still_uncommitted_when_the_snapshot_is_taken_is_read_once_it_commits():
    users, merchants = taste_world()
    interactions_extract_for_training()
    # Another session inserts (its id is taken now) and stays in its transaction ...
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        pending_id = other.execute(
            "INSERT INTO recommender_interaction (user_id, merchant_id, kind, value, occurred_at, source) "
            "VALUES (%s, %s, 'booking', 1, now(), '') RETURNING id", [users[0].pk, merchants[0].pk]).fetchone()[0]
        _add(users, merchants, 3)  # ... while later ids commit
        assert Interaction.objects.filter(pk__gt=pending_id).count() == 3

        during, report = interactions_extract_for_training()
        assert report.mode == "incremental"
        assert report.watermark < pending_id  # the snapshot keeps nothing at or above the open insert's id
        _assert_same_as_full(during)
        other.commit()
    finally:
        other.close()

    after, report = interactions_extract_for_training()
    assert report.mode == "incremental"
    assert report.rows == len(during) + 1
    _assert_same_as_full(after)


@pytest.mark.parametrize("change", ["delete", "update", "truncate"])
def test_a_delete_an_update_or_a_truncate_forces_a_full_extract(change):
    users, merchants = taste_world()
    interactions_extract_for_training()
    victim = Interaction.objects.order_by("pk").first()
    if change == "delete":
        victim.delete()
    elif change == "update":
        Interaction.objects.filter(pk=victim.pk).update(value=9.0)
    else:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE recommender_interaction")
        _add(users, merchants, 5)
    arrays, report = interactions_extract_for_training()
    assert report.mode == "full"
    assert "generation" in report.reason
    _assert_same_as_full(arrays)


def test_a_snapshot_written_in_the_background_is_there_once_the_block_ends_and_a_failed_one_is_removed(
        monkeypatch):
    users, merchants = taste_world()
    # Given an extract inside the block (as the retrain does), the snapshot is complete when the block ends:
    with extract_snapshot.snapshot_written_in_background():
        first, report = interactions_extract_for_training()
    assert report.mode == "full"
    _add(users, merchants, 4)
    second, report = interactions_extract_for_training()
    assert (report.mode, report.new_rows) == ("incremental", 4), report.reason
    _assert_same_as_full(second)

    # and a write that fails in the background neither fails the extract nor leaves a snapshot behind.
    def fail(directory, arrays, *, meta, previous):
        (directory / "meta.json").write_text("{")  # half-written state, as a crash could leave
        raise OSError("disk full")

    monkeypatch.setattr(extract_snapshot, "_snapshot_write", fail)
    _add(users, merchants, 3)
    with extract_snapshot.snapshot_written_in_background():
        third, report = interactions_extract_for_training()
    assert report.mode == "incremental"
    _assert_same_as_full(third)
    assert not (conf.extract_snapshot_dir() / "meta.json").exists()
    monkeypatch.undo()
    fourth, report = interactions_extract_for_training()
    assert (report.mode, report.reason) == ("full", "no snapshot")
    _assert_same_as_full(fourth)


def test_a_damaged_snapshot_file_means_a_full_extract():
    users, merchants = taste_world()
    interactions_extract_for_training()
    values = next(conf.extract_snapshot_dir().glob("*.values.npy"))
    values.write_bytes(values.read_bytes()[:-4])
    _add(users, merchants, 2)
    arrays, report = interactions_extract_for_training()
    assert report.mode == "full" and "read back" in report.reason
    _assert_same_as_full(arrays)


def test_too_many_new_rows_or_no_snapshot_mean_a_full_extract(settings):
    users, merchants = taste_world()
    settings.RECOMMENDER_EXTRACT_SNAPSHOT_MAX_NEW = 0.1
    first, _ = interactions_extract_for_training()
    _add(users, merchants, len(first) // 5)
    arrays, report = interactions_extract_for_training()
    assert report.mode == "full" and "new rows" in report.reason
    _assert_same_as_full(arrays)

    for path in conf.extract_snapshot_dir().iterdir():
        path.unlink()
    arrays, report = interactions_extract_for_training()
    assert (report.mode, report.reason) == ("full", "no snapshot")
    _assert_same_as_full(arrays)

    settings.RECOMMENDER_EXTRACT_SNAPSHOT_MAX_NEW = 0
    arrays, report = interactions_extract_for_training()
    assert report.mode == "plain"
    _assert_same_as_full(arrays)


def test_a_delete_of_no_interaction_keeps_the_snapshot_a_disabled_trigger_does_not():
    users, merchants = taste_world()
    interactions_extract_for_training()
    UserFactory().delete()  # Django's cascade runs a DELETE on the table, which removes nothing
    Interaction.objects.filter(pk__lt=0).update(value=2.0)
    _add(users, merchants, 2)
    arrays, report = interactions_extract_for_training()
    assert report.mode == "incremental", report.reason
    _assert_same_as_full(arrays)

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE recommender_interaction DISABLE TRIGGER recommender_interaction_deleted")
    try:
        arrays, report = interactions_extract_for_training()
        assert report.mode == "full" and "trigger" in report.reason
        assert report.watermark is None and not (conf.extract_snapshot_dir() / "meta.json").exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE recommender_interaction ENABLE TRIGGER recommender_interaction_deleted")


def _segments() -> list[dict]:
    return json.loads((conf.extract_snapshot_dir() / "meta.json").read_text())["segments"]


def test_a_warm_extract_appends_a_segment_of_its_new_rows_and_compaction_keeps_the_rows(monkeypatch):
    monkeypatch.setattr(extract_snapshot, "MAX_SEGMENTS", 3)
    users, merchants = taste_world()
    first, _ = interactions_extract_for_training()
    assert [segment["rows"] for segment in _segments()] == [len(first)]
    first_files = set(_segments()[0]["files"].values())

    _add(users, merchants, 4)
    arrays, report = interactions_extract_for_training()
    assert report.mode == "incremental"
    assert [segment["rows"] for segment in _segments()] == [len(first), 4]
    assert set(_segments()[0]["files"].values()) == first_files  # the old rows are not written again
    _assert_same_as_full(arrays)

    interactions_extract_for_training()  # nothing new: no empty segment
    assert len(_segments()) == 2
    _add(users, merchants, 3)
    arrays, report = interactions_extract_for_training()
    assert report.mode == "incremental" and [s["rows"] for s in _segments()] == [len(first), 4, 3]
    _assert_same_as_full(arrays)

    _add(users, merchants, 2)  # a fourth segment would be one too many: all rows in one again
    arrays, report = interactions_extract_for_training()
    assert report.mode == "incremental" and [s["rows"] for s in _segments()] == [len(first) + 9]
    _assert_same_as_full(arrays)
    names = {path.name for path in conf.extract_snapshot_dir().iterdir()}
    assert names == {"meta.json", *_segments()[0]["files"].values()}  # the old segments' files are gone

    _add(users, merchants, 1)
    arrays, report = interactions_extract_for_training()
    assert report.mode == "incremental" and report.new_rows == 1
    _assert_same_as_full(arrays)


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_damaged_or_missing_later_segment_means_a_full_extract_which_compacts(damage):
    users, merchants = taste_world()
    interactions_extract_for_training()
    _add(users, merchants, 5)
    interactions_extract_for_training()
    assert len(_segments()) == 2
    path = conf.extract_snapshot_dir() / _segments()[1]["files"]["timestamps"]
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:-8])
    _add(users, merchants, 2)
    arrays, report = interactions_extract_for_training()
    assert report.mode == "full" and "read back" in report.reason
    _assert_same_as_full(arrays)
    assert [segment["rows"] for segment in _segments()] == [len(arrays)]


def _meta() -> dict:
    return json.loads((conf.extract_snapshot_dir() / "meta.json").read_text())


def _rows(arrays, n: int) -> list[tuple]:
    """The first `n` rows, as sorted (user, merchant, value, time to the ms)."""
    return sorted(zip(arrays.user_ids[:n].tolist(), arrays.merchant_ids[:n].tolist(), arrays.values[:n].tolist(),
                      np.round(arrays.timestamps[:n], 3).tolist(), strict=True))


def _rows_in_database(**where) -> list[tuple]:
    return sorted((u, m, float(np.float32(v)), round(t.timestamp(), 3)) for u, m, v, t in
                  Interaction.objects.filter(**where).values_list("user_id", "merchant_id", "value", "occurred_at"))


def _watermark_at(monkeypatch, value) -> None:
    """The next extracts' watermark is `value()` (as if transactions had been open below it)."""
    monkeypatch.setattr(extract_snapshot, "_watermark", lambda facts, before_at, oldest_open: value())


@pytest.mark.parametrize("halves", [False, True], ids=["one COPY", "two packed COPYs"])
def test_rows_above_the_watermark_are_read_apart_not_kept_and_read_again_next_time(halves, monkeypatch):
    users, merchants = taste_world()
    if halves:
        monkeypatch.setattr(extract_snapshot, "PARALLEL_COPY_MIN_ROWS", 0)
        monkeypatch.setattr(extract, "PACKED_CHUNK_PAGES", 1)
    ids = sorted(Interaction.objects.values_list("pk", flat=True))
    middle = ids[len(ids) * 9 // 10]  # the re-read rows stay under the share that makes a full extract
    _watermark_at(monkeypatch, lambda: middle)
    # A full extract: the rows at or under the watermark, then the others, all of them once ...
    first, report = interactions_extract_for_training()
    assert (report.mode, report.watermark) == ("full", middle)
    _assert_same_as_full(first)
    # ... of which the snapshot keeps only the first.
    assert _meta()["rows"] == Interaction.objects.filter(pk__lte=middle).count()

    # An incremental one reads everything above the watermark again, keeps what is under the new one first.
    _add(users, merchants, 6)
    newest = Interaction.objects.order_by("-pk").values_list("pk", flat=True)
    _watermark_at(monkeypatch, lambda: newest[3])  # the 3 newest rows stay above it
    second, report = interactions_extract_for_training()
    assert report.mode == "incremental", report.reason
    assert report.new_rows == Interaction.objects.filter(pk__gt=middle).count()
    _assert_same_as_full(second)
    assert _meta()["rows"] == len(second) - 3
    assert _rows(second, _meta()["rows"]) == _rows_in_database(pk__lte=newest[3])  # the kept rows lead

    monkeypatch.undo()
    third, report = interactions_extract_for_training()  # the 3 rows once more, and now kept
    assert (report.mode, report.new_rows) == ("incremental", 3)
    _assert_same_as_full(third)
    assert _meta()["rows"] == len(third)


def test_a_watermark_that_goes_down_means_a_full_extract(monkeypatch):
    users, merchants = taste_world()
    first, report = interactions_extract_for_training()
    lower = report.watermark - 1
    _add(users, merchants, 2)
    _watermark_at(monkeypatch, lambda: lower)
    arrays, report = interactions_extract_for_training()
    assert (report.mode, report.reason) == ("full", "the re-read watermark went down")
    _assert_same_as_full(arrays)
    assert _meta()["watermark"] == lower and _meta()["rows"] == len(first) - 1
