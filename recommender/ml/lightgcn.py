"""The LightGCN papers' protocol on a published train/valid/test split (all-item ranking, Recall/NDCG@20).

Files are ``train.txt``, ``valid.txt`` (optional) and ``test.txt``, one line per user:
``user item item ...`` with 0-based ids, binary implicit feedback. Every method is fitted on
the training part (train + valid), ranks every item the user has not trained on, and is
scored on test. The tuned pipeline chooses its algorithm and parameters on train -> valid
(inside the training part; without a valid file, on a random split of train) and is refitted
on the whole training part -- the same ``tune`` as ``tune_recommender``, with the refit inside its
time budget (``tune_s`` includes it; ``fit_s`` is the refit's share).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .dataset import Split
from .evaluate import evaluate
from .models import EASETooLarge, make_model
from .tune import TuneResult, tune

__all__ = ["BASELINES", "LightGCNSplit", "load_lightgcn", "run_protocol"]

# The reference points of the comparison, as published with the split's users (fixed, not tuned here).
BASELINES: list[tuple[str, str, dict[str, Any]]] = [
    ("popularity", "popularity", {}),
    ("bare implicit ALS (256 factors, reg 20, alpha 50)", "als",
     {"factors": 256, "regularization": 20.0, "alpha": 50.0, "scaling": "linear", "iterations": 15}),
    ("item-item cosine, K=200", "itemknn", {"K": 200, "similarity": "cosine"}),
    ("EASE, lambda 100", "ease", {"l2": 100.0}),
]


@dataclass
class LightGCNSplit:
    train: sp.csr_matrix
    valid: sp.csr_matrix | None
    test: sp.csr_matrix

    @property
    def training_part(self) -> sp.csr_matrix:
        """train + valid (binary): what final models are fitted on."""
        if self.valid is None:
            return self.train
        both = (self.train + self.valid).tocsr()
        both.data[:] = 1.0
        return both


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    with open(path) as fh:
        for number, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                values = np.array(parts, dtype=np.int64)
            except ValueError:
                raise ValueError(f"{path}:{number}: expected 'user item item ...' integers") from None
            rows.append(np.full(len(values) - 1, values[0]))
            cols.append(values[1:])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)


def load_lightgcn(directory: str | Path) -> LightGCNSplit:
    """Read ``train.txt`` / ``valid.txt`` / ``test.txt`` into binary CSR matrices of one shape."""
    directory = Path(directory)
    files = {name: directory / f"{name}.txt" for name in ("train", "valid", "test")}
    for name in ("train", "test"):
        if not files[name].exists():
            raise FileNotFoundError(f"{files[name]} is missing (a LightGCN split needs train.txt and test.txt)")
    pairs = {name: _read(path) for name, path in files.items() if path.exists()}
    n_users = 1 + max((int(r.max()) for r, _ in pairs.values() if len(r)), default=-1)
    n_items = 1 + max((int(c.max()) for _, c in pairs.values() if len(c)), default=-1)

    def matrix(name: str) -> sp.csr_matrix:
        r, c = pairs[name]
        m = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n_users, n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        m.sort_indices()
        return m

    return LightGCNSplit(matrix("train"), matrix("valid") if "valid" in pairs else None, matrix("test"))


def _row(label: str, model: Any, data: LightGCNSplit, *, k: int, fit_s: float, **extra: Any) -> dict[str, Any]:
    t0 = time.monotonic()
    metrics = evaluate(model, data.training_part, data.test, k=k)
    return {"model": label, "algorithm": model.algorithm, "recall": round(metrics["recall"], 4),
            "ndcg": round(metrics["ndcg"], 4), "fit_s": round(fit_s, 1), "eval_s": round(time.monotonic() - t0, 1),
            **extra}


def run_protocol(
    data: LightGCNSplit,
    *,
    budget_s: float = 600.0,
    max_trials: int = 500,
    k: int = 20,
    seed: int = 0,
    num_threads: int = 0,
    baselines: bool = True,
    progress: Callable[[int, int], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], TuneResult]:
    """The comparison table: the fixed baselines, then the tuned pipeline (tuning time included)."""
    rows: list[dict[str, Any]] = []
    full = data.training_part

    def add(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    if baselines:
        for label, algorithm, params in BASELINES:
            t0 = time.monotonic()
            try:
                model = make_model(algorithm, params, num_threads=num_threads).fit(full)
            except EASETooLarge as exc:
                add({"model": label, "algorithm": algorithm, "skipped": str(exc)})
                continue
            add(_row(label, model, data, k=k, fit_s=time.monotonic() - t0))
    validation = None
    if data.valid is not None:
        validation = Split(data.train, data.valid, np.arange(full.shape[0]), np.arange(full.shape[1]))
    t0 = time.monotonic()
    # refit: the budget covers the search and the winner's fit on the whole training part.
    result = tune(full, validation=validation, k=k, time_budget_s=budget_s, max_trials=max_trials, seed=seed,
                  max_eval_users=None, num_threads=num_threads, progress=progress, refit=True)
    tune_s = time.monotonic() - t0
    assert result.model is not None
    add(_row("this project's pipeline, tuned", result.model, data, k=k, fit_s=result.refit_seconds,
             tune_s=round(tune_s, 1), trials=len([t for t in result.trials if t.phase != "blend"]),
             best_single_validation_ndcg=round(float(result.best_single["score"]), 4), excluded=result.excluded,
             best_blend_validation_ndcg=max((round(t.score, 4) for t in result.trials if t.phase == "blend"),
                                            default=None),
             validation_ndcg=round(result.best_score, 4), selection=result.selection, params=result.best_params))
    return rows, result
