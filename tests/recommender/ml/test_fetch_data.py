"""`make data` (recommender.ml.fetch_data) and the `shared_data` fixture's skip-or-fail rule."""

import hashlib
import zipfile

import pytest

from recommender.ml import fetch_data
from recommender.ml.fetch_data import DataSet
from tests import conftest


def _data_set(tmp_path, content: bytes, *, url: str | None) -> DataSet:
    return DataSet(
        folder="toy",
        source="a test",
        url_env="SUPERAPP_TOY_URL",
        url=url,
        sha256={"ratings.txt": hashlib.sha256(content).hexdigest()},
    )


def test_downloads_from_a_zip_checks_the_checksum_and_keeps_what_is_there(tmp_path):
    archive = tmp_path / "toy.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("toy-1.0/ratings.txt", b"1\t2\t3\n")
        zf.writestr("toy-1.0/other.txt", b"not wanted")
    ds = _data_set(tmp_path, b"1\t2\t3\n", url=archive.as_uri())
    dest = tmp_path / "data"
    assert "downloaded 1 file(s)" in fetch_data.fetch(ds, dest)
    assert (dest / "toy" / "ratings.txt").read_bytes() == b"1\t2\t3\n"
    assert not (dest / "toy" / "other.txt").exists()
    assert "present, checksums match" in fetch_data.fetch(ds, dest)


def test_a_wrong_download_or_a_changed_file_is_an_error(tmp_path):
    archive = tmp_path / "toy.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ratings.txt", b"tampered\n")
    ds = _data_set(tmp_path, b"1\t2\t3\n", url=archive.as_uri())
    with pytest.raises(SystemExit, match="expected"):
        fetch_data.fetch(ds, tmp_path / "data")
    assert not (tmp_path / "data" / "toy" / "ratings.txt").exists()
    (tmp_path / "data" / "toy").mkdir(parents=True)
    (tmp_path / "data" / "toy" / "ratings.txt").write_bytes(b"edited\n")
    with pytest.raises(SystemExit, match="remove it and run again"):
        fetch_data.fetch(ds, tmp_path / "data")


def test_a_set_without_a_url_says_where_it_comes_from(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPERAPP_TOY_URL", raising=False)
    message = fetch_data.fetch(_data_set(tmp_path, b"x", url=None), tmp_path)
    assert "MISSING ratings.txt" in message and "SUPERAPP_TOY_URL" in message


def test_every_data_set_the_code_reads_has_checksums():
    from recommender.ml.bench_real import FILES

    known = {f"{ds.folder}/{name}" for ds in fetch_data.DATA_SETS for name in ds.sha256}
    assert {path.as_posix() for path in FILES.values()} <= known


def test_missing_data_skips_with_how_to_get_it_and_fails_in_ci(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path)
    monkeypatch.delenv("SUPERAPP_REQUIRE_SERVICES", raising=False)
    monkeypatch.delenv("SUPERAPP_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make data"):
        shared_data("movielens-100k", "u.data")
    monkeypatch.setenv("SUPERAPP_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="CI forbids skipping it"):
        shared_data("movielens-100k", "u.data")
