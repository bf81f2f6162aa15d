"""From interaction rows to a users x merchants confidence matrix (see `recommender.conf` for the formula).

The per-event weighting and decay are the ML core's (`recommender.ml.dataset.confidence_from_events`);
this module adds what only the Django side knows: what `value` means for each interaction kind, and
vectorised id encoding for millions of rows (sorted ids + `searchsorted`, no per-row dict lookups).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from recommender import conf
from recommender.extract import KIND_CODE, KINDS, InteractionArrays
from recommender.ml.dataset import confidence_from_events, pairs_to_csr


def value_terms(kind_codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """What each event's `value` contributes: 1, except reviews (rating - neutral) and imports (the weight).

    Payments and refunds carry an amount in `value`, deliberately ignored: a dinner and a hotel night are
    the same evidence of a preference, and amounts would let expensive merchants dominate.
    """
    terms = np.ones(len(kind_codes), dtype=np.float64)
    review = kind_codes == KIND_CODE["review"]
    terms[review] = values[review].astype(np.float64) - conf.REVIEW_NEUTRAL_RATING
    imported = kind_codes == KIND_CODE["import"]
    terms[imported] = values[imported]
    return terms


# `event_confidence` works through this many events at a time (see there).
CONFIDENCE_BLOCK_ROWS = 1 << 18


def event_confidence(arrays: InteractionArrays, *, now: float, weights: Mapping[str, float] | None = None,
                     half_life_days: float | None | object = ...) -> np.ndarray:
    """Per-event confidence (float32): kind weight x value term x time decay (half-life from conf).

    Computed in blocks of `CONFIDENCE_BLOCK_ROWS` events: an event's confidence depends on its own row only, and
    a block's float64 temporaries (a few MB) are reused while they are in the CPU's caches, where whole-array ones
    (80 MB each at a retrain's 10M events) are fresh memory the kernel has to fault in (10M events: 0.31 s ->
    0.13 s of CPU; the same values, bit for bit)."""
    weights = dict(conf.kind_weights() if weights is None else weights)
    half_life = conf.half_life_days() if half_life_days is ... else half_life_days
    by_code = {code: float(weights[name]) for code, name in enumerate(KINDS) if name in weights}

    def block(rows: slice) -> np.ndarray:
        kinds = arrays.kind_codes[rows]
        return confidence_from_events(
            kinds=kinds, weights_by_kind=by_code, values=value_terms(kinds, arrays.values[rows]),
            timestamps=arrays.timestamps[rows], now=now, half_life_days=half_life,
        )

    if len(arrays) <= CONFIDENCE_BLOCK_ROWS:
        return block(slice(None))
    out = np.empty(len(arrays), np.float32)
    for start in range(0, len(arrays), CONFIDENCE_BLOCK_ROWS):
        rows = slice(start, start + CONFIDENCE_BLOCK_ROWS)
        out[rows] = block(rows)
    return out


def encode(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ids and each row's index into them (what `np.unique(..., return_inverse=True)` gives).

    Database primary keys are dense integers: then a presence table over [min, max] and a cumulative sum
    give the same result in O(rows) instead of an O(rows log rows) sort of 10M ids.
    """
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu" and ids.size:
        low, high = int(ids.min()), int(ids.max())
        table_limit = max(4 * ids.size, 1 << 20)
        if high - low < table_limit:
            if low >= 0 and high < table_limit:
                low = 0  # the ids index the tables as they are: no 10M-element copy of them
            offsets = ids - ids.dtype.type(low) if low else ids
            present = np.zeros(high - low + 1, dtype=bool)
            present[offsets] = True
            uniques = (np.flatnonzero(present) + low).astype(ids.dtype)
            index = np.cumsum(present, dtype=np.int64) - 1
            index = index.astype(np.int32 if len(uniques) < 2**31 else np.int64)
            return uniques, index[offsets]
    uniques, codes = np.unique(ids, return_inverse=True)
    return uniques, codes.reshape(-1).astype(np.int32 if len(uniques) < 2**31 else np.int64)


