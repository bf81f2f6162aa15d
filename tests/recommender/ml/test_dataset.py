import numpy as np
import pytest
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

from recommender.ml.dataset import (
    ConfidenceScaler,
    InteractionLog,
    build_matrix,
    clean_test_pairs,
    confidence_from_events,
    scale_confidence,
    split_by_time,
    split_by_time_cut,
    split_random_per_user,
    validation_split,
)

DAY = 86_400.0


def test_build_matrix_sums_duplicates_and_clips_negative_totals():
    log = InteractionLog(
        user_ids=["a", "a", "b", "b", "b"],
        item_ids=["x", "x", "x", "y", "y"],
        weights=[1.0, 2.0, 1.0, 3.0, -5.0],  # b/y: purchase then bigger refund -> 0, dropped
    )
    ds = build_matrix(log)
    assert ds.user_ids.tolist() == ["a", "b"]
    assert ds.item_ids.tolist() == ["x", "y"]
    assert ds.matrix.dtype == np.float32
    assert ds.matrix.toarray().tolist() == [[3.0, 0.0], [1.0, 0.0]]
    assert ds.matrix.nnz == 2
    assert ds.user_index == {"a": 0, "b": 1}
    assert ds.user_rows(["b", "zz"]).tolist() == [1, -1]


def test_build_matrix_reuses_index_space_and_drops_unknown():
    ds = build_matrix(InteractionLog(user_ids=[1, 2], item_ids=[10, 20]))
    other = build_matrix(InteractionLog(user_ids=[2, 3], item_ids=[10, 10]), user_ids=ds.user_ids, item_ids=ds.item_ids)
    assert other.matrix.shape == (2, 2)
    assert other.matrix.toarray().tolist() == [[0, 0], [1, 0]]


def test_timestamps_accept_none():
    log = InteractionLog(user_ids=[1, 1], item_ids=[1, 2], timestamps=[None, 5.0])
    assert np.isnan(log.timestamps[0]) and log.timestamps[1] == 5.0


def test_confidence_kind_weight_times_value():
    w = confidence_from_events(kinds=["view", "purchase"], weights_by_kind={"view": 1, "purchase": 5}, values=[1, 2])
    assert w.tolist() == [1.0, 10.0]


def test_half_life_halves_weight():
    now = 1_000 * DAY
    w = confidence_from_events(
        kinds=["p"] * 4,
        weights_by_kind={"p": 4.0},
        timestamps=[now, now - 7 * DAY, now - 14 * DAY, now + DAY],  # last: clock skew
        now=now,
        half_life_days=7,
    )
    assert w.tolist() == pytest.approx([4.0, 2.0, 1.0, 4.0])


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="refund"):
        confidence_from_events(kinds=["refund"], weights_by_kind={"purchase": 1})


def test_refund_lowers_pair_total():
    w = confidence_from_events(kinds=["purchase", "refund"], weights_by_kind={"purchase": 3, "refund": -2})
    ds = build_matrix(InteractionLog(user_ids=[1, 1], item_ids=[7, 7], weights=w))
    assert ds.matrix.toarray().tolist() == [[1.0]]


def test_scalings():
    m = sp.csr_matrix(np.array([[1.0, 3.0, 0.0], [0.0, 1.0, 1.0]], dtype=np.float32))
    assert scale_confidence(m, method="linear", alpha=2).toarray().tolist() == [[2, 6, 0], [0, 2, 2]]
    lg = scale_confidence(m, method="log1p", alpha=1, eps=1).toarray()
    assert lg[0, 1] == pytest.approx(np.log1p(3.0))
    # bm25 must match implicit's own function applied to the items x users matrix.
    ours = scale_confidence(m, method="bm25", K1=100, B=0.8).toarray()
    ref = bm25_weight(m.T.tocsr(), K1=100, B=0.8).T.toarray()
    assert ours == pytest.approx(np.maximum(ref, ConfidenceScaler.FLOOR) * (m.toarray() > 0), abs=1e-6)
    with pytest.raises(ValueError):
        scale_confidence(m, method="nope")


@pytest.mark.parametrize("method", ["linear", "log1p", "tfidf", "bm25"])
def test_scaling_in_blocks_gives_the_whole_array_formulas_bit_for_bit(method, monkeypatch):
    """`transform` works through the values a block at a time: across block boundaries it must give exactly the
    documented formulas computed over the whole array in float64 (what it computed before)."""
    import recommender.ml.dataset as dataset

    monkeypatch.setattr(dataset, "_SCALE_BLOCK", 7)  # many blocks, one ending mid-row
    rng = np.random.default_rng(3)
    m = sp.random(40, 25, density=0.3, random_state=2, format="csr", dtype=np.float32)
    m.data = ((rng.pareto(1.2, m.nnz) + 0.01) * rng.choice([1, 5, 300], m.nnz)).astype(np.float32)
    scaler = ConfidenceScaler(method=method, alpha=37.0, eps=0.3, K1=1.7, B=0.25).fit(m)
    c = m.data.astype(np.float64)
    per_row = np.diff(m.indptr)
    idf = (np.log(m.shape[1]) - np.log1p(per_row)).repeat(per_row)
    expected = {"linear": c, "log1p": np.log1p(c / 0.3), "tfidf": np.sqrt(c) * idf,
                "bm25": c * 2.7 / (1.7 * scaler.item_length_norm[m.indices] + c) * idf}[method]
    expected = np.maximum(37.0 * expected, ConfidenceScaler.FLOOR).astype(np.float32)
    out = scaler.transform(m)
    assert out.data.view(np.uint32).tolist() == expected.view(np.uint32).tolist()
    assert (out.indices == m.indices).all() and (out.indptr == m.indptr).all()
    assert not np.shares_memory(out.indices, m.indices) and not np.shares_memory(out.data, m.data)


