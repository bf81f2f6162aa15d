"""Interaction logs, confidence weighting, id maps and train/test splits.

Everything here is plain NumPy/SciPy so the Django side can build an ``InteractionLog``
from a queryset (``values_list``) and hand it over without this package knowing about
models or the ORM.

Conventions used throughout the package:

* The interaction matrix is ``users x items`` CSR, float32. Row ``r`` is external user
  ``Dataset.user_ids[r]``, column ``c`` is external item ``Dataset.item_ids[c]``.
* Matrix values are *confidences*: non-negative, larger means "more sure the user likes
  it". Zero/absent means "no signal"; implicit-feedback models treat that as a weak
  negative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "SCALING_METHODS",
    "ConfidenceScaler",
    "Dataset",
    "InteractionLog",
    "Split",
    "build_matrix",
    "clean_test_pairs",
    "confidence_from_events",
    "scale_confidence",
    "split_by_time",
    "split_by_time_cut",
    "split_random_per_user",
    "time_split_mask",
    "validation_split",
]

SECONDS_PER_DAY = 86_400.0


# ----------------------------------------------------------------------------- logs


@dataclass(frozen=True)
class InteractionLog:
    """A flat list of interaction events (one row per event, duplicates allowed).

    Attributes:
        user_ids: external user ids (ints or strings), shape ``(n,)``.
        item_ids: external item ids (ints or strings), shape ``(n,)``.
        weights: per-event confidence contribution (float32). May be negative (a refund
            or a 1-star rating lowers the pair's total); totals are clipped at 0 when the
            matrix is built.
        timestamps: unix seconds (float64); NaN where unknown. Needed only for decay
            and time-based splits.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    weights: np.ndarray
    timestamps: np.ndarray

    def __init__(
        self,
        *,
        user_ids: Sequence[Any] | np.ndarray,
        item_ids: Sequence[Any] | np.ndarray,
        weights: Sequence[float] | np.ndarray | None = None,
        timestamps: Sequence[float | None] | np.ndarray | None = None,
    ) -> None:
        users = np.asarray(user_ids)
        items = np.asarray(item_ids)
        n = len(users)
        if users.ndim != 1 or items.shape != (n,):
            raise ValueError("user_ids and item_ids must be 1-D arrays of equal length")
        w = np.ones(n, dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
        if w.shape != (n,):
            raise ValueError("weights must have one value per event")
        if timestamps is None:
            ts = np.full(n, np.nan, dtype=np.float64)
        else:
            # None -> NaN so Django's nullable DateTime columns can be passed straight in.
            ts = (
                np.array([np.nan if t is None else t for t in timestamps], dtype=np.float64)
                if (not isinstance(timestamps, np.ndarray) or timestamps.dtype == object)
                else timestamps.astype(np.float64)
            )
            if ts.shape != (n,):
                raise ValueError("timestamps must have one value per event")
        object.__setattr__(self, "user_ids", users)
        object.__setattr__(self, "item_ids", items)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "timestamps", ts)

    def __len__(self) -> int:
        return len(self.user_ids)

    def subset(self, mask: np.ndarray) -> InteractionLog:
        """Events selected by a boolean mask or an index array (order preserved)."""
        return InteractionLog(
            user_ids=self.user_ids[mask],
            item_ids=self.item_ids[mask],
            weights=self.weights[mask],
            timestamps=self.timestamps[mask],
        )


@dataclass
class Dataset:
    """An interaction matrix plus the maps between rows/columns and external ids.

    ``user_index``/``item_index`` are the inverse of ``user_ids``/``item_ids``; they are
    plain dicts because serving looks up one id at a time.
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    user_index: dict[Any, int] = field(repr=False)
    item_index: dict[Any, int] = field(repr=False)

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    def user_rows(self, ids: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Rows of the given external user ids; -1 for ids unknown to this dataset."""
        return np.array([self.user_index.get(_py(u), -1) for u in ids], dtype=np.int64)

    def item_rows(self, ids: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Columns of the given external item ids; -1 for ids unknown to this dataset."""
        return np.array([self.item_index.get(_py(i), -1) for i in ids], dtype=np.int64)


def _py(x: Any) -> Any:
    # numpy scalars hash like Python ones, but keep dict keys plain for JSON/Django use.
    return x.item() if isinstance(x, np.generic) else x


def _index(ids: np.ndarray) -> dict[Any, int]:
    return {_py(v): i for i, v in enumerate(ids.tolist())}


def _encode(values: np.ndarray, known: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Map values to codes; with ``known`` given, unknown values get -1."""
    if known is None:
        uniques, codes = np.unique(values, return_inverse=True)
        return uniques, codes.astype(np.int64)
    index = _index(known)
    codes = np.fromiter((index.get(v, -1) for v in values.tolist()), dtype=np.int64, count=len(values))
    return known, codes


def pairs_to_csr(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Sum the events of each (row, col) pair, clip negative totals to 0 and drop zero pairs.

    Clipping happens *after* summing so that e.g. a purchase (+3) followed by a refund
    (-3) leaves no signal, while a refund alone never becomes a negative preference;
    impressions alone (zero) are no evidence.

    Built with two counting sorts, scipy's own conversions: COO -> CSC orders the events by column, CSC -> CSR
    then by row, which leaves each row's columns in ascending order with a pair's events next to each other
    (scipy marks such a CSR as sorted), so summing them is one linear pass. Summing an unsorted CSR, the obvious
    way, sorts every row's events first: 0.55-0.68 s against 0.39-0.54 s on bench_training's 10M events on the
    project's VM, with the same peak memory (the COO's copy of the indices is let go of before the CSR is allocated).
    """
    coo = sp.coo_matrix((data.astype(np.float32, copy=False), (rows, cols)), shape=shape, dtype=np.float32)
    coo.has_canonical_format = True  # not true yet: it keeps tocsc() from summing (by sorting each column)
    by_column = coo.tocsc()
    del coo  # its int32 copy of the indices, before the CSR is allocated
    m = by_column.tocsr()
    del by_column
    m.has_canonical_format = False  # it may hold duplicates: sum them without scipy scanning for them first
    m.sum_duplicates()
    np.maximum(m.data, 0, out=m.data)
    m.eliminate_zeros()
    return m


def build_matrix(
    log: InteractionLog,
    *,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> Dataset:
    """Aggregate an event log into a users x items confidence matrix.

    Duplicate (user, item) events are summed and negative totals clipped to 0.
    Passing ``user_ids``/``item_ids`` reuses an existing index space (e.g. to encode a
    test log exactly like the training data); events with unknown ids are dropped then.
    Without them the ids are sorted, so the layout is deterministic for a given log.
    """
    u_ids, u_codes = _encode(log.user_ids, user_ids)
    i_ids, i_codes = _encode(log.item_ids, item_ids)
    keep = (u_codes >= 0) & (i_codes >= 0)
    matrix = pairs_to_csr(u_codes[keep], i_codes[keep], log.weights[keep], (len(u_ids), len(i_ids)))
    return Dataset(matrix, u_ids, i_ids, _index(u_ids), _index(i_ids))


# ----------------------------------------------------------------------- confidence


def confidence_from_events(
    *,
    kinds: Sequence[str] | np.ndarray,
    weights_by_kind: Mapping[str, float],
    values: Sequence[float] | np.ndarray | None = None,
    timestamps: Sequence[float] | np.ndarray | None = None,
    now: float | None = None,
    half_life_days: float | None = None,
) -> np.ndarray:
    """Per-event confidence = kind weight x value x 0.5 ** (age_days / half_life_days).

    Different event kinds carry different evidence (a purchase says more than a view),
    ``values`` lets an event scale itself (amount, rating - 3, dwell time...), and the
    exponential decay makes old taste fade so the model follows users as they change.

    * Unknown kinds raise ``ValueError``: silently weighting them 0 would hide a
      mis-configured event type.
    * Events from the future (clock skew) get age 0, so decay never *increases* weight.
    * NaN timestamps, ``half_life_days=None`` or ``now=None`` mean no decay.

    Feed the result as ``InteractionLog.weights``; ``build_matrix`` then sums per pair and
    clips negative totals to 0.
    """
    uniques, inverse = _factorize(np.asarray(kinds))
    unknown = set(uniques.tolist()) - set(weights_by_kind)
    if unknown:
        raise ValueError(f"no weight configured for event kinds: {sorted(unknown)}")
    # One weight per distinct kind, then one vectorised gather (no Python loop over millions of events).
    # The gather makes a fresh array; everything after it works in place (at 10M events each temporary is
    # 80 MB: the in-place form takes half the time, bit-identical results).
    lookup = np.array([float(weights_by_kind[k]) for k in uniques.tolist()], dtype=np.float64)[inverse]
    if values is not None:
        lookup *= np.asarray(values, dtype=np.float64)
    if half_life_days is not None and now is not None and timestamps is not None:
        if half_life_days <= 0:
            raise ValueError("half_life_days must be positive")
        age = np.subtract(now, np.asarray(timestamps, dtype=np.float64))
        age /= SECONDS_PER_DAY
        np.maximum(age, 0.0, out=age)  # age in days, never negative; NaN stays NaN
        age /= half_life_days
        decay = np.power(0.5, age, out=age)
        decay[np.isnan(decay)] = 1.0  # no timestamp: no decay
        lookup *= decay
    return lookup.astype(np.float32)


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's index into them, like ``np.unique(..., return_inverse=True)``.

    Small-range integers (kind codes) are counted with ``bincount`` in O(n) instead of sorting.
    """
    if values.dtype.kind in "iu" and values.size:
        low, high = int(values.min()), int(values.max())
        if high - low < 1 << 16:
            offsets = values.astype(np.int64) - low
            present = np.bincount(offsets, minlength=high - low + 1) > 0
            codes = np.cumsum(present) - 1
            return (np.flatnonzero(present) + low).astype(values.dtype), codes[offsets]
    uniques, inverse = np.unique(values, return_inverse=True)
    return uniques, inverse.reshape(-1)


SCALING_METHODS = ("linear", "log1p", "bm25", "tfidf")


_SCALE_BLOCK = 1 << 15  # values scaled at a time (256 KiB of float64: in a core's cache)


class ConfidenceScaler:
    """Turns raw confidences into the values a model trains on.

    Why several methods: raw counts are heavy-tailed (one user checks in 300 times at
    home), which lets a few pairs dominate ALS. ``log1p`` compresses counts; ``bm25`` and
    ``tfidf`` additionally down-weight very active users and popular items (the idf and
    length-normalisation ideas from text retrieval), which usually helps on check-in and
    play-count data.

    Methods (``c`` = raw value, all multiplied by ``alpha`` at the end):

    * ``linear``: ``c``
    * ``log1p``:  ``log1p(c / eps)``
    * ``bm25``:   ``implicit.nearest_neighbours.bm25_weight`` applied, as implicit's own
      examples do, to the *items x users* matrix: per-user idf
      ``log(n_items) - log1p(n_items_of_user)`` and per-item length norm
      ``(1 - B) + B * item_total / mean(item_total)``;
      ``c * (K1 + 1) / (K1 * length_norm + c) * idf``
    * ``tfidf``:  ``sqrt(c) * idf`` (implicit's ``tfidf_weight``, same orientation)

    The idf only depends on the row itself, and the length norm is stored after
    ``fit``, so ``transform`` can scale a single fresh user row consistently with
    training -- needed for ALS ``recalculate_user``. Values are floored at a tiny
    positive number because implicit reads negative values as explicit dislikes.
    """

    FLOOR = 1e-6

    def __init__(
        self, *, method: str = "linear", alpha: float = 1.0, eps: float = 1.0, K1: float = 100.0, B: float = 0.8
    ) -> None:
        if method not in SCALING_METHODS:
            raise ValueError(f"unknown scaling {method!r}; choose one of {SCALING_METHODS}")
        self.method = method
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.K1 = float(K1)
        self.B = float(B)
        self.item_length_norm: np.ndarray | None = None

    def fit(self, matrix: sp.csr_matrix) -> ConfidenceScaler:
        item_totals = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
        mean = item_totals.mean() if item_totals.size and item_totals.mean() > 0 else 1.0
        self.item_length_norm = (1.0 - self.B) + self.B * item_totals / mean
        return self

    def transform(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        m = sp.csr_matrix(matrix, dtype=np.float32)  # no copy of a float32 CSR: the result gets its own arrays
        idf = ln = None
        if self.method in ("tfidf", "bm25"):
            per_row = np.diff(m.indptr)
            idf = (np.log(m.shape[1]) - np.log1p(per_row)).repeat(per_row)
            if self.method == "bm25":
                if self.item_length_norm is None:
                    raise RuntimeError("bm25 scaling needs fit() first")
                ln = self.item_length_norm[m.indices]
        data = np.empty(m.nnz, np.float32)
        scratch = np.empty(min(m.nnz, _SCALE_BLOCK), np.float64)
        for start in range(0, m.nnz, _SCALE_BLOCK):
            stop = min(start + _SCALE_BLOCK, m.nnz)
            self._scale_block(m.data[start:stop], scratch[:stop - start],
                              None if idf is None else idf[start:stop], None if ln is None else ln[start:stop])
            data[start:stop] = scratch[:stop - start]
        return sp.csr_matrix((data, m.indices.copy(), m.indptr.copy()), shape=m.shape)

    def _scale_block(self, raw: np.ndarray, out: np.ndarray, idf: np.ndarray | None, ln: np.ndarray | None) -> None:
        """`out` (float64) = the scaled values of `raw`, floored; the same operations in the same order as the
        formulas in the class's docstring (so the same bits as whole-array NumPy), a cache-sized block at a time:
        whole-array temporaries of a 10M-event matrix cost ~5x the arithmetic in memory traffic and page faults."""
        out[...] = raw
        if self.method == "log1p":
            np.divide(out, self.eps, out=out)
            np.log1p(out, out=out)
        elif self.method == "tfidf":
            np.sqrt(out, out=out)
            np.multiply(out, idf, out=out)
        elif self.method == "bm25":
            denominator = self.K1 * ln
            denominator += out
            np.multiply(out, self.K1 + 1.0, out=out)
            np.divide(out, denominator, out=out)
            np.multiply(out, idf, out=out)
        np.multiply(self.alpha, out, out=out)
        np.maximum(out, self.FLOOR, out=out)

    def fit_transform(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        return self.fit(matrix).transform(matrix)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {}
        if self.item_length_norm is not None:
            out["item_length_norm"] = self.item_length_norm
        return out

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        if "item_length_norm" in arrays:
            self.item_length_norm = np.asarray(arrays["item_length_norm"], dtype=np.float64)


def scale_confidence(
    matrix: sp.csr_matrix,
    *,
    method: str = "linear",
    alpha: float = 1.0,
    eps: float = 1.0,
    K1: float = 100.0,
    B: float = 0.8,
) -> sp.csr_matrix:
    """One-shot ``ConfidenceScaler(...).fit_transform(matrix)``; see that class."""
    return ConfidenceScaler(method=method, alpha=alpha, eps=eps, K1=K1, B=B).fit_transform(matrix)


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class Split:
    """A train/test pair sharing one index space.

    ``test`` never contains a (user, item) pair that is also in ``train`` (a model that
    filters already-liked items could never hit it), nor an item with no training
    interaction at all (no collaborative model can score a cold item, so keeping it only
    adds noise that depends on how many cold items the split happened to produce).
    ``dropped_test_pairs`` counts what was removed for those reasons.
    """

    train: sp.csr_matrix
    test: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    dropped_test_pairs: int = 0

    @property
    def dataset(self) -> Dataset:
        """The training matrix with its id maps."""
        return Dataset(self.train, self.user_ids, self.item_ids, _index(self.user_ids), _index(self.item_ids))


def clean_test_pairs(train: sp.csr_matrix, test: sp.csr_matrix) -> tuple[sp.csr_matrix, int]:
    """``test`` without the pairs already in ``train`` and the items nobody trained on (no model could score
    them), and how many pairs that dropped."""
    train = sp.csr_matrix(train)
    coo = sp.coo_matrix(test)
    keep = (np.bincount(train.indices, minlength=train.shape[1]) > 0)[coo.col]
    if train.nnz and coo.nnz:
        # Pairs already in train, looked up in the test users' training rows only (at a retrain's scale a
        # few thousand of 200k rows): (row, item) as one sorted int64 key, then one binary search.
        rows = np.unique(coo.row)
        seen = train[rows]
        seen.sum_duplicates()  # canonical: sorted within each row
        width = np.int64(train.shape[1])
        keys = np.repeat(np.arange(len(rows), dtype=np.int64), np.diff(seen.indptr)) * width + seen.indices
        query = np.searchsorted(rows, coo.row).astype(np.int64) * width + coo.col
        if len(keys):
            keep &= keys[np.minimum(np.searchsorted(keys, query), len(keys) - 1)] != query
    cleaned = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape, dtype=np.float32)
    cleaned.sort_indices()
    return cleaned, coo.nnz - cleaned.nnz


def _n_test(counts: np.ndarray, test_fraction: float) -> np.ndarray:
    """How many of each user's interactions go to test.

    ``round(n * fraction)``, but at least 1 and at most ``n - 1`` for users with n >= 2
    (every evaluated user keeps history to learn from); users with n < 2 keep all in
    train.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be in (0, 1)")
    n = counts.astype(np.int64)
    k = np.clip(np.rint(n * test_fraction).astype(np.int64), 1, None)
    k = np.minimum(k, n - 1)
    return np.where(n >= 2, k, 0)


def _split_log(log: InteractionLog, is_test: np.ndarray) -> Split:
    users = np.unique(log.user_ids)
    items = np.unique(log.item_ids)
    u = np.searchsorted(users, log.user_ids)
    i = np.searchsorted(items, log.item_ids)
    shape = (len(users), len(items))
    train = pairs_to_csr(u[~is_test], i[~is_test], log.weights[~is_test], shape)
    test = pairs_to_csr(u[is_test], i[is_test], log.weights[is_test], shape)
    test, dropped = clean_test_pairs(train, test)
    return Split(train, test, users, items, dropped)


def time_split_mask(log: InteractionLog, *, test_fraction: float = 0.2) -> np.ndarray:
    """Boolean per event: True if ``split_by_time`` would put it in test.

    Exposed so callers can carve a *temporal validation* split out of the training
    events (``split_by_time(log.subset(~mask))``) for tuning on time-ordered data.
    """
    if np.isnan(log.timestamps).any():
        raise ValueError("a time split needs a timestamp on every event")
    _, u_codes, counts = np.unique(log.user_ids, return_inverse=True, return_counts=True)
    order = np.lexsort((np.arange(len(log)), log.timestamps, u_codes))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_users = u_codes[order]
    rank_from_end = (starts[sorted_users] + counts[sorted_users]) - np.arange(len(log)) - 1
    is_test = np.zeros(len(log), dtype=bool)
    is_test[order] = rank_from_end < _n_test(counts, test_fraction)[sorted_users]
    return is_test


def split_by_time(log: InteractionLog, *, test_fraction: float = 0.2) -> Split:
    """Per-user temporal split: each user's latest interactions go to test.

    This mimics production (we always predict the future from the past) and is
    harsher than a random split, because tastes drift. For every user with n >= 2
    events the latest ``round(n * test_fraction)`` (at least 1, at most n-1) events are
    test; ties on timestamp are broken by log order, so the split is deterministic.
    Fractions are over *events*; events are aggregated per pair afterwards.
    """
    return _split_log(log, time_split_mask(log, test_fraction=test_fraction))


def split_by_time_cut(log: InteractionLog, *, cut_ts: float) -> Split:
    """Global temporal split: events at or after ``cut_ts`` are test.

    Unlike ``split_by_time`` there is no leakage of "future" item popularity into
    training, which is the most faithful offline replay of a nightly retrain. Users who
    only appear after the cut have no training row to recommend from, so their test
    rows are simply empty.
    """
    if np.isnan(log.timestamps).any():
        raise ValueError("split_by_time_cut needs a timestamp on every event")
    return _split_log(log, log.timestamps >= cut_ts)


def split_random_per_user(matrix: sp.csr_matrix | Dataset, *, test_fraction: float = 0.2, seed: int = 42) -> Split:
    """Hold out a random ``test_fraction`` of each user's *pairs* (matrix entries).

    Used when there are no timestamps (e.g. aggregated check-in counts). Per user with
    n >= 2 pairs, ``round(n * test_fraction)`` pairs (at least 1, at most n-1) move to
    test with their values. Deterministic for a given seed and matrix.
    """
    if isinstance(matrix, Dataset):
        user_ids, item_ids, m = matrix.user_ids, matrix.item_ids, matrix.matrix
    else:
        m = matrix
        user_ids, item_ids = np.arange(m.shape[0]), np.arange(m.shape[1])
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sum_duplicates()
    m.sort_indices()
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    keys = np.random.default_rng(seed).random(m.nnz)
    order = np.lexsort((keys, rows))
    rank = np.empty(m.nnz, dtype=np.int64)
    rank[order] = np.arange(m.nnz) - m.indptr[rows[order]]
    is_test = rank < _n_test(counts, test_fraction)[rows]
    coo = m.tocoo()
    train = pairs_to_csr(coo.row[~is_test], coo.col[~is_test], coo.data[~is_test], m.shape)
    test = pairs_to_csr(coo.row[is_test], coo.col[is_test], coo.data[is_test], m.shape)
    test, dropped = clean_test_pairs(train, test)
    return Split(train, test, np.asarray(user_ids), np.asarray(item_ids), dropped)


def validation_split(train: sp.csr_matrix, *, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Carve a validation set out of *training* data (random per user).

    Tuning must never look at the real test set, otherwise the reported test score is
    optimistically biased. Random rather than temporal because the aggregated training
    matrix no longer carries timestamps; it is the same protocol for every data set.
    """
    return split_random_per_user(train, test_fraction=test_fraction, seed=seed)
