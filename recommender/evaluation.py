"""Offline evaluation and tuning on the stored interactions (the full protocol, unlike a retrain's holdout).

Data come through the same path as training (extraction, per-kind confidence, decay); the split is the ML
core's: per-user time-based when every interaction has a distinct-enough timestamp, else random per user
with a fixed seed. Every algorithm and the popularity baseline are fitted on the same train matrix and
scored on the same test matrix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.utils import timezone

from recommender.confidence import event_confidence
from recommender.exceptions import NotEnoughData
from recommender.extract import InteractionArrays, interactions_extract
from recommender.ml.dataset import InteractionLog, Split, build_matrix, split_by_time, split_random_per_user
from recommender.ml.evaluate import evaluate
from recommender.ml.models import make_model
from recommender.ml.tune import TuneResult, tune
from recommender.training import decay_reference


@dataclass
class PreparedSplit:
    split: Split
    kind: str
    n_interactions: int


def split_kind_for(arrays: InteractionArrays, requested: str) -> str:
    if requested in ("time", "random"):
        return requested
    ts = arrays.timestamps
    # Imported files without a time column share one import time: no order to split on.
    return "time" if len(ts) and np.isfinite(ts).all() and np.unique(ts).size > 1 else "random"


def prepare_split(*, source_prefix: str | None = None, split: str = "auto", test_fraction: float = 0.2,
                  seed: int = 42) -> PreparedSplit:
    arrays = interactions_extract(source_prefix=source_prefix)
    if len(arrays) == 0:
        raise NotEnoughData("No interactions match" + (f" source prefix {source_prefix!r}." if source_prefix else "."))
    weights = event_confidence(arrays, now=decay_reference(arrays, timezone.now().timestamp()))
    kind = split_kind_for(arrays, split)
    log = InteractionLog(user_ids=arrays.user_ids, item_ids=arrays.merchant_ids, weights=weights,
                         timestamps=arrays.timestamps)
    if kind == "time":
        result = split_by_time(log, test_fraction=test_fraction)
    else:
        result = split_random_per_user(build_matrix(log), test_fraction=test_fraction, seed=seed)
    return PreparedSplit(result, kind, len(arrays))


def evaluate_algorithms(prepared: PreparedSplit, *, candidates: list[tuple[str, str, dict[str, Any]]], k: int = 10,
                        num_threads: int = 0,
                        on_model: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """Fit each (label, algorithm, params) and popularity on the split's train part; metrics on its test part."""
    split = prepared.split
    results: dict[str, dict[str, float]] = {}
    for label, algorithm, params in [*candidates, ("popularity", "popularity", {})]:
        if on_model:
            on_model(label)
        started = time.perf_counter()
        model = make_model(algorithm, params, num_threads=num_threads).fit(split.train)
        fitted = time.perf_counter()
        metrics = evaluate(model, split.train, split.test, k=k)
        results[label] = {
            **{name: round(float(value), 5) for name, value in metrics.items() if name not in ("k", "n_users")},
            "fit_s": round(fitted - started, 2), "eval_s": round(time.perf_counter() - fitted, 2),
            "algorithm": algorithm, "params": model.params,
        }
    return results


def describe(prepared: PreparedSplit, *, k: int, test_fraction: float, seed: int) -> dict[str, Any]:
    split = prepared.split
    return {"split": prepared.kind, "test_fraction": test_fraction, "seed": seed if prepared.kind == "random" else None,
            "k": k, "interactions": prepared.n_interactions, "users": int(split.train.shape[0]),
            "items": int(split.train.shape[1]), "train_pairs": int(split.train.nnz),
            "test_pairs": int(split.test.nnz), "test_users": int((np.diff(split.test.indptr) > 0).sum())}


def tune_on(prepared: PreparedSplit, *, algorithm: str, k: int, max_trials: int, time_budget_s: float, seed: int,
            progress: Callable[[int, int], None] | None = None, num_threads: int = 0) -> TuneResult:
    """The ML core's model search (algorithm `auto` = all that fit) on a validation split carved from the
    *training* part only."""
    return tune(prepared.split.train, algorithm=algorithm, k=k, max_trials=max_trials, time_budget_s=time_budget_s,
                seed=seed, progress=progress, num_threads=num_threads)


@dataclass
class TuningOutcome:
    result: TuneResult
    tested: dict[str, dict[str, Any]]  # default, tuned and popularity on the untouched test part (reported only)
    prepared: PreparedSplit


def tuning_run(*, algorithm: str = "auto", k: int = 10, max_trials: int = 200, time_budget_s: float = 300.0,
               seed: int = 42,
               source_prefix: str | None = None, split: str = "auto", test_fraction: float = 0.2,
               progress: Callable[[int, int], None] | None = None, num_threads: int = 0) -> TuningOutcome:
    """Search on the training part, then report default (the requested algorithm's, ALS for `auto`) and tuned
    on the test part."""
    prepared = prepare_split(source_prefix=source_prefix, split=split, test_fraction=test_fraction, seed=seed)
    result = tune_on(prepared, algorithm=algorithm, k=k, max_trials=max_trials, time_budget_s=time_budget_s,
                     seed=seed, progress=progress, num_threads=num_threads)
    default = "als" if algorithm == "auto" else algorithm
    tested = evaluate_algorithms(prepared, k=k, num_threads=num_threads, candidates=[
        ("default", default, {}), ("tuned", result.algorithm, result.best_params)])
    return TuningOutcome(result, tested, prepared)