def with_rows_rebuilt(matrix: sp.csr_matrix, *, users: np.ndarray, user_codes: np.ndarray, item_codes: np.ndarray,
                      weights: np.ndarray, dropped: np.ndarray | None = None) -> sp.csr_matrix:
    """`matrix` with the rows of `users` (a small evaluation sample) rebuilt from their events, without the events
    flagged in `dropped` (None: all of their events): the training matrix from the full one (`dropped` the
    held-out events) or the full one from the training matrix.

    Every other row is copied as is, straight into the new arrays. The same values as `pairs_to_csr` of the
    events wanted (`pairs_to_csr` sums each pair's events in the order given, and a row's events keep theirs), at
    a fraction of the cost.
    """
    rebuild = np.zeros(matrix.shape[0], dtype=bool)
    rebuild[users] = True
    events = rebuild[user_codes]
    if dropped is not None:
        events &= ~dropped
    rebuilt = pairs_to_csr(user_codes[events], item_codes[events], weights[events], matrix.shape)
    lengths = np.diff(matrix.indptr)
    lengths[rebuild] = np.diff(rebuilt.indptr)[rebuild]  # rebuilt has entries in these rows only
    indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    # Row order is kept: the new arrays are `matrix`'s entries up to the first run of rebuilt rows, that run's
    # entries in `rebuilt`, `matrix`'s up to the next run, and so on. Copied as slices, one per run: masks over
    # every entry cost 0.3 s at a retrain's 8.5M (on the core the fit shares).
    rows = np.flatnonzero(rebuild)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    firsts, ends = (rows[np.r_[0, breaks]], rows[np.r_[breaks - 1, len(rows) - 1]] + 1) if len(rows) else (rows, rows)
    cuts = (matrix.indptr[firsts], matrix.indptr[ends], rebuilt.indptr[firsts], rebuilt.indptr[ends])
    indices = _spliced(matrix.indices, rebuilt.indices, *cuts)
    data = _spliced(matrix.data, rebuilt.data, *cuts)
    index_dtype = matrix.indptr.dtype if indptr[-1] <= np.iinfo(matrix.indptr.dtype).max else np.int64
    out = sp.csr_matrix((data, indices.astype(index_dtype, copy=False), indptr.astype(index_dtype)),
                        shape=matrix.shape)
    out.has_sorted_indices = True  # both sources' rows are sorted, and no row mixes them
    return out


def _spliced(base: np.ndarray, insert: np.ndarray, cut_starts: np.ndarray, cut_stops: np.ndarray,
             insert_starts: np.ndarray, insert_stops: np.ndarray) -> np.ndarray:
    """`base` with each slice [cut_starts[i], cut_stops[i]) (in order, not overlapping) replaced by
    `insert[insert_starts[i]:insert_stops[i]]`."""
    parts, done = [], 0
    for cut_start, cut_stop, insert_start, insert_stop in zip(
            cut_starts.tolist(), cut_stops.tolist(), insert_starts.tolist(), insert_stops.tolist(), strict=True):
        parts += [base[done:cut_start], insert[insert_start:insert_stop]]
        done = cut_stop
    parts.append(base[done:])
    return np.concatenate(parts).astype(base.dtype, copy=False)


def holdout_mask(*, user_codes: np.ndarray, timestamps: np.ndarray | None, users: np.ndarray,
                 test_fraction: float, seed: int) -> np.ndarray:
    """Events to hold out for evaluation, for the given user codes only.

    Per user with n >= 2 events: the latest round(n * fraction) (at least 1, at most n - 1) when
    `timestamps` are given (ties broken by row order), else a random such subset. Same per-user rule as the
    ML core's `split_by_time`, restricted to a sample of users so a production retrain can evaluate
    without fitting twice.
    """
    selected = np.zeros(int(user_codes.max()) + 1 if len(user_codes) else 0, dtype=bool)
    selected[users] = True
    idx = np.flatnonzero(selected[user_codes])
    mask = np.zeros(len(user_codes), dtype=bool)
    if not len(idx):
        return mask
    sub_users = user_codes[idx]
    key = timestamps[idx] if timestamps is not None else np.random.default_rng(seed).random(len(idx))
    order = np.lexsort((np.arange(len(idx)), key, sub_users))
    sorted_users = sub_users[order]
    uniq, starts, counts = np.unique(sorted_users, return_index=True, return_counts=True)
    position = np.searchsorted(uniq, sorted_users)
    rank_from_end = starts[position] + counts[position] - 1 - np.arange(len(idx))
    n_test = np.where(counts >= 2, np.minimum(np.maximum(np.rint(counts * test_fraction), 1), counts - 1), 0)
    mask[idx[order]] = rank_from_end < n_test[position]
    return mask
