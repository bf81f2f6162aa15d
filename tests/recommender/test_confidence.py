"""Confidence weighting and decay: what each kind of signal is worth, and how it fades."""

import numpy as np
import pytest

from recommender import confidence
from recommender.confidence import encode, event_confidence, holdout_mask, with_rows_rebuilt
from recommender.extract import KIND_CODE, InteractionArrays
from recommender.ml.dataset import confidence_from_events, pairs_to_csr

DAY = 86_400.0
NOW = 1_800_000_000.0


def arrays(events):
    """events: (user, merchant, kind, value, age_days)."""
    users, merchants, kinds, values, ages = zip(*events, strict=True)
    return InteractionArrays(np.array(users, np.int64), np.array(merchants, np.int64),
                             np.array([KIND_CODE[k] for k in kinds], np.int16), np.array(values, np.float32),
                             NOW - np.array(ages, np.float64) * DAY)


def matrix_of(events, **kwargs):
    data = arrays(events)
    weights = event_confidence(data, now=NOW, **kwargs)
    users, u = encode(data.user_ids)
    items, i = encode(data.merchant_ids)
    return pairs_to_csr(u, i, weights, (len(users), len(items))).toarray()


WEIGHTS = {"payment": 4.0, "refund": -4.0, "review": 1.0, "view": 0.5, "impression": 0.0, "import": 1.0,
           "checkin": 2.0}


def test_each_kind_counts_with_its_weight_and_pairs_sum():
    m = matrix_of([(1, 10, "payment", 99.0, 0), (1, 10, "view", 1, 0), (1, 11, "view", 1, 0)],
                  weights=WEIGHTS, half_life_days=None)
    # The payment's amount (99) is ignored: a payment is worth its kind weight.
    assert m[0].tolist() == [4.5, 0.5]


def test_refund_cancels_a_payment_and_never_goes_negative():
    m = matrix_of([(1, 10, "payment", 30, 0), (1, 10, "refund", 30, 0), (1, 11, "refund", 5, 0),
                   (1, 12, "view", 1, 0)], weights=WEIGHTS, half_life_days=None)
    assert m[0].tolist() == [0.0, 0.0, 0.5]


def test_low_ratings_lower_confidence_high_ratings_raise_it():
    m = matrix_of([(1, 10, "checkin", 1, 0), (1, 10, "review", 1, 0),  # 2 - 2 = 0
                   (1, 11, "checkin", 1, 0), (1, 11, "review", 5, 0),  # 2 + 2
                   (1, 12, "checkin", 1, 0), (1, 12, "review", 3, 0)],  # neutral
                  weights=WEIGHTS, half_life_days=None)
    assert m[0].tolist() == [0.0, 4.0, 2.0]


def test_imports_carry_their_weight_and_impressions_alone_are_no_signal():
    m = matrix_of([(1, 10, "import", 7, 0), (1, 11, "impression", 1, 0), (1, 12, "view", 1, 0)],
                  weights=WEIGHTS, half_life_days=None)
    assert m[0].tolist() == [7.0, 0.0, 0.5]


def test_decay_halves_a_signal_every_half_life():
    m = matrix_of([(1, 10, "checkin", 1, 0), (1, 11, "checkin", 1, 30), (1, 12, "checkin", 1, 60),
                   (1, 13, "checkin", 1, -5)],  # from the future (clock skew): not boosted
                  weights=WEIGHTS, half_life_days=30)
    assert m[0] == pytest.approx([2.0, 1.0, 0.5, 2.0])


def test_weights_and_half_life_come_from_settings_and_environment(settings, monkeypatch):
    settings.RECOMMENDER_KIND_WEIGHTS = {"view": 3.0}
    settings.RECOMMENDER_HALF_LIFE_DAYS = 10
    m = matrix_of([(1, 10, "view", 1, 10)])
    assert m[0].tolist() == pytest.approx([1.5])
    # The environment is read by superapp/settings.py's helpers when the process starts.
    from superapp import settings as project_settings

    monkeypatch.setenv("RECOMMENDER_KIND_WEIGHTS", "view=8")
    monkeypatch.setenv("RECOMMENDER_HALF_LIFE_DAYS", "0")  # 0 disables decay
    settings.RECOMMENDER_KIND_WEIGHTS = project_settings.env_weights("RECOMMENDER_KIND_WEIGHTS")
    settings.RECOMMENDER_HALF_LIFE_DAYS = project_settings.env_float("RECOMMENDER_HALF_LIFE_DAYS", 90.0)
    assert matrix_of([(1, 10, "view", 1, 10)])[0].tolist() == [8.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairs_to_csr_sums_each_pairs_events_in_order_clips_and_drops_zeros(seed):
    rng = np.random.default_rng(seed)
    n, shape = 5_000, (70, 40)
    rows, cols = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    data = rng.choice([-4.0, -1.0, 0.0, 0.5, 1.0, 4.0], n).astype(np.float32) * rng.random(n, dtype=np.float32)
    expected = np.zeros(shape, np.float32)
    for r, c, d in zip(rows, cols, data, strict=True):  # one event at a time, in the order given
        expected[r, c] += d
    m = pairs_to_csr(rows, cols, data, shape)
    assert m.shape == shape and m.dtype == np.float32
    assert np.array_equal(m.toarray(), np.maximum(expected, 0))  # bit for bit: the same order of summing
    assert (m.data > 0).all()  # negative totals clipped, zeros (impressions, refunded pairs) dropped
    assert all((np.diff(m.indices[a:b]) > 0).all() for a, b in zip(m.indptr[:-1], m.indptr[1:], strict=True))
    assert m.has_canonical_format
    empty = pairs_to_csr(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), shape)
    assert empty.shape == shape and empty.nnz == 0


