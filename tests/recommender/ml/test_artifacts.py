import numpy as np
import pytest

from recommender.ml.artifacts import ChecksumMismatchError, _ids_from_str, _ids_to_str, load_artifact, save_artifact
from recommender.ml.models import make_model

PARAMS = {
    "als": {"factors": 8, "iterations": 5, "scaling": "bm25"},
    "bpr": {"factors": 8, "iterations": 20},
    "ials": {"factors": 8, "iterations": 5, "scaling": "log1p"},
    "itemknn": {"K": 10},
    "ease": {"l2": 2.0, "dropout": 0.2, "pop_beta": 0.3},
    "popularity": {},
    "blend": {"first": {"algorithm": "itemknn", "params": {"K": 10}},
              "second": {"algorithm": "als", "params": {"factors": 8, "iterations": 5}}, "weight": 0.3},
}


@pytest.mark.parametrize("algorithm", sorted(PARAMS))
def test_round_trip_gives_identical_recommendations(algorithm, blocks, tmp_path):
    model = make_model(algorithm, PARAMS[algorithm], num_threads=1).fit(blocks)
    users = np.array([f"user-{i}" for i in range(40)])
    items = np.arange(100, 120)
    path = tmp_path / "a" / "model.npz"
    checksum = save_artifact(path, model=model, user_ids=users, item_ids=items, meta={"trained_on": "blocks"})
    assert len(checksum) == 64
    art = load_artifact(path, expected_checksum=checksum, num_threads=1)
    assert art.meta["trained_on"] == "blocks"
    assert art.user_ids.tolist() == users.tolist()
    assert art.item_ids.dtype == np.int64 and art.item_ids.tolist() == items.tolist()
    assert art.user_index["user-3"] == 3 and art.item_index[105] == 5
    assert art.model.params == model.params
    rows = np.arange(40)
    a = model.recommend(rows, blocks[rows], k=5)
    b = art.model.recommend(rows, blocks[rows], k=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)


def test_loaded_als_can_recalculate_user(blocks, tmp_path):
    model = make_model("als", PARAMS["als"], num_threads=1).fit(blocks)
    path = tmp_path / "als.npz"
    save_artifact(path, model=model, user_ids=np.arange(40), item_ids=np.arange(20))
    loaded = load_artifact(path).model
    np.testing.assert_allclose(loaded.recalculate_user(blocks[[3]]), model.recalculate_user(blocks[[3]]), rtol=1e-4)


def test_checksum_mismatch_raises(blocks, tmp_path):
    model = make_model("popularity").fit(blocks)
    path = tmp_path / "pop.npz"
    checksum = save_artifact(path, model=model, user_ids=np.arange(40), item_ids=np.arange(20))
    with pytest.raises(ChecksumMismatchError):
        load_artifact(path, expected_checksum="0" * 64)
    with open(path, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ChecksumMismatchError):
        load_artifact(path, expected_checksum=checksum)


def test_artifact_has_no_object_arrays(blocks, tmp_path):
    model = make_model("itemknn", PARAMS["itemknn"]).fit(blocks)
    path = tmp_path / "knn.npz"
    save_artifact(path, model=model, user_ids=np.array(list(range(40)), dtype=object), item_ids=np.arange(20))
    with np.load(path, allow_pickle=False) as data:  # would raise on object arrays
        assert all(data[name].dtype.kind != "O" for name in data.files)


def test_id_map_size_mismatch_raises(blocks, tmp_path):
    model = make_model("popularity").fit(blocks)
    with pytest.raises(ValueError, match="don't match"):
        save_artifact(tmp_path / "x.npz", model=model, user_ids=np.arange(3), item_ids=np.arange(20))


def test_integer_ids_are_stored_as_the_strings_python_writes_them_in_as_wide_an_array():
    for ids in (np.arange(1, 20_001), np.array([-5, 3, 120]), np.array([7], np.uint64),
                np.array([2**62, -(2**63)], np.int64), np.array([9, 10, 99, 100])):
        stored, kind = _ids_to_str(ids)
        expected = np.array([str(x) for x in ids.tolist()], dtype=str)
        assert kind == "int" and stored.dtype == expected.dtype and np.array_equal(stored, expected)
        assert np.array_equal(_ids_from_str(stored, kind), ids.astype(np.int64))
