"""Recommendation models behind one small interface.

All models work in *row space*: users are matrix rows, items are matrix columns (see
``dataset.Dataset`` for the external-id maps). Results are always batched:

    ids, scores = model.recommend(user_rows, user_items, k=10)

``ids`` is ``(n_users, k')`` int32 with ``k' = min(k, number of candidate items)``;
``-1`` marks an empty slot (e.g. the user already has every candidate item), with score
``-inf``. ``user_items`` is the CSR block of those users' known interactions (one row per
requested user) -- it drives "don't recommend what they already have" and, for
item-KNN, the scoring itself.

Pick a model by name with ``make_model(algorithm, params)``; ``DEFAULT_PARAMS`` holds the
defaults measured in ``docs/recommender-ml.md``.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

# Imported eagerly (not inside fit) so their BLAS is already loaded when `_one_blas_thread` first looks up the
# thread pools -- threadpoolctl only limits libraries that are loaded at that time.
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.cpu.topk import topk
from implicit.nearest_neighbours import ItemItemRecommender, bm25_weight, normalize, tfidf_weight
from threadpoolctl import ThreadpoolController

from .dataset import ConfidenceScaler

__all__ = [
    "ALGORITHMS",
    "DEFAULT_PARAMS",
    "ALSModel",
    "BPRModel",
    "IALSModel",
    "BlendModel",
    "EASEModel",
    "EASETooLarge",
    "ItemKNNModel",
    "PopularityModel",
    "ProgressCallback",
    "RP3betaModel",
    "Recommender",
    "ease_fits",
    "ease_memory_bytes",
    "make_model",
    "model_from_arrays",
    "standardise_scores",
]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each training iteration (1-based ``done``)."""

# Chosen on validation splits of both benchmark data sets (docs/recommender-ml.md).
# They have to work on data nobody has looked at, so they favour settings that were
# good on *both* (log1p-compressed counts, strong ridge relative to alpha) over the
# best single-data-set score; bm25 weighting looked good on paper but lost on both.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "als": {
        "factors": 128,
        "regularization": 100.0,
        "alpha": 20.0,
        "scaling": "log1p",
        "K1": 100.0,
        "B": 0.8,
        "eps": 1.0,
        "iterations": 15,
        "random_state": 42,
    },
    "bpr": {
        "factors": 64,
        "learning_rate": 0.01,
        "regularization": 0.01,
        "iterations": 100,
        "random_state": 42,
    },
    "itemknn": {"K": 200, "similarity": "bm25", "K1": 1.2, "B": 0.75},
    # Paudel et al. 2016's random walk; alpha < 1 and a mild popularity penalty were best on the
    # Last.fm validation split (beta 0.5 lost 40 %), validation tunes both.
    "rp3beta": {"K": 200, "alpha": 0.8, "beta": 0.3, "scaling": "binary"},
    # Steck 2019's usual ridge on binary data; dropout and pop_beta off (plain EASE).
    "ease": {"l2": 100.0, "dropout": 0.0, "pop_beta": 0.0, "scaling": "binary"},
    # Rendle et al. 2021's regularisation; chosen on the Last.fm training part's validation split (a 6-point
    # grid around the paper's scale), validation tunes all of it.
    "ials": {"factors": 128, "regularization": 0.03, "unobserved": 0.01, "exponent": 1.0, "iterations": 12,
             "cg_steps": 4, "scaling": "binary", "random_state": 42},
    "popularity": {},
    "blend": {
        "first": {"algorithm": "ease", "params": {}},
        "second": {"algorithm": "als", "params": {}},
        "weight": 0.5,
    },
}

_NEG_INF = np.float32(-np.inf)
# implicit's topk marks filtered slots with -FLT_MAX; anything at or below this is "empty".
_EMPTY_SCORE = -1e37
# implicit's `topk` scores this many query rows per matrix product; more rows than that and it spreads the
# batches over its own threads (`implicit/cpu/topk.pyx`).
_TOPK_BATCH_ROWS = 100
_BLAS: list[ThreadpoolController] = []


def _one_blas_thread() -> Any:
    """Limit the BLAS to one thread for a block (cheap to enter: `threadpool_limits` inspects the loaded
    libraries on every call, 2-8 ms, a quarter of a served user's vector refresh; one controller made on first
    use, ~0.04 ms per block)."""
    return _blas_threads(1)


def _blas_threads(limit: int | None) -> Any:
    """Limit the BLAS to `limit` threads for a block (None: no limit), through the process's one controller."""
    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=limit, user_api="blas")


def _as_rows(user_rows: Sequence[int] | np.ndarray | int) -> np.ndarray:
    return np.atleast_1d(np.asarray(user_rows, dtype=np.int64))


def _check_items(items: Sequence[int] | np.ndarray | None, n_items: int) -> np.ndarray | None:
    if items is None:
        return None
    arr = np.unique(np.asarray(items, dtype=np.int64))
    if arr.size and (arr[0] < 0 or arr[-1] >= n_items):
        raise IndexError("items contains rows outside the model's item range")
    return arr


def _restrict_columns(user_items: sp.csr_matrix, items: np.ndarray) -> sp.csr_matrix:
    """Columns of ``user_items`` mapped into positions of the (sorted) ``items`` subset."""
    coo = user_items.tocoo()
    pos = np.searchsorted(items, coo.col)
    pos_c = np.clip(pos, 0, max(len(items) - 1, 0))
    keep = (items[pos_c] == coo.col) if len(items) else np.zeros(coo.nnz, bool)
    return sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (coo.row[keep], pos_c[keep])),
        shape=(user_items.shape[0], len(items)),
    )


class _RowsOfIndices:
    """The rows of a CSR matrix as ``rows[i].indices`` -- all implicit's ``topk`` reads of its
    ``filter_query_items`` -- without scipy's ~80 µs per row lookup (it runs once per user, holding the GIL
    that topk's threads share: 0.4 s of CPU for 5,000 users)."""

    class _Row:
        __slots__ = ("indices",)

        def __init__(self, indices: np.ndarray) -> None:
            self.indices = indices

    def __init__(self, matrix: sp.csr_matrix) -> None:
        self._rows = [self._Row(r) for r in np.split(matrix.indices, matrix.indptr[1:-1])]

    def __getitem__(self, row: int) -> _RowsOfIndices._Row:
        return self._rows[row]

    def __len__(self) -> int:
        return len(self._rows)


def _finish(ids: np.ndarray, scores: np.ndarray, items: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32).copy()
    empty = scores <= _EMPTY_SCORE
    if items is not None:
        ids = items[np.clip(ids, 0, max(len(items) - 1, 0))] if len(items) else ids
    ids[empty] = -1
    scores[empty] = _NEG_INF
    return ids.astype(np.int32), scores


def _check_user_items(user_items: sp.csr_matrix, n_rows: int, n_items: int) -> sp.csr_matrix:
    if not sp.issparse(user_items):
        raise TypeError("user_items must be a scipy sparse matrix (one row per requested user)")
    user_items = sp.csr_matrix(user_items, dtype=np.float32)
    if user_items.shape[0] != n_rows:
        raise ValueError(f"user_items has {user_items.shape[0]} rows for {n_rows} users")
    if user_items.shape[1] != n_items:
        raise ValueError(f"user_items has {user_items.shape[1]} columns, the model has {n_items} items")
    return user_items


