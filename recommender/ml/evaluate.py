"""Offline ranking metrics.

Definitions (binary relevance; ``rec`` = the top-k list, ``rel`` = the user's held-out
items, ``hit_i`` = 1 if the item at 0-based position ``i`` is in ``rel``):

* ``precision@k = sum(hit) / k`` -- always divided by k, even if fewer than k items
  were recommended (an empty slot is a miss).
* ``recall@k    = sum(hit) / |rel|`` -- the textbook definition. Note it can't reach
  1 when ``|rel| > k``; the min-normalised variant lives in ``ndcg``/``map``.
  (implicit's ``ranking_metrics_at_k`` calls ``sum(hit)/min(k,|rel|)`` "precision";
  our numbers are therefore not directly comparable to its "precision".)
* ``ndcg@k      = DCG / IDCG`` with ``DCG = sum_i hit_i / log2(i + 2)`` and ``IDCG`` the
  DCG of a perfect list: ``min(k, |rel|)`` hits at the top.
* ``map@k``     = mean over users of ``AP@k = sum_i hit_i * precision@(i+1) / min(k, |rel|)``.
* ``hit_rate@k`` = share of users with at least one hit.
* ``coverage``  = distinct recommended items / catalogue size (how much of the catalogue
  the model ever surfaces; popularity scores ~0, a healthy model much more).

All user-level metrics are averaged over users with at least one relevant item; users
without test items carry no information about ranking quality.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "coverage",
    "evaluate",
    "hit_rate_at_k",
    "map_at_k",
    "ndcg_at_k",
    "per_user_metrics",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
]

Relevant = sp.csr_matrix | Sequence[Iterable[int]]


def _rel_sets(relevant: Relevant, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    if sp.issparse(relevant):
        m = sp.csr_matrix(relevant)
        if m.shape[0] != n:
            raise ValueError("relevant must have one row per recommended row")
        rows = [m.indices[m.indptr[r] : m.indptr[r + 1]] for r in range(n)]
    else:
        if len(relevant) != n:
            raise ValueError("relevant must have one entry per recommended row")
        rows = [np.fromiter(set(r), dtype=np.int64) for r in relevant]
    return rows, np.array([len(r) for r in rows], dtype=np.int64)


def _hits(
    recommended: np.ndarray | Sequence[Sequence[int]], relevant: Relevant, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(n_users, k)`` hit matrix and ``|rel|`` per user (lists padded with -1)."""
    if k <= 0:
        raise ValueError("k must be positive")
    rows = [np.asarray(r, dtype=np.int64)[:k] for r in recommended]
    rec = np.full((len(rows), k), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        rec[i, : len(r)] = r
    if sp.issparse(relevant):
        return _hits_sparse(rec, sp.csr_matrix(relevant))
    rel_rows, n_rel = _rel_sets(relevant, len(rows))
    hits = np.zeros(rec.shape, dtype=bool)
    for i, rel in enumerate(rel_rows):
        if len(rel):
            hits[i] = np.isin(rec[i], rel) & (rec[i] >= 0)
    return hits, n_rel


def _hits_sparse(rec: np.ndarray, relevant: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    # Vectorised membership test: encode (row, item) as one int64 key and binary-search
    # the sorted keys of the relevant matrix -- avoids a Python loop over users.
    if relevant.shape[0] != rec.shape[0]:
        raise ValueError("relevant must have one row per recommended row")
    m = relevant.copy()
    m.sum_duplicates()
    m.sort_indices()
    width = max(int(m.shape[1]), int(rec.max(initial=-1)) + 1, 1)
    counts = np.diff(m.indptr)
    keys = np.repeat(np.arange(m.shape[0], dtype=np.int64), counts) * width + m.indices
    query = np.arange(rec.shape[0], dtype=np.int64)[:, None] * width + np.maximum(rec, 0)
    pos = np.clip(np.searchsorted(keys, query), 0, max(len(keys) - 1, 0))
    hits = (keys[pos] == query) & (rec >= 0) if len(keys) else np.zeros(rec.shape, dtype=bool)
    return hits, counts.astype(np.int64)


def _per_user(hits: np.ndarray, n_rel: np.ndarray) -> dict[str, np.ndarray]:
    k = hits.shape[1]
    n_hit = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    denom = np.minimum(n_rel, k)
    idcg = np.cumsum(discounts)[np.maximum(denom - 1, 0)]
    safe_rel = np.maximum(n_rel, 1)
    safe_denom = np.maximum(denom, 1)
    prec_at_i = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return {
        "precision": n_hit / k,
        "recall": n_hit / safe_rel,
        "ndcg": (hits * discounts).sum(axis=1) / np.where(denom > 0, idcg, 1.0),
        "map": (prec_at_i * hits).sum(axis=1) / safe_denom,
        "hit_rate": (n_hit > 0).astype(np.float64),
    }


def per_user_metrics(
    recommended: np.ndarray | Sequence[Sequence[int]], relevant: Relevant, *, k: int = 10
) -> dict[str, np.ndarray]:
    """Each metric per user, for the users with >= 1 relevant item (in their order)."""
    hits, n_rel = _hits(recommended, relevant, k)
    mask = n_rel > 0
    return {name: v[mask] for name, v in _per_user(hits, n_rel).items()}


def ranking_metrics(
    recommended: np.ndarray | Sequence[Sequence[int]], relevant: Relevant, *, k: int = 10
) -> dict[str, float]:
    """All user-level metrics at once, averaged over users with >= 1 relevant item."""
    per = per_user_metrics(recommended, relevant, k=k)
    return {name: float(v.mean()) if len(v) else 0.0 for name, v in per.items()}


def precision_at_k(recommended: Any, relevant: Relevant, *, k: int = 10) -> float:
    """Mean ``hits / k``; see the module docstring."""
    return ranking_metrics(recommended, relevant, k=k)["precision"]


def recall_at_k(recommended: Any, relevant: Relevant, *, k: int = 10) -> float:
    """Mean ``hits / |relevant|``; see the module docstring."""
    return ranking_metrics(recommended, relevant, k=k)["recall"]


def ndcg_at_k(recommended: Any, relevant: Relevant, *, k: int = 10) -> float:
    """Mean binary nDCG@k (ideal = ``min(k, |relevant|)`` hits on top)."""
    return ranking_metrics(recommended, relevant, k=k)["ndcg"]


def map_at_k(recommended: Any, relevant: Relevant, *, k: int = 10) -> float:
    """Mean average precision@k normalised by ``min(k, |relevant|)``."""
    return ranking_metrics(recommended, relevant, k=k)["map"]


def hit_rate_at_k(recommended: Any, relevant: Relevant, *, k: int = 10) -> float:
    """Share of users with at least one relevant item in the top-k."""
    return ranking_metrics(recommended, relevant, k=k)["hit_rate"]


def coverage(recommended: Any, *, n_items: int) -> float:
    """Distinct recommended items (ignoring ``-1`` padding) / ``n_items``."""
    if n_items <= 0:
        return 0.0
    flat = np.concatenate([np.asarray(r, dtype=np.int64).ravel() for r in recommended]) if len(recommended) else []
    flat = np.asarray(flat, dtype=np.int64)
    return float(np.unique(flat[flat >= 0]).size / n_items)


def evaluate(
    model: Any,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    *,
    k: int = 10,
    batch_size: int = 2048,
    max_users: int | None = None,
    seed: int = 0,
    per_user: dict[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Recommend for every user with >= 1 test item and average the metrics.

    Already-seen training items are filtered (as in production), which is why splits
    remove train/test overlap. ``max_users`` evaluates a seeded random sample of users
    instead -- used by tuning to keep each trial cheap on large data sets.
    Returns ``precision, recall, ndcg, map, hit_rate, coverage`` plus ``n_users`` and ``k``.
    ``per_user``, when given, is filled with each metric's per-user values (in the order of the
    evaluated users): what a paired comparison of two models on the same users needs.
    """
    train = sp.csr_matrix(train, dtype=np.float32)
    test = sp.csr_matrix(test, dtype=np.float32)
    if train.shape != test.shape:
        raise ValueError(f"train {train.shape} and test {test.shape} must share one index space")
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))
    sums: dict[str, float] = {}
    parts: dict[str, list[np.ndarray]] = {}
    seen = np.zeros(train.shape[1], dtype=bool)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        ids, _ = model.recommend(batch, train[batch], k=k, filter_already_liked=True)
        hits, n_rel = _hits(ids, test[batch], k)
        for name, values in _per_user(hits, n_rel).items():
            sums[name] = sums.get(name, 0.0) + float(values.sum())
            parts.setdefault(name, []).append(values)
        valid = ids[ids >= 0]
        seen[valid] = True
    n = len(users)
    if per_user is not None:
        per_user.update({name: np.concatenate(values) for name, values in parts.items()})
    out = {name: (total / n if n else 0.0) for name, total in sums.items()}
    for name in ("precision", "recall", "ndcg", "map", "hit_rate"):
        out.setdefault(name, 0.0)
    out["coverage"] = float(seen.sum() / train.shape[1]) if train.shape[1] else 0.0
    out["n_users"] = float(n)
    out["k"] = float(k)
    return out
