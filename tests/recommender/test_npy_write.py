"""`recommender.extract_snapshot.npy_write`: the snapshot's files, written around the page cache."""

import mmap

import numpy as np
import pytest

from recommender import extract_snapshot


@pytest.mark.parametrize("rows", [0, 1, 1000, 2047, 2048, 5001])
def test_npy_write_gives_np_saves_file_across_chunk_boundaries_and_without_o_direct(rows, tmp_path, monkeypatch):
    """The snapshot's files are written around the page cache a chunk at a time: the same bytes as `np.save`,
    wherever a chunk or the header ends (chunks of two pages here), and through `np.save` where the file system
    refuses O_DIRECT."""
    monkeypatch.setattr(extract_snapshot, "DIRECT_CHUNK", 2 * mmap.PAGESIZE)
    for values in (np.arange(rows, dtype=np.int64) * 7919, np.linspace(0, 1, rows, dtype=np.float32)):
        extract_snapshot.npy_write(tmp_path / "direct.npy", values)
        np.save(tmp_path / "saved.npy", values, allow_pickle=False)
        assert (tmp_path / "direct.npy").read_bytes() == (tmp_path / "saved.npy").read_bytes()

    real_open = extract_snapshot.os.open

    def no_direct(path, flags, *args):
        if flags & getattr(extract_snapshot.os, "O_DIRECT", 0):
            raise OSError(22, "Invalid argument")  # EINVAL, as tmpfs answered before Linux 6.6
        return real_open(path, flags, *args)

    monkeypatch.setattr(extract_snapshot.os, "open", no_direct)
    extract_snapshot.npy_write(tmp_path / "fallback.npy", np.arange(rows))
    assert np.array_equal(np.load(tmp_path / "fallback.npy"), np.arange(rows))