def test_holdout_keeps_each_users_latest_events_for_sampled_users_only():
    # user 0: 5 events at t=0..4; user 1: 1 event; user 2: 5 events but not sampled.
    users = np.array([0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2])
    ts = np.array([4, 0, 3, 1, 2, 0, 0, 1, 2, 3, 4], dtype=np.float64)
    mask = holdout_mask(user_codes=users, timestamps=ts, users=np.array([0, 1]), test_fraction=0.4, seed=1)
    # round(5 * 0.4) = 2 latest of user 0 (t=4 and t=3); a single-event user keeps it for training.
    assert np.flatnonzero(mask).tolist() == [0, 2]


def test_random_holdout_is_per_user_and_deterministic():
    users = np.repeat(np.arange(50), 10)
    first = holdout_mask(user_codes=users, timestamps=None, users=np.arange(50), test_fraction=0.2, seed=3)
    again = holdout_mask(user_codes=users, timestamps=None, users=np.arange(50), test_fraction=0.2, seed=3)
    other = holdout_mask(user_codes=users, timestamps=None, users=np.arange(50), test_fraction=0.2, seed=4)
    assert (first == again).all() and not (first == other).all()
    assert np.bincount(users[first]).tolist() == [2] * 50


def test_encode_matches_numpy_unique_for_dense_sparse_and_text_ids():
    rng = np.random.default_rng(3)
    for ids in (rng.integers(1000, 1200, 5000), np.array([2**40, 7, 7, 3]), np.array(["b", "a", "b"]),
                rng.integers(0, 2**50, 300)):
        uniques, codes = encode(ids)
        expected_uniques, expected_codes = np.unique(ids, return_inverse=True)
        assert uniques.tolist() == expected_uniques.tolist()
        assert codes.tolist() == expected_codes.ravel().tolist()


@pytest.mark.parametrize("sample", ["random", "runs", "first and last", "all", "none"])
def test_the_training_and_the_full_matrix_derived_from_each_other_equal_building_them_from_scratch(sample):
    rng = np.random.default_rng(5)
    n, shape = 20_000, (300, 80)
    users, items = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    weights = rng.choice([0.5, 2.0, 4.0, -4.0, -1.0], n).astype(np.float32) * rng.random(n).astype(np.float32)
    sample = {"random": np.sort(rng.choice(shape[0], 40, replace=False)),
              "runs": np.r_[5:9, 10, 40:60, 61:63],  # rows rebuilt side by side are spliced in as one run
              "first and last": np.array([0, 1, shape[0] - 1]), "all": np.arange(shape[0]),
              "none": np.zeros(0, np.int64)}[sample]
    held = holdout_mask(user_codes=users, timestamps=rng.random(n), users=sample, test_fraction=0.3, seed=1)
    assert held.any() == bool(len(sample)) and not held[~np.isin(users, sample)].any()
    full = pairs_to_csr(users, items, weights, shape)
    train = pairs_to_csr(users[~held], items[~held], weights[~held], shape)
    codes = {"user_codes": users, "item_codes": items, "weights": weights, "users": sample}
    for derived, direct in ((with_rows_rebuilt(full, dropped=held, **codes), train),  # training from full
                            (with_rows_rebuilt(train, **codes), full)):  # full from training (the retrain's way)
        assert derived.has_sorted_indices and derived.nnz == direct.nnz
        assert (derived.indptr == direct.indptr).all() and (derived.indices == direct.indices).all()
        assert (derived.data == direct.data).all()  # bit for bit: each pair summed in the same order
    assert ((train != full).nnz > 0) == bool(len(sample))  # the held-out events really are gone


def test_the_confidence_computed_block_by_block_is_the_whole_arrays_one_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(8)
    n = 10_007  # not a multiple of the block
    kinds = np.array([KIND_CODE[k] for k in ("payment", "refund", "review", "view", "import", "checkin")], np.int16)
    data = InteractionArrays(rng.integers(1, 50, n), rng.integers(1, 20, n), rng.choice(kinds, n),
                             rng.uniform(0, 5, n).astype(np.float32), NOW - rng.uniform(-DAY, 400 * DAY, n))
    data.timestamps[::97] = np.nan  # no timestamp: no decay
    monkeypatch.setattr(confidence, "CONFIDENCE_BLOCK_ROWS", 1000)
    blocks = event_confidence(data, now=NOW, weights=WEIGHTS, half_life_days=30.0)
    by_code = {KIND_CODE[name]: weight for name, weight in WEIGHTS.items()}
    whole = confidence_from_events(kinds=data.kind_codes, weights_by_kind=by_code, now=NOW, half_life_days=30.0,
                                   values=confidence.value_terms(data.kind_codes, data.values),
                                   timestamps=data.timestamps)
    assert blocks.dtype == np.float32 and np.array_equal(blocks, whole)
