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


def _reference_rp3beta(x: sp.csr_matrix, *, alpha: float, beta: float, k: int) -> np.ndarray:
    """RP3beta as published (Paudel et al. 2016), dense float64, before the top-k cut: P_iu^a P_ui^a / pop^b."""
    xd = (x.toarray() > 0).astype(np.float64)
    pop = xd.sum(axis=0)
    p_ui = xd / np.maximum(xd.sum(axis=1, keepdims=True), 1e-12)
    p_iu = xd.T / np.maximum(pop[:, None], 1.0)
    w = (p_iu**alpha) @ (p_ui**alpha) * np.where(pop > 0, np.maximum(pop, 1) ** -beta, 0.0)[None, :]
    np.fill_diagonal(w, 0.0)
    return w


@pytest.mark.parametrize("params", [{"alpha": 1.0, "beta": 0.0, "K": 50}, {"alpha": 0.7, "beta": 0.4, "K": 6}])
def test_rp3beta_equals_the_textbook_random_walk(params):
    x = _random(40, 25, seed=4)
    model = make_model("rp3beta", params).fit(x)
    full = _reference_rp3beta(x, alpha=params["alpha"], beta=params["beta"], k=params["K"])
    got = model.similarity.toarray()
    assert (model.similarity.getnnz(axis=1) <= params["K"]).all()
    # Each row keeps the K largest weights (which of equal weights at the cut is immaterial).
    top = -np.sort(-full, axis=1)[:, : params["K"]]
    np.testing.assert_allclose(-np.sort(-got, axis=1)[:, : params["K"]], top, rtol=1e-5, atol=1e-7)
    kept = got > 0
    np.testing.assert_allclose(got[kept], full[kept], rtol=1e-5)
    # A user the model never saw is scored from their items alone.
    fresh = _random(3, 25, seed=8)
    np.testing.assert_allclose(model.score([-1, -1, -1], fresh), (fresh.toarray() > 0) @ got, rtol=1e-5, atol=1e-6)
    if params["K"] >= 25:
        np.testing.assert_allclose(got, full, rtol=1e-5, atol=1e-7)


def test_rp3beta_recommends_the_users_block_and_round_trips(blocks, tmp_path):
    model = make_model("rp3beta").fit(blocks)
    ids, _ = model.recommend(np.arange(40), blocks, k=3)
    assert ((ids < 10) == (np.arange(40) < 20)[:, None]).all()
    path = tmp_path / "rp3.npz"
    checksum = save_artifact(path, model=model, user_ids=np.arange(40), item_ids=np.arange(20))
    loaded = load_artifact(path, expected_checksum=checksum).model
    np.testing.assert_array_equal(loaded.recommend(np.arange(40), blocks, k=3)[0], ids)
    similar, _ = model.similar_items([0, 15], k=3)
    assert (similar[0] < 10).all() and (similar[1] >= 10).all()


def test_a_blend_scores_users_unknown_to_its_factor_part_from_its_item_part(blocks):
    items = make_model("ease", {"l2": 5.0}).fit(blocks)
    factors = make_model("als", {"factors": 4, "iterations": 5}, num_threads=1).fit(blocks)
    blend = BlendModel.of(factors, items, 0.7)
    assert blend.scores_from_items
    fresh = blocks[[3, 25]]  # two users' histories, as if they had never been trained on
    np.testing.assert_allclose(blend.score([-1, -1], fresh), standardise_scores(items.score([-1, -1], fresh)),
                               rtol=1e-5, atol=1e-6)
    # Known and unknown users in one batch: the known ones keep the full blend.
    mixed = blend.score([3, -1], fresh)
    np.testing.assert_allclose(mixed[0], blend.score([3], blocks[[3]])[0], rtol=1e-5, atol=1e-6)
    ids, _ = blend.recommend([-1, -1], fresh, k=3)
    assert (ids[0] < 10).all() and (ids[1] >= 10).all()  # their own block, from their items alone
    # The factor part alone cannot place them, and says so instead of borrowing another user's row.
    with pytest.raises(IndexError):
        factors.score([-1], fresh[:1])
    only_factors = BlendModel.of(factors, make_model("bpr", {"factors": 4, "iterations": 5}).fit(blocks), 0.5)
    assert not only_factors.scores_from_items
    with pytest.raises(IndexError, match="unknown"):
        only_factors.score([-1], fresh[:1])