def test_bm25_transform_of_single_row_matches_full_transform():
    rng = np.random.default_rng(0)
    m = sp.random(30, 12, density=0.3, random_state=1, format="csr", dtype=np.float32)
    m.data = rng.integers(1, 5, m.nnz).astype(np.float32)
    scaler = ConfidenceScaler(method="bm25", K1=10, B=0.5).fit(m)
    full = scaler.transform(m)
    assert (scaler.transform(m[7]).toarray() == full[7].toarray()).all()


def _ts_log():
    # user 1: 5 events at t=1..5 -> latest 1 (round(5*0.2)) to test
    # user 2: 10 events -> latest 2 to test; user 3: 1 event -> stays in train
    users = [1] * 5 + [2] * 10 + [3]
    items = [10, 11, 12, 13, 14] + list(range(10, 20)) + [10]
    ts = [5, 1, 2, 4, 3] + list(range(100, 110)) + [7]
    return InteractionLog(user_ids=users, item_ids=items, timestamps=ts)


def test_split_by_time_takes_latest_per_user():
    s = split_by_time(_ts_log(), test_fraction=0.2)
    test = {(s.user_ids[r], s.item_ids[c]) for r, c in zip(*s.test.nonzero(), strict=True)}
    # user 1's latest is item 10 (t=5); user 2's latest are items 18, 19 -- but 18 and 19
    # were only ever seen by user 2 in the test period (cold items) so they are dropped.
    assert test == {(1, 10)}
    assert s.dropped_test_pairs == 2
    assert s.train[s.dataset.user_index[3]].nnz == 1
    # no leakage: nothing in both
    assert s.train.multiply(s.test).nnz == 0


def test_split_by_time_cut():
    # cut at t=5: train = user 1's items 11..14 (t=1..4). Test = user 1 item 10 (t=5),
    # user 3 item 10 (t=7) and all ten of user 2's events. Item 10 and 15..19 never occur
    # in train (cold) -> dropped; what survives is user 2 x items 11..14.
    s = split_by_time_cut(_ts_log(), cut_ts=5)
    test = sorted((s.user_ids[r], s.item_ids[c]) for r, c in zip(*s.test.nonzero(), strict=True))
    assert test == [(2, 11), (2, 12), (2, 13), (2, 14)]
    assert s.dropped_test_pairs == 8
    assert s.train.multiply(s.test).nnz == 0


def _random_matrix(seed=0):
    return sp.random(50, 40, density=0.2, random_state=seed, format="csr", dtype=np.float32)


def test_random_split_deterministic_and_disjoint():
    m = _random_matrix()
    a = split_random_per_user(m, test_fraction=0.2, seed=7)
    b = split_random_per_user(m, test_fraction=0.2, seed=7)
    c = split_random_per_user(m, test_fraction=0.2, seed=8)
    assert (a.train != b.train).nnz == 0 and (a.test != b.test).nnz == 0
    assert (a.test != c.test).nnz > 0
    assert a.train.multiply(a.test).nnz == 0
    # together they are the original minus dropped cold-item pairs
    assert a.train.nnz + a.test.nnz + a.dropped_test_pairs == m.nnz
    counts = np.diff(m.indptr)
    test_counts = np.diff(a.test.indptr) + 0
    train_counts = np.diff(a.train.indptr)
    assert (train_counts[counts >= 2] >= 1).all()
    assert (test_counts[counts < 2] == 0).all()
    # test items all appear in train
    warm = np.diff(a.train.tocsc().indptr) > 0
    assert warm[a.test.indices].all()


def test_validation_split_only_uses_train():
    m = _random_matrix(3)
    s = split_random_per_user(m, seed=1)
    v = validation_split(s.train, seed=0)
    assert v.train.nnz + v.test.nnz + v.dropped_test_pairs == s.train.nnz
    assert v.test.multiply(s.test).nnz == 0


def test_clean_test_pairs_drops_pairs_in_train_and_items_nobody_trained_on():
    # Given a test matrix sharing some pairs with train, and some items no training row has,
    rng = np.random.default_rng(8)
    shape = (60, 40)
    train = sp.random(*shape, density=0.15, format="csr", dtype=np.float32, random_state=1)
    train = (train @ sp.diags((np.arange(shape[1]) < 35).astype(np.float32))).tocsr()  # items 35+ cold
    train.eliminate_zeros()
    test = sp.random(*shape, density=0.1, format="csr", dtype=np.float32, random_state=2)
    test = (test + train[rng.permutation(shape[0])].multiply(0.5) + train.multiply(0.25)).tocsr()
    # when it is cleaned,
    cleaned, dropped = clean_test_pairs(train, test)
    # then what is left is exactly the test pairs absent from train whose item is in some training row.
    train_pairs = set(zip(*train.nonzero(), strict=True))
    warm = set(train.indices.tolist())
    expected = {(r, c) for r, c in zip(*test.nonzero(), strict=True) if (r, c) not in train_pairs and c in warm}
    assert set(zip(*cleaned.nonzero(), strict=True)) == expected
    assert dropped == test.nnz - len(expected) > 0 and cleaned.has_sorted_indices
    assert all(cleaned[r, c] == test[r, c] for r, c in expected)
