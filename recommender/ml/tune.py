"""Seeded random hyperparameter search (in the spirit of Gorse's model search).

Method, not magic numbers -- the search has to work on data sets nobody has looked at:

1. A validation split is carved from the *training* matrix (``validation_split``), so
   the test set is never touched while choosing parameters.
2. Trial 0 is always ``DEFAULT_PARAMS`` -- the search can only improve on the defaults
   as measured on validation, never silently return something worse.
3. The first half of the trials sample a wide, scale-aware space (log-uniform for
   everything multiplicative; ALS regularization is sampled as a *ratio to alpha*
   because the two trade off against each other: the confidence mass grows with alpha
   and the useful ridge grows with it). The second half perturb the best trial so far
   (local refinement), which finds more than pure random search for the same budget.
4. The search stops at ``max_trials`` or when the next trial would overrun
   ``time_budget_s`` (estimated from the mean trial time so far).

Each trial evaluates on at most ``max_eval_users`` validation users (seeded sample) to
keep trials cheap on large data sets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .dataset import Split, validation_split
from .evaluate import evaluate
from .models import DEFAULT_PARAMS, ProgressCallback, make_model

__all__ = ["TuneResult", "Trial", "sample_params", "perturb_params", "tune"]

Sampler = Callable[[np.random.Generator], dict[str, Any]]


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _choice(rng: np.random.Generator, options: list[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _sample_als(rng: np.random.Generator) -> dict[str, Any]:
    alpha = _log_uniform(rng, 1.0, 100.0)
    scaling = _choice(rng, ["log1p", "log1p", "linear", "bm25"])  # log1p is the usual winner
    params: dict[str, Any] = {
        "factors": _choice(rng, [32, 64, 128]),
        "scaling": scaling,
        "alpha": alpha,
        "regularization": alpha * _log_uniform(rng, 0.05, 20.0),
        "iterations": _choice(rng, [10, 15, 25]),
    }
    if scaling == "log1p":
        params["eps"] = _log_uniform(rng, 0.3, 3.0)
    if scaling == "bm25":
        params["K1"] = _log_uniform(rng, 1.0, 200.0)
        params["B"] = float(rng.uniform(0.0, 1.0))
    return params


def _sample_bpr(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "factors": _choice(rng, [32, 64, 128]),
        "learning_rate": _log_uniform(rng, 0.003, 0.1),
        "regularization": _log_uniform(rng, 1e-4, 0.1),
        "iterations": _choice(rng, [50, 100, 200]),
    }


def _sample_itemknn(rng: np.random.Generator) -> dict[str, Any]:
    similarity = _choice(rng, ["cosine", "bm25", "tfidf"])
    params: dict[str, Any] = {"K": _choice(rng, [20, 50, 100, 200, 400]), "similarity": similarity}
    if similarity == "bm25":
        params["K1"] = _log_uniform(rng, 0.5, 5.0)
        params["B"] = float(rng.uniform(0.0, 1.0))
    return params


SEARCH_SPACES: dict[str, Sampler] = {"als": _sample_als, "bpr": _sample_bpr, "itemknn": _sample_itemknn}

# Multiplicative perturbation per parameter in refinement; categorical ones move to a
# neighbouring option, so refinement explores near the best without jumping around.
_NEIGHBOURS: dict[str, list[Any]] = {
    "factors": [32, 64, 128, 256],
    "iterations": [10, 15, 25, 40],
    "K": [10, 20, 50, 100, 200, 400, 800],
}
_BOUNDS: dict[str, tuple[float, float]] = {"B": (0.0, 1.0)}


def sample_params(algorithm: str, *, rng: np.random.Generator) -> dict[str, Any]:
    """Draw one full parameter set (defaults + sampled values) from the search space."""
    return {**DEFAULT_PARAMS[algorithm], **SEARCH_SPACES[algorithm](rng)}


def perturb_params(params: dict[str, Any], *, rng: np.random.Generator, scale: float = 0.5) -> dict[str, Any]:
    """A neighbour of ``params``: floats x exp(N(0, scale)), ordinal options +-1 step."""
    out = dict(params)
    for key, value in params.items():
        if key == "random_state":
            continue
        if key in _NEIGHBOURS and value in _NEIGHBOURS[key]:
            opts = _NEIGHBOURS[key]
            i = opts.index(value) + int(rng.integers(-1, 2))
            out[key] = opts[min(max(i, 0), len(opts) - 1)]
        elif isinstance(value, float) and value > 0:
            new = value * math.exp(rng.normal(0.0, scale))
            low, high = _BOUNDS.get(key, (0.0, math.inf))
            out[key] = float(min(max(new, low), high))
    return out


@dataclass
class Trial:
    """One evaluated parameter set."""

    params: dict[str, Any]
    score: float
    metrics: dict[str, float]
    seconds: float
    phase: str  # "default", "random" or "refine"


@dataclass
class TuneResult:
    """Outcome of ``tune``: best full parameter set plus every trial (for the admin UI)."""

    algorithm: str
    metric: str
    best_params: dict[str, Any]
    best_score: float
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0


def tune(
    train: sp.csr_matrix,
    *,
    algorithm: str = "als",
    metric: str = "ndcg",
    k: int = 10,
    max_trials: int = 20,
    time_budget_s: float = 300.0,
    seed: int = 0,
    validation_fraction: float = 0.2,
    max_eval_users: int | None = 2000,
    refine_fraction: float = 0.5,
    progress: ProgressCallback | None = None,
    num_threads: int = 0,
    validation: Split | None = None,
) -> TuneResult:
    """Search hyperparameters for ``algorithm`` on a validation split of ``train``.

    Deterministic for a given ``seed`` (and single-threaded BPR), apart from where the
    time budget cuts the search off. ``progress(done, max_trials)`` is called after each
    trial. Returns the best parameters by ``metric`` (any key of ``evaluate``'s result).

    ``validation`` overrides the random validation split, e.g. with a temporal one
    built from the training events when the production split is temporal; it need not
    share ``train``'s index space (only hyperparameters carry over).
    """
    if algorithm not in SEARCH_SPACES:
        raise ValueError(f"no search space for {algorithm!r}; choose one of {sorted(SEARCH_SPACES)}")
    if max_trials < 1:
        raise ValueError("max_trials must be >= 1")
    started = time.monotonic()
    rng = np.random.default_rng(seed)
    split = validation or validation_split(sp.csr_matrix(train), test_fraction=validation_fraction, seed=seed)
    n_random = max(1, int(round(max_trials * (1.0 - refine_fraction))))
    trials: list[Trial] = []
    best: Trial | None = None
    for i in range(max_trials):
        elapsed = time.monotonic() - started
        if trials:
            mean_trial = sum(t.seconds for t in trials) / len(trials)
            if elapsed + mean_trial > time_budget_s:
                break
        if i == 0:
            params, phase = dict(DEFAULT_PARAMS[algorithm]), "default"
        elif i < n_random or best is None:
            params, phase = sample_params(algorithm, rng=rng), "random"
        else:
            params, phase = perturb_params(best.params, rng=rng), "refine"
        t0 = time.monotonic()
        model = make_model(algorithm, params, num_threads=num_threads).fit(split.train)
        metrics = evaluate(model, split.train, split.test, k=k, max_users=max_eval_users, seed=seed)
        trial = Trial(params, float(metrics[metric]), metrics, time.monotonic() - t0, phase)
        trials.append(trial)
        if best is None or trial.score > best.score:
            best = trial
        if progress is not None:
            progress(i + 1, max_trials)
    assert best is not None
    return TuneResult(algorithm, metric, dict(best.params), best.score, trials, time.monotonic() - started)
