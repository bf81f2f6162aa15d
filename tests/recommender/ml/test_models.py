import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.models import DEFAULT_PARAMS, ALSModel, make_model

FAST = {
    "als": {"factors": 4, "iterations": 10, "regularization": 1.0, "alpha": 5.0},
    "bpr": {"factors": 8, "iterations": 200, "learning_rate": 0.05},
    "ials": {"factors": 8, "iterations": 10},
    "itemknn": {"K": 20},
    "ease": {"l2": 1.0},
    "popularity": {},
    "blend": {
        "first": {"algorithm": "ease", "params": {"l2": 1.0}},
        "second": {"algorithm": "als", "params": {"factors": 4, "iterations": 10, "regularization": 1.0, "alpha": 5.0}},
        "weight": 0.6,
    },
}


def _fit(algorithm, matrix, **extra):
    return make_model(algorithm, {**FAST[algorithm], **extra}, num_threads=1).fit(matrix)


@pytest.mark.parametrize("algorithm", ["als", "bpr", "ials", "itemknn", "ease", "blend"])
def test_personalised_models_recommend_own_cluster(algorithm, blocks):
    model = _fit(algorithm, blocks)
    users = np.arange(40)
    ids, scores = model.recommend(users, blocks[users], k=3)
    assert ids.shape == (40, 3) and scores.shape == (40, 3)
    own = np.where(users[:, None] < 20, ids < 10, ids >= 10)
    assert own.mean() > 0.9, ids
    # never recommends what the user already has
    for u in users:
        assert not set(ids[u]) & set(blocks[u].indices)
    # scores sorted descending
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_popularity_same_list_minus_owned():
    m = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0]], dtype=np.float32))
    model = make_model("popularity").fit(m)
    ids, _ = model.recommend([2], m[[2]], k=2)
    # item 0 owned; items 1 and 2 tie on popularity -> lower row first
    assert ids.tolist() == [[1, 2]]


@pytest.mark.parametrize("algorithm", ["als", "bpr", "ials", "itemknn", "ease", "popularity", "blend"])
def test_filter_to_items(algorithm, blocks):
    model = _fit(algorithm, blocks)
    allowed = [3, 12, 15, 19]
    ids, _ = model.recommend([0, 25], blocks[[0, 25]], k=3, items=allowed)
    for row, u in zip(ids, [0, 25], strict=True):
        valid = row[row >= 0]
        assert set(valid) <= set(allowed)
        assert not set(valid) & set(blocks[u].indices)
    if algorithm != "popularity":
        # user 25 is in cluster B: its best allowed candidate must come from B
        assert ids[1][0] >= 10


def test_all_candidates_owned_gives_empty_slots(blocks):
    model = _fit("als", blocks)
    owned = blocks[0].indices[:2]
    ids, scores = model.recommend([0], blocks[[0]], k=2, items=owned)
    assert ids.tolist() == [[-1, -1]]
    assert np.isneginf(scores).all()


@pytest.mark.parametrize("algorithm", ["als", "bpr", "ials", "itemknn", "ease", "blend"])
def test_similar_items_within_cluster_and_excludes_self(algorithm, blocks):
    model = _fit(algorithm, blocks)
    ids, _ = model.similar_items([0, 15], k=3)
    assert 0 not in ids[0] and 15 not in ids[1]
    assert (ids[0][ids[0] >= 0] < 10).all()
    assert (ids[1][ids[1] >= 0] >= 10).all()


def test_recalculate_user_changes_recommendation(blocks):
    model = _fit("als", blocks)
    # user 0 (cluster A) suddenly interacts heavily with cluster B items.
    fresh = sp.csr_matrix(([5.0] * 5, ([0] * 5, [10, 11, 12, 13, 14])), shape=(1, 20), dtype=np.float32)
    before, _ = model.recommend([0], blocks[[0]], k=3)
    after, _ = model.recommend([0], fresh, k=3, recalculate_user=True)
    assert (before < 10).all()
    assert (after >= 10).all() and not set(after[0]) & {10, 11, 12, 13, 14}
    vec = model.recalculate_user(fresh)
    assert vec.shape == (1, 4)


