import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.artifacts import load_artifact, save_artifact
from recommender.ml.models import (
    BlendModel,
    EASEModel,
    EASETooLarge,
    ease_fits,
    ease_memory_bytes,
    make_model,
    standardise_scores,
)


def _reference_ease(x: sp.csr_matrix, *, l2: float, dropout: float = 0.0, pop_beta: float = 0.0) -> np.ndarray:
    """Textbook EASE/EDLAE in float64 with a general inverse: what both forms must reproduce."""
    xd = (x.toarray() > 0).astype(np.float64)
    gram = xd.T @ xd
    lam = l2 + dropout / (1 - dropout) * np.diag(gram)
    p = np.linalg.inv(gram + np.diag(lam))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b * np.maximum(xd.sum(axis=0), 1) ** -pop_beta


def _random(n_users: int, n_items: int, seed: int) -> sp.csr_matrix:
    m = sp.random(n_users, n_items, density=0.15, random_state=seed, format="csr", dtype=np.float32)
    m.data = np.ceil(m.data * 4)
    return m


@pytest.mark.parametrize(("shape", "form"), [((60, 30), "dense"), ((20, 90), "dual")])
@pytest.mark.parametrize("params", [{"l2": 4.0}, {"l2": 4.0, "dropout": 0.3, "pop_beta": 0.4}])
def test_both_ease_forms_equal_the_textbook_solution(shape, form, params):
    x = _random(*shape, seed=1)
    model = EASEModel(params).fit(x)
    assert model.form == form
    reference = _reference_ease(x, **params)
    rows = np.arange(8)
    np.testing.assert_allclose(model.score(rows, x[rows]), (x[rows].toarray() > 0) @ reference, atol=2e-5)
    # A user the model never saw is scored from their items alone (no refit, no user factors).
    fresh = _random(3, shape[1], seed=7)
    np.testing.assert_allclose(model.score([0, 0, 0], fresh), (fresh.toarray() > 0) @ reference, atol=2e-5)
    np.testing.assert_allclose(model.item_rows_of_weights(np.array([2, 5])), reference[[2, 5]], atol=2e-5)


@pytest.mark.parametrize("shape", [(60, 30), (20, 90)])
def test_ease_artifact_round_trip_without_pickle(shape, tmp_path):
    x = _random(*shape, seed=2)
    model = EASEModel({"l2": 3.0, "pop_beta": 0.2}).fit(x)
    path = tmp_path / "ease.npz"
    checksum = save_artifact(path, model=model, user_ids=np.arange(shape[0]), item_ids=np.arange(shape[1]))
    with np.load(path, allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
    loaded = load_artifact(path, expected_checksum=checksum).model
    rows = np.arange(shape[0])
    np.testing.assert_array_equal(loaded.recommend(rows, x[rows], k=5)[0], model.recommend(rows, x[rows], k=5)[0])


def test_ease_is_refused_beyond_the_memory_limit_before_allocating(monkeypatch):
    assert ease_memory_bytes(100_000, 20_000) == ("dense", 2 * 20_000**2 * 4)
    assert ease_memory_bytes(2_000, 20_000)[0] == "dual"
    assert ease_fits(100_000, 20_000, max_bytes=4 << 30)
    assert not ease_fits(100_000, 50_000, max_bytes=4 << 30)
    monkeypatch.setenv("SUPERAPP_EASE_MAX_BYTES", "1000")
    assert not ease_fits(60, 30)
    with pytest.raises(EASETooLarge, match="limit"):
        EASEModel().fit(_random(60, 30, seed=3))


def test_ease_rejects_bad_params():
    for bad in ({"l2": 0.0}, {"dropout": 1.0}, {"scaling": "bm25"}):
        with pytest.raises(ValueError):
            EASEModel(bad)


def test_blend_scores_are_the_weighted_standardised_scores(blocks):
    first = make_model("itemknn", {"K": 10}).fit(blocks)
    second = make_model("als", {"factors": 4, "iterations": 5}, num_threads=1).fit(blocks)
    blend = BlendModel.of(first, second, 0.3)
    rows = np.arange(10)
    expected = 0.3 * standardise_scores(first.score(rows, blocks[rows])) + 0.7 * standardise_scores(
        second.score(rows, blocks[rows]))
    np.testing.assert_allclose(blend.score(rows, blocks[rows]), expected, rtol=1e-5, atol=1e-6)
    # weight 1 ranks exactly like the first model
    only_first = BlendModel.of(first, second, 1.0)
    np.testing.assert_array_equal(only_first.recommend(rows, blocks[rows], k=4)[0],
                                  first.recommend(rows, blocks[rows], k=4)[0])


def test_blend_refuses_nested_blends_and_bad_weights():
    with pytest.raises(ValueError):
        BlendModel({"first": {"algorithm": "blend", "params": {}}})
    with pytest.raises(ValueError):
        BlendModel({"weight": 1.5})


def test_standardise_scores_per_row():
    z = standardise_scores(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]], dtype=np.float32))
    np.testing.assert_allclose(z[0], [-1.2247449, 0.0, 1.2247449], rtol=1e-5)
    assert (z[1] == 0).all()