def _dense_topk(
    scores: np.ndarray,
    user_items: sp.csr_matrix | None,
    *,
    k: int,
    items: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of a dense ``(n_users, n_items)`` score block with filtering."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    if user_items is not None and user_items.nnz:
        coo = user_items.tocoo()
        scores[coo.row, coo.col] = -np.finfo(np.float32).max
    if items is not None:
        scores = scores[:, items]
    k_eff = min(k, scores.shape[1])
    if k_eff == 0:
        return np.empty((scores.shape[0], 0), np.int32), np.empty((scores.shape[0], 0), np.float32)
    # argpartition finds the k-th best score per row; every column at least that good is
    # a candidate (more than k only on ties), and the final order is (score desc, item
    # row asc) so results are reproducible -- argpartition alone picks ties arbitrarily.
    n = scores.shape[0]
    kth = np.take_along_axis(scores, np.argpartition(-scores, k_eff - 1, axis=1)[:, k_eff - 1 : k_eff], axis=1)
    r, c = np.nonzero(scores >= kth)
    order = np.lexsort((c, -scores[r, c], r))
    r, c = r[order], c[order]
    first = np.searchsorted(r, np.arange(n))
    rank = np.arange(len(r)) - first[r]
    keep = rank < k_eff
    ids = np.empty((n, k_eff), dtype=np.int64)
    ids[r[keep], rank[keep]] = c[keep]
    top = np.take_along_axis(scores, ids, axis=1)
    return _finish(ids, top, items)


class Recommender(abc.ABC):
    """Uniform interface over the concrete algorithms.

    Subclasses keep every learned quantity in NumPy arrays so that ``to_arrays`` /
    ``from_arrays`` can round-trip through a pickle-free ``.npz`` artifact.
    """

    algorithm: ClassVar[str]
    # Whether the model scores a user from their interaction row alone (item-based: item-kNN,
    # RP3beta, EASE, popularity), so users unknown to the model (row -1) and fresh rows are
    # served without a refit. Factor models need the user's own trained row.
    scores_from_items: ClassVar[bool] = True

    def __init__(self, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> None:
        merged = dict(DEFAULT_PARAMS[self.algorithm])
        unknown = set(params or {}) - set(merged)
        if unknown:
            raise ValueError(f"unknown {self.algorithm} params: {sorted(unknown)}")
        merged.update(params or {})
        self.params: dict[str, Any] = merged
        # Runtime knob, not a hyperparameter: 0 = all cores (implicit's convention).
        self.num_threads = num_threads
        self.n_users = 0
        self.n_items = 0

    # -- training -------------------------------------------------------------------
    @abc.abstractmethod
    def fit(self, matrix: sp.csr_matrix, *, progress: ProgressCallback | None = None) -> Recommender:
        """Learn from a users x items confidence matrix. Returns ``self``."""

    # -- serving --------------------------------------------------------------------
    @abc.abstractmethod
    def recommend(
        self,
        user_rows: Sequence[int] | np.ndarray,
        user_items: sp.csr_matrix,
        *,
        k: int = 10,
        filter_already_liked: bool = True,
        items: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item rows and scores for each user row.

        ``items`` restricts candidates to a subset of item rows (e.g. merchants open now
        or in the user's city); filtering happens inside scoring so a user still gets
        ``k`` results when most of the catalogue is excluded.
        """

    @abc.abstractmethod
    def similar_items(self, item_rows: Sequence[int] | np.ndarray, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` most similar item rows per item, excluding the item itself."""

    @abc.abstractmethod
    def score(self, user_rows: Sequence[int] | np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense ``(n_users, n_items)`` float32 scores of every item for each user row (no filtering).

        What blends combine and batch scoring ranks; callers keep blocks small (a few hundred
        users) because the result is dense over the whole catalogue.
        """

    # -- persistence ----------------------------------------------------------------
    @abc.abstractmethod
    def _state(self) -> dict[str, np.ndarray]: ...

    @abc.abstractmethod
    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None: ...

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to rebuild the fitted model, as plain (non-object) arrays."""
        out = {f"state.{k}": v for k, v in self._state().items()}
        out["algorithm"] = np.array(self.algorithm)
        out["params"] = np.array(json.dumps(self.params, sort_keys=True))
        out["shape"] = np.array([self.n_users, self.n_items], dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], *, num_threads: int = 0) -> Recommender:
        """Inverse of ``to_arrays`` (works on the mapping returned by ``np.load``)."""
        model = cls(json.loads(str(arrays["params"])), num_threads=num_threads)
        model.n_users, model.n_items = (int(x) for x in arrays["shape"])
        model._load_state({k[len("state.") :]: arrays[k] for k in arrays if k.startswith("state.")})
        return model

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params}, users={self.n_users}, items={self.n_items})"


# --------------------------------------------------------------------- factor models


def binary_or_log1p(matrix: sp.spmatrix, scaling: str) -> sp.csr_matrix:
    """A float32 copy of ``matrix`` with every stored weight 1 (``binary``) or ``log1p`` of it (negative: 0)."""
    m = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    m.data = np.ones_like(m.data) if scaling == "binary" else np.log1p(np.maximum(m.data, 0))
    return m


class _FactorModel(Recommender):
    """Shared scoring for models with ``score(u, i) = user_factors[u] . item_factors[i]``."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    scores_from_items: ClassVar[bool] = False

    def _known_rows(self, user_rows: Sequence[int] | np.ndarray | int) -> np.ndarray:
        rows = _as_rows(user_rows)
        if rows.size and (rows.min() < 0 or rows.max() >= self.user_factors.shape[0]):
            raise IndexError(f"{self.algorithm} has no factors for user rows outside 0..{self.n_users - 1} "
                             "(users unknown to the model)")
        return rows

    def __init__(self, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> None:
        super().__init__(params, num_threads=num_threads)
        self.user_factors = np.zeros((0, 0), np.float32)
        self.item_factors = np.zeros((0, 0), np.float32)

    def _rank(
        self,
        user_vecs: np.ndarray,
        user_items: sp.csr_matrix,
        *,
        k: int,
        filter_already_liked: bool,
        items: Sequence[int] | np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        cand = _check_items(items, self.n_items)
        item_vecs = self.item_factors if cand is None else self.item_factors[cand]
        k_eff = min(k, item_vecs.shape[0])
        n = user_vecs.shape[0]
        if k_eff == 0 or n == 0:
            return np.empty((n, 0), np.int32), np.empty((n, 0), np.float32)
        filt = None
        if filter_already_liked:
            filt = _RowsOfIndices(user_items if cand is None else _restrict_columns(user_items, cand))
        # Over several batches implicit runs one matrix product per thread; a multi-threaded BLAS under each
        # of them oversubscribes the cores (5,000 users x 50,000 items x 128 factors: 3.4 s of CPU with the
        # BLAS's own threads, 2.1 s without). One batch is one product: the BLAS may use every core for it.
        with _one_blas_thread() if n > _TOPK_BATCH_ROWS else contextlib.nullcontext():
            ids, scores = topk(
                np.ascontiguousarray(item_vecs, dtype=np.float32),
                np.ascontiguousarray(user_vecs, dtype=np.float32),
                k_eff,
                filter_query_items=filt,
                num_threads=self.num_threads,
            )
        return _finish(ids, scores, cand)

    def recommend(
        self,
        user_rows: Sequence[int] | np.ndarray,
        user_items: sp.csr_matrix,
        *,
        k: int = 10,
        filter_already_liked: bool = True,
        items: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = self._known_rows(user_rows)
        user_items = _check_user_items(user_items, len(rows), self.n_items)
        return self._rank(
            self.user_factors[rows], user_items, k=k, filter_already_liked=filter_already_liked, items=items
        )

    def score(self, user_rows: Sequence[int] | np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        rows = self._known_rows(user_rows)
        return np.asarray(self.user_factors[rows] @ self.item_factors.T, dtype=np.float32)

    def similar_items(self, item_rows: Sequence[int] | np.ndarray, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        rows = _as_rows(item_rows)
        norms = np.linalg.norm(self.item_factors, axis=1)
        norms[norms == 0] = 1e-10
        k_eff = min(k + 1, self.n_items)
        ids, scores = topk(
            np.ascontiguousarray(self.item_factors, np.float32),
            np.ascontiguousarray(self.item_factors[rows], np.float32),
            k_eff,
            item_norms=norms.astype(np.float32),
            num_threads=self.num_threads,
        )
        scores = scores / norms[rows][:, None]
        return _drop_self(rows, ids, scores, k)

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.user_factors = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        self.item_factors = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)


def _score_recommend(
    model: Recommender,
    rows: np.ndarray,
    user_items: sp.csr_matrix,
    *,
    k: int,
    filter_already_liked: bool,
    items: Sequence[int] | np.ndarray | None,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``recommend`` for models that score densely: ``score`` per batch, then filtered top-k."""
    cand = _check_items(items, model.n_items)
    all_ids, all_scores = [], []
    for start in range(0, len(rows), batch_size):
        block = user_items[start : start + batch_size]
        scores = model.score(rows[start : start + batch_size], block)
        ids, sc = _dense_topk(scores, block if filter_already_liked else None, k=k, items=cand)
        all_ids.append(ids)
        all_scores.append(sc)
    if not all_ids:
        width = min(k, model.n_items if cand is None else len(cand))
        return np.empty((0, width), np.int32), np.empty((0, width), np.float32)
    return np.vstack(all_ids), np.vstack(all_scores)


class _ScoredModel(Recommender):
    """``recommend`` for models that score every item densely: ``score`` per batch, then filtered top-k.
    Scored from ``user_items`` alone for item-based models, so fresh interactions need no refit."""

    def recommend(
        self,
        user_rows: Sequence[int] | np.ndarray,
        user_items: sp.csr_matrix,
        *,
        k: int = 10,
        filter_already_liked: bool = True,
        items: Sequence[int] | np.ndarray | None = None,
        batch_size: int = 256,
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = _as_rows(user_rows)
        user_items = _check_user_items(user_items, len(rows), self.n_items)
        return _score_recommend(
            self, rows, user_items, k=k, filter_already_liked=filter_already_liked, items=items, batch_size=batch_size
        )


class _SimilarityModel(Recommender):
    """Models whose state is one sparse non-negative item x item ``similarity`` (item-kNN, RP3beta)."""

    similarity: sp.csr_matrix

    def similar_items(self, item_rows: Sequence[int] | np.ndarray, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        rows = _as_rows(item_rows)
        block = self.similarity[rows].toarray()
        block[np.arange(len(rows)), rows] = 0
        block[block <= 0] = -np.finfo(np.float32).max
        return _dense_topk(block, None, k=min(k, max(self.n_items - 1, 0)), items=None)

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"data": s.data, "indices": s.indices, "indptr": s.indptr}

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.similarity = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=(self.n_items, self.n_items)
        )


def _drop_self(rows: np.ndarray, ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    keep = ids != rows[:, None]
    out_ids = np.full((len(rows), min(k, max(ids.shape[1] - 1, 0)) if ids.size else 0), -1, np.int64)
    out_scores = np.full(out_ids.shape, _NEG_INF, np.float32)
    width = out_ids.shape[1]
    for r in range(len(rows)):
        sel_ids, sel_scores = ids[r][keep[r]][:width], scores[r][keep[r]][:width]
        out_ids[r, : len(sel_ids)] = sel_ids
        out_scores[r, : len(sel_ids)] = sel_scores
    return _finish(out_ids, np.where(out_ids < 0, _NEG_INF, out_scores), None)


def _callback(progress: ProgressCallback | None, total: int) -> Callable[..., None] | None:
    if progress is None:
        return None

    def cb(iteration: int, *_: Any) -> None:
        progress(iteration + 1, total)

    return cb


class ALSModel(_FactorModel):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) via ``implicit.cpu.als``.

    The best general-purpose choice for implicit data: fast, deterministic given
    ``random_state``, and it can fold in a user's fresh interactions without retraining
    (``recalculate_user``). Confidence scaling (``scaling``, ``alpha``, ``eps``, ``K1``,
    ``B``) is applied here, not by the caller, so it is a tunable part of the model and
    is replayed identically for fresh user rows.

    Params: factors, regularization, alpha, scaling (linear|log1p|bm25|tfidf), K1, B, eps,
    iterations, random_state.
    """

    algorithm = "als"

    def __init__(self, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> None:
        super().__init__(params, num_threads=num_threads)
        self.scaler = self._make_scaler()
        self._impl: Any = None

    def _make_scaler(self) -> ConfidenceScaler:
        p = self.params
        return ConfidenceScaler(method=p["scaling"], alpha=p["alpha"], eps=p["eps"], K1=p["K1"], B=p["B"])

    def _implicit(self) -> Any:
        p = self.params
        # alpha is already folded in by the scaler, so implicit must not apply it again.
        return AlternatingLeastSquares(
            factors=int(p["factors"]),
            regularization=float(p["regularization"]),
            alpha=1.0,
            iterations=int(p["iterations"]),
            random_state=p["random_state"],
            num_threads=self.num_threads,
        )

    def fit(self, matrix: sp.csr_matrix, *, progress: ProgressCallback | None = None) -> ALSModel:
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self.n_users, self.n_items = matrix.shape
        # implicit is multi-threaded itself; a multi-threaded BLAS underneath it
        # oversubscribes the cores and is documented to be up to 10x slower.
        with _one_blas_thread():
            self.scaler = self._make_scaler()
            weighted = self.scaler.fit_transform(matrix)
            impl = self._implicit()
            callback = _callback(progress, int(self.params["iterations"]))

            def on_iteration(iteration: int, *rest: Any) -> None:
                # implicit updates its factor arrays in place: exposing them lets a tuner
                # score the partial fit from `progress` (and stop a hopeless trial early).
                self.user_factors, self.item_factors = impl.user_factors, impl.item_factors
                if callback is not None:
                    callback(iteration, *rest)

            impl.fit(weighted, show_progress=False, callback=on_iteration)
        self._impl = impl
        self.user_factors = np.ascontiguousarray(impl.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(impl.item_factors, dtype=np.float32)
        return self

    def recalculate_user(self, user_items: sp.csr_matrix) -> np.ndarray:
        """Factors for users described only by their (fresh) interaction rows.

        One exact least-squares solve against the fixed item factors -- what a full
        retrain would give that user if the items didn't move. Lets serving react to a
        purchase within the same request, and gives new users a personal vector.
        Returns ``(n_rows, factors)``.
        """
        user_items = _check_user_items(user_items, user_items.shape[0], self.n_items)
        if self._impl is None:
            self._impl = self._implicit()
            self._impl.item_factors = self.item_factors
            self._impl.user_factors = self.user_factors
        with _one_blas_thread():
            weighted = self.scaler.transform(user_items)
            vecs = self._impl.recalculate_user(np.arange(user_items.shape[0]), weighted)
        return np.asarray(vecs, dtype=np.float32).reshape(user_items.shape[0], -1)

    def fold_in(self, rows: sp.csr_matrix, start: np.ndarray, *, num_threads: int = 0, cg_steps: int = 3) -> np.ndarray:
        """User factors for `rows` against the fitted item factors: the user half of one more ALS iteration.

        implicit's native conjugate-gradient solver, warm-started from the factors the users got during the fit
        (exactly what `fit` does each iteration); `recalculate_user`'s exact Cholesky solve per user costs
        O(factors^3) each, several seconds for thousands of users at 128 factors.
        """
        # The one place superapp reaches into implicit's private `implicit.cpu._als`: its public API has no
        # warm-started batch solve (only `recalculate_user`, exact and per user). pyproject pins implicit
        # to 0.7.x (>=0.7.3,<0.8) for this; tests/recommender/test_training.py checks the result.
        from implicit.cpu import _als

        factors = np.ascontiguousarray(start, dtype=np.float32).copy()
        weighted = self.scaler.transform(rows)  # the same confidence scaling as the fit
        with _one_blas_thread():
            _als.least_squares_cg(weighted, factors, self.item_factors, float(self.params["regularization"]),
                                  num_threads=num_threads, cg_steps=cg_steps)
        return factors

    def recommend(
        self,
        user_rows: Sequence[int] | np.ndarray,
        user_items: sp.csr_matrix,
        *,
        k: int = 10,
        filter_already_liked: bool = True,
        items: Sequence[int] | np.ndarray | None = None,
        recalculate_user: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """See ``Recommender.recommend``; ``recalculate_user=True`` scores from
        ``user_items`` via ``recalculate_user`` instead of the stored user factors
        (``user_rows`` may then be anything of the right length, e.g. ``-1`` for users
        unknown to the model)."""
        rows = _as_rows(user_rows) if recalculate_user else self._known_rows(user_rows)
        user_items = _check_user_items(user_items, len(rows), self.n_items)
        vecs = self.recalculate_user(user_items) if recalculate_user else self.user_factors[rows]
        return self._rank(vecs, user_items, k=k, filter_already_liked=filter_already_liked, items=items)

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), **{f"scaler.{k}": v for k, v in self.scaler.to_arrays().items()}}

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._load_state(arrays)
        self.scaler = self._make_scaler()
        self.scaler.load_arrays({k[len("scaler.") :]: v for k, v in arrays.items() if k.startswith("scaler.")})
        self._impl = None


class BPRModel(_FactorModel):
    """Bayesian Personalised Ranking (Rendle et al. 2009) via ``implicit.cpu.bpr``.

    Optimises pairwise ranking directly; treats every non-zero as a binary positive, so
    confidence values are ignored. Included mainly as a comparison point -- it needs many
    more epochs than ALS and is not deterministic with more than one thread.

    Params: factors, learning_rate, regularization, iterations, random_state.
    """

    algorithm = "bpr"

    def fit(self, matrix: sp.csr_matrix, *, progress: ProgressCallback | None = None) -> BPRModel:
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self.n_users, self.n_items = matrix.shape
        p = self.params
        with _one_blas_thread():
            impl = BayesianPersonalizedRanking(
                factors=int(p["factors"]),
                learning_rate=float(p["learning_rate"]),
                regularization=float(p["regularization"]),
                iterations=int(p["iterations"]),
                random_state=p["random_state"],
                num_threads=self.num_threads,
            )
            impl.fit(matrix, show_progress=False, callback=_callback(progress, int(p["iterations"])))
        # implicit appends a bias column (user side = 1, item side = item bias).
        self.user_factors = np.ascontiguousarray(impl.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(impl.item_factors, dtype=np.float32)
        return self


class IALSModel(_FactorModel):
    """iALS with frequency-scaled regularisation (Rendle, Krichene, Zhang & Koren 2021, "Revisiting the
    performance of iALS on item recommendation benchmarks").

    Minimises ``sum over observed (u, i) of w_ui (1 - x_u.y_i)^2 + unobserved * sum over all (u, i) of
    (x_u.y_i)^2 + sum_u lambda_u |x_u|^2 + sum_i lambda_i |y_i|^2`` with ``lambda_u = regularization *
    (n_u + unobserved * n_items) ** exponent`` (``n_u``: the user's items; items alike): the ridge grows with
    how much of the loss a row carries, which implicit's ALS (one ridge for every row) cannot express. The
    all-pairs term is the Gramian ``unobserved * Y^T Y``, so a fit never touches the unobserved pairs.

    Each half-step solves every row's ``d x d`` system at once by ``cg_steps`` conjugate-gradient steps
    started from the previous factors (NumPy/SciPy: a pass over the stored pairs and one GEMM per step).
    Params: factors, regularization, unobserved, exponent, iterations, cg_steps, scaling (``binary`` or
    ``log1p`` of the weight: ``w_ui``), random_state."""

    algorithm = "ials"

    def __init__(self, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> None:
        super().__init__(params, num_threads=num_threads)
        if self.params["scaling"] not in ("binary", "log1p"):
            raise ValueError("ials scaling must be binary or log1p")

    def fit(self, matrix: sp.csr_matrix, *, progress: ProgressCallback | None = None) -> IALSModel:
        p = self.params
        x = binary_or_log1p(matrix, p["scaling"])
        x.eliminate_zeros()
        xt = x.T.tocsr()
        self.n_users, self.n_items = x.shape
        d, unobserved, iterations = int(p["factors"]), float(p["unobserved"]), int(p["iterations"])
        rng = np.random.default_rng(p["random_state"])
        users = (rng.standard_normal((self.n_users, d)) * (0.1 / np.sqrt(d))).astype(np.float32)
        items = (rng.standard_normal((self.n_items, d)) * (0.1 / np.sqrt(d))).astype(np.float32)

        def ridge(counts: np.ndarray, others: int) -> np.ndarray:
            return (float(p["regularization"]) * (counts + unobserved * others) ** float(p["exponent"])).astype(
                np.float32)

        user_ridge, item_ridge = ridge(np.diff(x.indptr), self.n_items), ridge(np.diff(xt.indptr), self.n_users)
        with _one_blas_thread():
            for iteration in range(iterations):
                users = _ials_half_step(users, x, items, unobserved, user_ridge, int(p["cg_steps"]))
                items = _ials_half_step(items, xt, users, unobserved, item_ridge, int(p["cg_steps"]))
                if progress:
                    progress(iteration + 1, iterations)
        self.user_factors, self.item_factors = users, items
        return self


# Stored pairs per block of iALS's pass over the pairs: two (pairs x factors) float32 gathers of this many
# pairs are alive at once (128 factors: 2 x 64 MB), whatever the data's size.
IALS_BLOCK_BYTES = 64 << 20


def _pair_dots(v: np.ndarray, others: np.ndarray, weights: sp.csr_matrix, row_of_pair: np.ndarray) -> np.ndarray:
    """``v[row] . others[col]`` for every stored pair (row, col) of ``weights``, in blocks of pairs, so that no
    (stored pairs x factors) array is ever formed (10M pairs at 128 factors: 5 GB each)."""
    out = np.empty(weights.nnz, dtype=np.result_type(v, others))
    block = max(IALS_BLOCK_BYTES // (4 * max(v.shape[1], 1)), 1)
    for start in range(0, weights.nnz, block):
        stop = min(start + block, weights.nnz)
        out[start:stop] = np.einsum("ij,ij->i", v[row_of_pair[start:stop]], others[weights.indices[start:stop]])
    return out


def _ials_half_step(rows: np.ndarray, weights: sp.csr_matrix, others: np.ndarray, unobserved: float,
                    ridge: np.ndarray, steps: int) -> np.ndarray:
    """Conjugate-gradient steps, all rows at once, on ``(others^T W_r others + unobserved * others^T others +
    ridge_r I) x_r = others^T w_r`` (``w_r``: row r of ``weights``), from ``rows``."""
    row_of_pair = np.repeat(np.arange(weights.shape[0], dtype=np.int32 if weights.shape[0] < 2**31 else np.int64),
                            np.diff(weights.indptr))
    gram = unobserved * (others.T @ others)

    def apply(v: np.ndarray) -> np.ndarray:
        along = _pair_dots(v, others, weights, row_of_pair)
        along *= weights.data
        return v @ gram + ridge[:, None] * v + sp.csr_matrix((along, weights.indices, weights.indptr),
                                                             shape=weights.shape) @ others

    residual = weights @ others - apply(rows)
    direction = residual.copy()
    norm = np.einsum("ij,ij->i", residual, residual)
    for _ in range(steps):
        moved = apply(direction)
        step = norm / np.maximum(np.einsum("ij,ij->i", direction, moved), 1e-30)
        rows = rows + step[:, None] * direction
        residual -= step[:, None] * moved
        new_norm = np.einsum("ij,ij->i", residual, residual)
        direction = residual + (new_norm / np.maximum(norm, 1e-30))[:, None] * direction
        norm = new_norm
    return rows.astype(np.float32, copy=False)


# -------------------------------------------------------------- memory-based models


class ItemKNNModel(_SimilarityModel, _ScoredModel):
    """Item-item nearest neighbours (implicit's ``all_pairs_knn``).

    ``score(u, i) = sum_j w(u, j) * sim(j, i)`` over the user's items ``j``, keeping the
    ``K`` nearest neighbours per item. Needs no user factors, so brand-new users and
    fresh interactions are served directly from ``user_items``; ``similar_items`` is
    exact co-occurrence similarity, which merchants find easy to reason about.

    Params: K, similarity (cosine|bm25|tfidf), K1, B (bm25 only).
    """

    algorithm = "itemknn"

    def __init__(self, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> None:
        super().__init__(params, num_threads=num_threads)
        if self.params["similarity"] not in ("cosine", "bm25", "tfidf"):
            raise ValueError("itemknn similarity must be one of cosine, bm25, tfidf")
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, matrix: sp.csr_matrix, *, progress: ProgressCallback | None = None) -> ItemKNNModel:
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self.n_users, self.n_items = matrix.shape
        p = self.params
        kind = p["similarity"]
        # Same weighting as implicit's Cosine/TFIDF/BM25Recommender, done here so the
        # matrix reaches all_pairs_knn as CSR (implicit would convert and warn).
        by_item = matrix.T.tocsr()
        if kind == "bm25":
            weighted = bm25_weight(by_item, K1=float(p["K1"]), B=float(p["B"]))
        elif kind == "tfidf":
            weighted = normalize(tfidf_weight(by_item))
        else:
            weighted = normalize(by_item)
        impl = ItemItemRecommender(K=int(p["K"]), num_threads=self.num_threads)
        with _one_blas_thread():
            impl.fit(sp.csr_matrix(weighted.T, dtype=np.float64), show_progress=False)
        self.similarity = sp.csr_matrix(impl.similarity, dtype=np.float32)
        self.similarity.sort_indices()
        if progress is not None:
            progress(1, 1)
        return self

    def score(self, user_rows: Sequence[int] | np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        # Similarities are non-negative, so items without evidence score 0: still valid candidates
        # (the items= subset may hold nothing better), ranked last.
        user_items = _check_user_items(user_items, len(_as_rows(user_rows)), self.n_items)
        return np.asarray((user_items @ self.similarity).toarray(), dtype=np.float32)



class PopularityModel(Recommender):
    """Most popular items first (by number of distinct users), same list for everyone.

    The baseline every other model must beat, and the fallback for users with no
    history at all.
    """

    algorithm = "popularity"

    def __init__(self, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> None:
        super().__init__(params, num_threads=num_threads)
        self.popularity = np.zeros(0, np.float32)

    def fit(self, matrix: sp.csr_matrix, *, progress: ProgressCallback | None = None) -> PopularityModel:
        matrix = sp.csr_matrix(matrix)
        self.n_users, self.n_items = matrix.shape
        # Distinct users, not summed weights: one heavy user must not make an item "popular".
        self.popularity = np.bincount(matrix.indices, minlength=self.n_items).astype(np.float32)
        if progress is not None:
            progress(1, 1)
        return self

    def recommend(
        self,
        user_rows: Sequence[int] | np.ndarray,
        user_items: sp.csr_matrix,
        *,
        k: int = 10,
        filter_already_liked: bool = True,
        items: Sequence[int] | np.ndarray | None = None,
        batch_size: int = 512,
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = _as_rows(user_rows)
        user_items = _check_user_items(user_items, len(rows), self.n_items)
        cand = _check_items(items, self.n_items)
        pool = np.arange(self.n_items) if cand is None else cand
        # Everyone gets the same ranking, so only the head of it can ever be shown: the
        # top (k + most items any user in the request owns) candidates are enough. This
        # keeps the fallback path O(users x k) instead of O(users x catalogue).
        longest = int(np.diff(user_items.indptr).max()) if filter_already_liked and len(rows) else 0
        head = min(len(pool), k + longest)
        top = np.sort(pool[np.lexsort((pool, -self.popularity[pool]))[:head]])
        out_ids, out_scores = [], []
        for start in range(0, len(rows), batch_size):
            block = user_items[start : start + batch_size]
            scores = np.broadcast_to(self.popularity[top], (block.shape[0], len(top))).copy()
            if filter_already_liked:
                scores[block[:, top].toarray() > 0] = -np.finfo(np.float32).max
            ids, sc = _dense_topk(scores, None, k=k, items=None)
            ids = np.where(ids >= 0, top[np.maximum(ids, 0)], -1).astype(np.int32)
            out_ids.append(ids)
            out_scores.append(sc)
        if not out_ids:
            width = min(k, len(pool))
            return np.empty((0, width), np.int32), np.empty((0, width), np.float32)
        return np.vstack(out_ids), np.vstack(out_scores)

    def score(self, user_rows: Sequence[int] | np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(_as_rows(user_rows)), self.n_items)).copy()

    def similar_items(self, item_rows: Sequence[int] | np.ndarray, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        # No notion of similarity: "people also liked" falls back to the bestsellers.
        rows = _as_rows(item_rows)
        scores = np.broadcast_to(self.popularity, (len(rows), self.n_items)).copy()
        scores[np.arange(len(rows)), rows] = -np.finfo(np.float32).max
        return _dense_topk(scores, None, k=min(k, max(self.n_items - 1, 0)), items=None)

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.popularity = np.asarray(arrays["popularity"], dtype=np.float32)


class RP3betaModel(_SimilarityModel, _ScoredModel):
    """RP3beta (Paudel et al., ACM TiiS 2016): three-step random walk user -> item -> user -> item,
    each transition probability raised to ``alpha``, the arrival item divided by its popularity
    ** ``beta``; the ``K`` largest weights per item are kept (a sparse item-item matrix).

    ``W[i, j] = sum_u P(u | i)^alpha P(j | u)^alpha / pop_j^beta`` with ``P(j | u) = x_uj / |x_u|``
    and ``P(u | i) = 1 / pop_i`` (binary), the diagonal left out; ``score(u) = x_u W``. Cheap (one
    sparse product, in blocks of items), item-based like item-kNN and EASE: fresh interactions and
    users unknown to the model are scored from their rows alone.

    Params: ``K`` (neighbours kept per item), ``alpha`` (> 0; 1 = plain P3), ``beta`` (popularity
    penalty, 0 = none), ``scaling`` (``binary`` or ``log1p`` of the confidence for ``P(j | u)``).
    """

    algorithm = "rp3beta"
    _BLOCK = 1024

    def __init__(self, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> None:
        super().__init__(params, num_threads=num_threads)
        if self.params["scaling"] not in ("binary", "log1p"):
            raise ValueError("rp3beta scaling must be binary or log1p")
        if float(self.params["alpha"]) <= 0 or int(self.params["K"]) < 1:
            raise ValueError("rp3beta needs alpha > 0 and K >= 1")
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def _scale(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        m = binary_or_log1p(matrix, self.params["scaling"])
        m.eliminate_zeros()
        return m

    def fit(self, matrix: sp.csr_matrix, *, progress: ProgressCallback | None = None) -> RP3betaModel:
        x = self._scale(matrix)
        self.n_users, self.n_items = x.shape
        alpha, beta, k = float(self.params["alpha"]), float(self.params["beta"]), int(self.params["K"])
        # Transition probabilities: user -> item (row-normalised confidences), item -> user (uniform).
        p_ui = sp.csr_matrix(sp.diags(1.0 / np.maximum(np.asarray(x.sum(axis=1)).ravel(), 1e-12)) @ x)
        binary = x.T.tocsr()
        binary.data[:] = 1.0
        popularity = np.diff(binary.indptr).astype(np.float64)
        p_iu = sp.csr_matrix(sp.diags(1.0 / np.maximum(popularity, 1.0)) @ binary)
        if alpha != 1.0:
            p_ui.data **= alpha
            p_iu.data **= alpha
        arrival = np.where(popularity > 0, np.maximum(popularity, 1.0) ** -beta, 0.0).astype(np.float32)
        k_eff = min(k, max(self.n_items - 1, 1))
        rows, cols, vals = [], [], []
        blocks = max(-(-self.n_items // self._BLOCK), 1)
        for start in range(0, self.n_items, self._BLOCK):
            stop = min(start + self._BLOCK, self.n_items)
            block = (p_iu[start:stop] @ p_ui).toarray().astype(np.float32, copy=False)
            block *= arrival[None, :]
            block[np.arange(stop - start), np.arange(start, stop)] = 0.0
            if k_eff < self.n_items:
                top = np.argpartition(-block, k_eff - 1, axis=1)[:, :k_eff]
            else:
                top = np.broadcast_to(np.arange(self.n_items), block.shape)
            weights = np.take_along_axis(block, top, axis=1)
            keep = weights > 0
            rows.append(np.nonzero(keep)[0] + start)
            cols.append(top[keep])
            vals.append(weights[keep])
            if progress is not None and stop < self.n_items:  # a block is an iteration (a tuner may stop it)
                progress(stop // self._BLOCK, blocks)
        self.similarity = sp.csr_matrix(
            (np.concatenate(vals) if vals else np.zeros(0, np.float32),
             (np.concatenate(rows) if rows else np.zeros(0, np.int64),
              np.concatenate(cols) if cols else np.zeros(0, np.int64))),
            shape=(self.n_items, self.n_items), dtype=np.float32,
        )
        self.similarity.sort_indices()
        if progress is not None:
            progress(blocks, blocks)
        return self

    def score(self, user_rows: Sequence[int] | np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        user_items = _check_user_items(user_items, len(_as_rows(user_rows)), self.n_items)
        return np.asarray((self._scale(user_items) @ self.similarity).toarray(), dtype=np.float32)



# ------------------------------------------------------------------ dense item-item

EASE_MAX_BYTES_ENV = "SUPERAPP_EASE_MAX_BYTES"
DEFAULT_EASE_MAX_BYTES = 4 << 30
"""Working-memory limit of one EASE fit (4 GiB unless ``$SUPERAPP_EASE_MAX_BYTES`` says otherwise):
about 23,000 items in the dense form when users outnumber items (docs/recommender-ml.md)."""


class EASETooLarge(ValueError):
    """The catalogue is too large for a dense item-item model within the memory limit."""


def ease_max_bytes() -> int:
    """The configured working-memory limit of an EASE fit, in bytes."""
    raw = os.environ.get(EASE_MAX_BYTES_ENV, "")
    return int(float(raw)) if raw.strip() else DEFAULT_EASE_MAX_BYTES


def ease_memory_bytes(n_users: int, n_items: int) -> tuple[str, int]:
    """``(form, bytes)``: the cheaper exact EASE form for this shape and its peak working memory.

    * ``dense``: the item-item Gram matrix is inverted in place (float32 Cholesky) and
      becomes the weight matrix -- about ``2 x items^2 x 4`` bytes with the temporaries.
    * ``dual``: with fewer users than items the same solution comes from the users x users
      system (Woodbury identity) and is kept low-rank -- about ``users^2 x 4 + 3 x users x items x 4``.
    """
    dense = 2 * n_items * n_items * 4
    dual = n_users * n_users * 4 + 3 * n_users * n_items * 4
    return ("dual", dual) if n_users < n_items and dual < dense else ("dense", dense)


def ease_fits(n_users: int, n_items: int, *, max_bytes: int | None = None) -> bool:
    """Whether EASE can be fitted on this shape within the memory limit."""
    return ease_memory_bytes(n_users, n_items)[1] <= (ease_max_bytes() if max_bytes is None else max_bytes)


class EASEModel(_ScoredModel):
    """EASE (Steck 2019): a dense item-item weight matrix ``B`` with zero diagonal, closed form.

    ``B = I - P diag(1 / diag(P))`` with ``P = (X^T X + Lambda)^-1`` and ``score(u) = x_u B``.
    Strong on catalogues where it fits: it is exact (no iterations, no seed) and learns
    negative item-item weights that neighbourhood models cannot.

    Params (all chosen on validation by the tuner, never by data set):

    * ``l2``: the ridge ``lambda``.
    * ``dropout``: ``p`` of Steck's EDLAE (NeurIPS 2020): ``Lambda = l2 + p/(1-p) diag(X^T X)``,
      i.e. more shrinkage for popular items, as denoising with dropout ``p`` would give.
    * ``pop_beta``: column ``j`` of ``B`` is divided by ``popularity_j ** pop_beta`` (number of
      users); 0 = plain EASE. Ranks long-tail items the user's history supports higher.
    * ``scaling``: ``binary`` (any interaction = 1) or ``log1p`` (``log1p(confidence)``).

    Two exact forms, chosen by shape (``ease_memory_bytes``): ``dense`` keeps ``B`` (items x
    items, float32); ``dual`` (fewer users than items) keeps ``B = diag(c) + U^T F`` with ``U``
    the scaled training matrix (sparse) and ``F`` a dense users x items float32 block, which
    scores exactly like ``B`` without ever forming it. A shape beyond ``ease_max_bytes()``
    raises ``EASETooLarge`` before allocating anything.
    """

    algorithm = "ease"

    def __init__(self, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> None:
        super().__init__(params, num_threads=num_threads)
        if self.params["scaling"] not in ("binary", "log1p"):
            raise ValueError("ease scaling must be binary or log1p")
        if not 0.0 <= float(self.params["dropout"]) < 1.0:
            raise ValueError("ease dropout must be in [0, 1)")
        if float(self.params["l2"]) <= 0:
            raise ValueError("ease l2 must be positive")

        self.form = "dense"
        self.weights = np.zeros((0, 0), np.float32)  # dense: B
        self.diag = np.zeros(0, np.float32)  # dual: c
        self.factors = np.zeros((0, 0), np.float32)  # dual: F
        self.basis = sp.csr_matrix((0, 0), dtype=np.float32)  # dual: U

    def _scale(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        m = binary_or_log1p(matrix, self.params["scaling"])
        return m

    def fit(
        self, matrix: sp.csr_matrix, *, progress: ProgressCallback | None = None, max_bytes: int | None = None
    ) -> EASEModel:
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self.n_users, self.n_items = matrix.shape
        form, need = ease_memory_bytes(self.n_users, self.n_items)
        limit = ease_max_bytes() if max_bytes is None else max_bytes
        if need > limit:
            raise EASETooLarge(
                f"EASE on {self.n_users} users x {self.n_items} items needs ~{need / 2**30:.1f} GiB "
                f"({form} form), over the {limit / 2**30:.1f} GiB limit (${EASE_MAX_BYTES_ENV})"
            )
        x = self._scale(matrix)
        gram_diag = np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel()
        p = float(self.params["dropout"])
        lam = float(self.params["l2"]) + (p / (1.0 - p)) * gram_diag
        popularity = np.maximum(np.bincount(x.indices, minlength=self.n_items), 1).astype(np.float64)
        col_scale = popularity ** -float(self.params["pop_beta"])
        with _blas_threads(self.num_threads or None):
            if form == "dense":
                self._fit_dense(x, lam, col_scale)
            else:
                self._fit_dual(x, lam, col_scale)
        self.form = form
        if progress is not None:
            progress(1, 1)
        return self

    def _fit_dense(self, x: sp.csr_matrix, lam: np.ndarray, col_scale: np.ndarray) -> None:
        gram = (x.T @ x).toarray().astype(np.float32, copy=False)
        gram[np.diag_indices_from(gram)] += lam.astype(np.float32)
        # Cholesky inverse in place (LAPACK potrf + potri): half the flops of a general inverse
        # and no second n x n buffer. potri fills one triangle; mirror it.
        potrf, potri = sla.get_lapack_funcs(("potrf", "potri"), (gram,))
        chol, info = potrf(gram, lower=False, overwrite_a=True, clean=False)
        if info != 0:
            raise np.linalg.LinAlgError(f"EASE Gram matrix is not positive definite (potrf info {info})")
        inv, info = potri(chol, lower=False, overwrite_c=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"EASE inverse failed (potri info {info})")
        inv = _mirror_upper(inv)
        diag = np.diag(inv).astype(np.float64).copy()
        inv /= -diag.astype(np.float32)[None, :]
        inv[np.diag_indices_from(inv)] = 0.0
        inv *= col_scale.astype(np.float32)[None, :]
        self.weights = np.ascontiguousarray(inv, dtype=np.float32)
        self.diag, self.factors = np.zeros(0, np.float32), np.zeros((0, 0), np.float32)
        self.basis = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit_dual(self, x: sp.csr_matrix, lam: np.ndarray, col_scale: np.ndarray) -> None:
        # Woodbury: P = L^-1 - U^T M^-1 U with U = X L^-1 and M = I + X L^-1 X^T (users x users).
        basis = sp.csr_matrix(x @ sp.diags((1.0 / lam).astype(np.float32)), dtype=np.float32)
        # M's eigenvalues are all >= 1, so float32 is accurate enough and halves time and memory.
        system = (basis @ x.T).toarray().astype(np.float32)
        system[np.diag_indices_from(system)] += 1.0
        solved = sla.cho_solve(sla.cho_factor(system, overwrite_a=True), basis.toarray(), overwrite_b=True)
        diag_p = 1.0 / lam - np.asarray(basis.multiply(solved).sum(axis=0), dtype=np.float64).ravel()
        diag_p = np.maximum(diag_p, np.finfo(np.float64).tiny)
        # x B = x o (1 - 1/(lam d)) + (x U^T) (M^-1 U / d), both with the column scaling.
        self.diag = ((1.0 - 1.0 / (lam * diag_p)) * col_scale).astype(np.float32)
        self.factors = np.ascontiguousarray(solved * (col_scale / diag_p)[None, :], dtype=np.float32)
        self.basis = basis
        self.weights = np.zeros((0, 0), np.float32)

    def score(self, user_rows: Sequence[int] | np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        user_items = _check_user_items(user_items, len(_as_rows(user_rows)), self.n_items)
        x = self._scale(user_items)
        if self.form == "dense":
            return np.asarray(x @ self.weights, dtype=np.float32)
        scores = np.asarray((x @ self.basis.T).toarray() @ self.factors, dtype=np.float32)
        coo = x.tocoo()
        scores[coo.row, coo.col] += coo.data * self.diag[coo.col]
        return scores

    def item_rows_of_weights(self, item_rows: np.ndarray) -> np.ndarray:
        """Rows ``B[item_rows]`` (how much each item says about every other), dense float32."""
        if self.form == "dense":
            return np.array(self.weights[item_rows], dtype=np.float32)
        out = np.asarray(self.basis[:, item_rows].T.toarray() @ self.factors, dtype=np.float32)
        out[np.arange(len(item_rows)), item_rows] += self.diag[item_rows]
        return out

    def similar_items(self, item_rows: Sequence[int] | np.ndarray, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        rows = _as_rows(item_rows)
        block = self.item_rows_of_weights(rows)
        block[np.arange(len(rows)), rows] = -np.finfo(np.float32).max
        return _dense_topk(block, None, k=min(k, max(self.n_items - 1, 0)), items=None)

    def _state(self) -> dict[str, np.ndarray]:
        if self.form == "dense":
            return {"form": np.array("dense"), "weights": self.weights}
        b = self.basis
        return {
            "form": np.array("dual"),
            "diag": self.diag,
            "factors": self.factors,
            "basis.data": b.data,
            "basis.indices": b.indices,
            "basis.indptr": b.indptr,
            "basis.shape": np.array(b.shape, dtype=np.int64),
        }

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.form = str(arrays["form"])
        if self.form == "dense":
            self.weights = np.ascontiguousarray(arrays["weights"], dtype=np.float32)
            return
        self.diag = np.asarray(arrays["diag"], dtype=np.float32)
        self.factors = np.ascontiguousarray(arrays["factors"], dtype=np.float32)
        self.basis = sp.csr_matrix(
            (arrays["basis.data"], arrays["basis.indices"], arrays["basis.indptr"]),
            shape=tuple(int(v) for v in arrays["basis.shape"]),
        )


def _mirror_upper(a: np.ndarray) -> np.ndarray:
    """Make ``a`` symmetric from its upper triangle, in place, one block at a time (no n x n temporary)."""
    n = a.shape[0]
    step = 1024
    for start in range(0, n, step):
        stop = min(start + step, n)
        # rows start:stop, columns < start come from the transposed upper block.
        a[start:stop, :start] = a[:start, start:stop].T
        block = a[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        block[lower] = block.T[lower]
    return a


# ------------------------------------------------------------------------- blends


def standardise_scores(scores: np.ndarray) -> np.ndarray:
    """Per-user z-scores over the catalogue, so two models' scales can be mixed."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return (scores - mean) / np.where(std > 0, std, 1.0)


class BlendModel(_ScoredModel):
    """Weighted sum of two fitted models' per-user standardised scores: one version, one artifact.

    ``score = weight * z(first) + (1 - weight) * z(second)`` where ``z`` standardises each
    user's scores over the catalogue. The tuner proposes a blend only when it beats the best
    single model on validation.

    Params: ``first`` / ``second`` = ``{"algorithm": ..., "params": {...}}``, ``weight`` in [0, 1].
    """

    algorithm = "blend"

    def __init__(self, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> None:
        super().__init__(params, num_threads=num_threads)
        parts = []
        for key in ("first", "second"):
            spec = self.params[key]
            if not isinstance(spec, Mapping) or spec.get("algorithm") in (None, "blend"):
                raise ValueError(f"blend {key} must be {{'algorithm': <not blend>, 'params': {{...}}}}")
            parts.append(make_model(spec["algorithm"], spec.get("params") or {}, num_threads=num_threads))
        self.first, self.second = parts
        if not 0.0 <= float(self.params["weight"]) <= 1.0:
            raise ValueError("blend weight must be in [0, 1]")

    @classmethod
    def of(cls, first: Recommender, second: Recommender, weight: float, *, num_threads: int = 0) -> BlendModel:
        """A blend of two already fitted models (what the tuner uses: no refit)."""
        blend = cls(
            {
                "first": {"algorithm": first.algorithm, "params": first.params},
                "second": {"algorithm": second.algorithm, "params": second.params},
                "weight": float(weight),
            },
            num_threads=num_threads,
        )
        blend.first, blend.second = first, second
        blend.n_users, blend.n_items = first.n_users, first.n_items
        return blend

    def fit(self, matrix: sp.csr_matrix, *, progress: ProgressCallback | None = None) -> BlendModel:
        self.first.fit(matrix)
        if progress is not None:
            progress(1, 2)
        self.second.fit(matrix)
        if progress is not None:
            progress(2, 2)
        self.n_users, self.n_items = matrix.shape
        return self

    @property
    def scores_from_items(self) -> bool:  # type: ignore[override]
        """Whether every user, known to the model or not, can be scored from their row alone: true
        when at least one part is item-based (users unknown to the model are scored by those parts)."""
        return self.first.scores_from_items or self.second.scores_from_items

    def score(self, user_rows: Sequence[int] | np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """``w z(first) + (1 - w) z(second)``. A user unknown to the model (row -1, or beyond the
        trained users) has no row in a factor part: such users get the item-based part's scores
        alone, standardised the same way. Raises ``IndexError`` when no part can score them."""
        rows = _as_rows(user_rows)
        user_items = _check_user_items(user_items, len(rows), self.n_items)
        w = float(self.params["weight"])
        unknown = (rows < 0) | (rows >= self.n_users)
        if not unknown.any():
            first = standardise_scores(self.first.score(rows, user_items))
            second = standardise_scores(self.second.score(rows, user_items))
            return (w * first + (1.0 - w) * second).astype(np.float32)
        parts = [(w, self.first), (1.0 - w, self.second)]
        able = [(weight, part) for weight, part in parts if part.scores_from_items]
        if not able:
            raise IndexError("neither part of this blend can score users unknown to the model")
        out = np.zeros((len(rows), self.n_items), np.float32)
        known = np.flatnonzero(~unknown)
        for weight, part in parts:
            if len(known):
                out[known] += weight * standardise_scores(part.score(rows[known], user_items[known]))
        lost = np.flatnonzero(unknown)
        total = sum(weight for weight, _ in able)
        for weight, part in able:
            # Renormalised weights: with one item-based part its z-scores alone, on the same scale.
            share = weight / total if total > 0 else 1.0 / len(able)
            out[lost] += share * standardise_scores(part.score(rows[lost], user_items[lost]))
        return out

    def similar_items(self, item_rows: Sequence[int] | np.ndarray, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        # "Similar" is the stronger part's notion (the one with the larger weight).
        main = self.first if float(self.params["weight"]) >= 0.5 else self.second
        return main.similar_items(item_rows, k=k)

    def _state(self) -> dict[str, np.ndarray]:
        return {
            **{f"first.{k}": v for k, v in self.first.to_arrays().items()},
            **{f"second.{k}": v for k, v in self.second.to_arrays().items()},
        }

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        for key in ("first", "second"):
            prefix = f"{key}."
            part = model_from_arrays(
                {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}, num_threads=self.num_threads
            )
            setattr(self, key, part)


ALGORITHMS: dict[str, type[Recommender]] = {
    "als": ALSModel,
    "bpr": BPRModel,
    "ials": IALSModel,
    "itemknn": ItemKNNModel,
    "rp3beta": RP3betaModel,
    "ease": EASEModel,
    "popularity": PopularityModel,
    "blend": BlendModel,
}


def make_model(algorithm: str, params: Mapping[str, Any] | None = None, *, num_threads: int = 0) -> Recommender:
    """Build an unfitted model by name (``als``, ``bpr``, ``ials``, ``itemknn``, ``ease``, ``popularity``, ``blend``).

    ``params`` override ``DEFAULT_PARAMS[algorithm]``; unknown keys raise so a typo in a
    stored config fails loudly instead of silently training with defaults.
    """
    try:
        cls = ALGORITHMS[algorithm]
    except KeyError:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {sorted(ALGORITHMS)}") from None
    return cls(params, num_threads=num_threads)


def model_from_arrays(arrays: Mapping[str, np.ndarray], *, num_threads: int = 0) -> Recommender:
    """Rebuild any model from ``Recommender.to_arrays`` output (dispatches on algorithm)."""
    return ALGORITHMS[str(arrays["algorithm"])].from_arrays(arrays, num_threads=num_threads)