def test_progress_callback_called_per_iteration(blocks):
    calls = []
    make_model("als", {**FAST["als"], "iterations": 4}).fit(blocks, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_als_deterministic_with_seed(blocks):
    a = _fit("als", blocks)
    b = _fit("als", blocks)
    np.testing.assert_allclose(a.item_factors, b.item_factors, rtol=1e-5, atol=1e-6)


def test_unknown_params_and_algorithms_raise():
    with pytest.raises(ValueError, match="factorz"):
        make_model("als", {"factorz": 3})
    with pytest.raises(ValueError, match="unknown algorithm"):
        make_model("svd")


def test_defaults_are_complete():
    model = ALSModel()
    assert model.params == DEFAULT_PARAMS["als"]
    assert set(DEFAULT_PARAMS) == {"als", "bpr", "ials", "itemknn", "rp3beta", "ease", "popularity", "blend"}


def test_user_items_row_count_checked(blocks):
    model = _fit("als", blocks)
    with pytest.raises(ValueError):
        model.recommend([0, 1], blocks[[0]], k=3)


def test_factor_top_k_over_many_batches_is_the_dense_ranking_without_owned_items():
    # Given more users than implicit scores in one product (its threads then share the batches, and the
    # owned items reach it as plain index rows), when ranking all of them at once,
    rng = np.random.default_rng(11)
    n_users, n_items = 350, 120
    model = ALSModel(dict(DEFAULT_PARAMS["als"], factors=8))
    model.n_users, model.n_items = n_users, n_items
    model.user_factors = rng.standard_normal((n_users, 8)).astype(np.float32)
    model.item_factors = rng.standard_normal((n_items, 8)).astype(np.float32)
    owned = sp.random(n_users, n_items, density=0.1, format="csr", dtype=np.float32, random_state=3)
    owned.data[:] = 1.0
    ids, scores = model.recommend(np.arange(n_users), owned, k=7)
    # then each user's list is the dense product's best seven of the items they do not own, best first.
    dense = model.user_factors @ model.item_factors.T
    dense[owned.toarray() > 0] = -np.inf
    expected = np.argsort(-dense, axis=1, kind="stable")[:, :7]
    assert (ids == expected).all()
    assert np.allclose(scores, np.take_along_axis(dense, expected, axis=1), rtol=1e-5, atol=1e-5)


def test_ials_half_step_reaches_each_rows_exact_solution():
    # Given weights, the other side's factors and per-row ridges,
    from recommender.ml.models import _ials_half_step

    rng = np.random.default_rng(3)
    weights = sp.random(30, 25, density=0.2, random_state=4, format="csr", dtype=np.float32)
    weights.data = 1 + weights.data * 3
    others = rng.standard_normal((25, 6)).astype(np.float32)
    ridge = rng.uniform(0.5, 2.0, 30).astype(np.float32)
    # when enough conjugate-gradient steps run (d = 6 steps solve a 6 x 6 system exactly),
    got = _ials_half_step(np.zeros((30, 6), np.float32), weights, others, 0.1, ridge, steps=12)
    # then every row solves (Y^T W_u Y + 0.1 Y^T Y + ridge_u I) x_u = Y^T w_u.
    for u in range(30):
        w = weights[u].toarray().ravel()
        a = others.T @ (w[:, None] * others) + 0.1 * others.T @ others + ridge[u] * np.eye(6)
        np.testing.assert_allclose(got[u], np.linalg.solve(a, others.T @ w), rtol=1e-3, atol=1e-4)


def test_ials_passes_over_the_pairs_in_blocks_with_the_same_result(monkeypatch):
    """The pass over the stored pairs runs in blocks (no pairs x factors array): blocks of 7 pairs give the same
    dots as the whole pass at once, and the same fitted factors, bit for bit."""
    from recommender.ml import models
    from recommender.ml.models import _pair_dots

    rng = np.random.default_rng(5)
    weights = sp.random(40, 30, density=0.15, random_state=6, format="csr", dtype=np.float32)
    weights.data = 1 + weights.data
    v, others = rng.standard_normal((40, 8)).astype(np.float32), rng.standard_normal((30, 8)).astype(np.float32)
    row_of_pair = np.repeat(np.arange(40), np.diff(weights.indptr))
    whole = np.einsum("ij,ij->i", v[row_of_pair], others[weights.indices])
    whole_fit = make_model("ials", {"factors": 8, "iterations": 3}).fit(weights)
    monkeypatch.setattr(models, "IALS_BLOCK_BYTES", 7 * 4 * 8)  # 7 pairs a block
    np.testing.assert_array_equal(_pair_dots(v, others, weights, row_of_pair), whole)
    blocked = make_model("ials", {"factors": 8, "iterations": 3}).fit(weights)
    np.testing.assert_array_equal(blocked.user_factors, whole_fit.user_factors)
    np.testing.assert_array_equal(blocked.item_factors, whole_fit.item_factors)


def test_ials_ridge_grows_with_the_rows_frequency(blocks):
    # The exponent 0 gives every row the same ridge; 1 scales it with the row's count: different factors.
    flat = _fit("ials", blocks, exponent=0.0)
    scaled = _fit("ials", blocks, exponent=1.0)
    assert not np.allclose(flat.user_factors, scaled.user_factors)
    with pytest.raises(ValueError, match="scaling"):
        make_model("ials", {"scaling": "bm25"})
