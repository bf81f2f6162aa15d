"""Model search: the algorithm and its parameters, with Optuna's TPE, within a time budget.

Method, not magic numbers -- the search has to work on data sets nobody has looked at:

1. Everything is chosen on a validation split carved from the *training* part
   (``validation_split``, or the caller's own, e.g. a temporal one or a published
   train/valid pair); the test set is never touched here.
2. The algorithm is a searched parameter: ALS (with its confidence scalings), EASE (when
   the catalogue fits in memory, ``ease_fits``, and one trial -- estimated from its matrix
   products and this machine's measured speed -- takes under half the budget), item-kNN
   and BPR. Each one's defaults are
   tried first, so the search can only improve on them as measured on validation.
3. Optuna's TPE sampler (seeded) proposes the next trial from what scored well so far;
   ALS trials report validation quality after a third of their iterations and a median
   pruner stops those clearly behind, so the budget goes to promising regions.
   Ranges are scale-aware where the data decide the scale: ALS factors go up to 512 but
   never beyond a quarter of the smaller matrix side.
4. The search stops at ``max_trials`` or when the next trial (its fit estimated from its
   ``fit_work`` at the rate measured on this algorithm, before its first fit on another factor
   model or, for EASE, at the measured GEMM speed) plus the blending step would overrun
   ``time_budget_s``; an algorithm too slow for what is left is skipped while faster ones still
   fit, and an iterative fit that turns out slower than estimated is stopped as soon as its
   iterations say it no longer fits. With ``refit`` the budget also covers fitting the winner
   (both parts of a blend) on the whole training part, and the search keeps time for that too.
5. Blends: the best model of the two best algorithms are mixed with standardised scores
   (``BlendModel``) at a few weights; a blend is returned only if it beats the best single
   model on validation by ``min_blend_gain`` (relative, 0.1 %).

Each trial evaluates on at most ``max_eval_users`` validation users (seeded sample) to
keep trials cheap on large data sets.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from .dataset import Split, validation_split
from .evaluate import evaluate, per_user_metrics
from .models import (
    DEFAULT_PARAMS,
    ProgressCallback,
    Recommender,
    _dense_topk,
    ease_fits,
    ease_memory_bytes,
    make_model,
    standardise_scores,
)

__all__ = ["SEARCHABLE", "Trial", "TuneResult", "paired_gain", "search_algorithms", "suggest_params", "tune"]

SEARCHABLE = ("als", "ials", "ease", "rp3beta", "itemknn", "bpr")
# The factor models, whose ``fit_work`` counts the same kind of work (multiply-adds over the stored pairs and
# the factor products): before an algorithm's first fit, another one's measured rate estimates it.
FACTOR_WORK = ("als", "ials", "bpr")
BLEND_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# A searched configuration replaces the best default (and a blend the best single model) only when its
# validation gain is at least this many standard errors of the per-user paired difference: the
# maximum over many trials on one validation set is biased upwards by that set's noise.
NOISE_Z = 2.0
# After the round of defaults, the search spends its trials on the algorithms whose default scored at
# least this share of the best default (the others are far behind on this data).
FOCUS_SHARE = 0.9
MAX_FOCUS = 2
_FACTOR_OPTIONS = (32, 64, 128, 256, 512)

log = logging.getLogger(__name__)


@dataclass
class Trial:
    """One evaluated parameter set."""

    params: dict[str, Any]
    score: float
    metrics: dict[str, float]
    seconds: float
    phase: str  # "default", "tpe", "pruned" or "blend"
    algorithm: str = ""
    per_user: np.ndarray | None = field(default=None, repr=False)  # the metric per validation user


@dataclass
class TuneResult:
    """Outcome of ``tune``: the best algorithm and full parameter set, plus every trial."""

    algorithm: str
    metric: str
    best_params: dict[str, Any]
    best_score: float
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0
    best_single: dict[str, Any] = field(default_factory=dict)  # best non-blend: algorithm, params, score
    excluded: dict[str, str] = field(default_factory=dict)  # algorithm -> why it was left out of the search
    # How the final choice was made: the best trial's paired gain over the best default (and the best
    # blend's over that) with its standard error, and what was kept.
    selection: dict[str, Any] = field(default_factory=dict)
    # With ``refit``: the chosen configuration fitted on the whole ``train`` (inside the budget), and how long
    # that fit took (part of ``seconds``).
    model: Recommender | None = field(default=None, repr=False)
    refit_seconds: float = 0.0


def search_algorithms(shape: tuple[int, int], requested: str | Sequence[str] = "auto") -> list[str]:
    """The algorithms a search covers: ``auto`` = all of ``SEARCHABLE`` that fit this shape."""
    names = list(SEARCHABLE) if requested == "auto" else [requested] if isinstance(requested, str) else list(requested)
    unknown = set(names) - set(SEARCHABLE)
    if unknown:
        raise ValueError(f"no search space for {sorted(unknown)}; choose from {list(SEARCHABLE)} or 'auto'")
    usable = [name for name in names if name != "ease" or ease_fits(*shape)]
    if not usable:
        raise ValueError(f"none of {names} can be fitted on {shape[0]} users x {shape[1]} items")
    return usable


def gemm_flops_per_s(num_threads: int = 0) -> float:
    """Float32 matrix-multiply speed of this machine right now (best of three 1024^3 products).

    Measured rather than assumed, so the estimate below follows the machine's load."""
    a = np.ones((1024, 1024), np.float32)
    best = math.inf
    with threadpool_limits(num_threads or None, "blas"):
        for _ in range(3):
            t0 = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - t0)
    return 2 * 1024**3 / max(best, 1e-9)


def ease_flops(shape: tuple[int, int], n_eval_users: int) -> tuple[float, float]:
    """The dominant matrix products of one EASE trial: (fit, scoring ``n_eval_users`` users) in flops."""
    n_users, n_items = shape
    form, _ = ease_memory_bytes(n_users, n_items)
    if form == "dense":
        return float(n_items) ** 3, 2.0 * n_eval_users * n_items * 50  # Cholesky inverse; sparse scoring
    return 2.0 * n_users**2 * n_items, 2.0 * n_eval_users * n_users * n_items  # users x users solve; dense scoring


def ease_trial_seconds(shape: tuple[int, int], n_eval_users: int, flops_per_s: float) -> float:
    """Rough time of one EASE trial (fit + validation scoring) from its dominant matrix products."""
    return sum(ease_flops(shape, n_eval_users)) / flops_per_s


def _factor_options(shape: tuple[int, int], default: int) -> list[int]:
    # More factors than a quarter of the smaller side only memorises; 512 is for large data.
    # The default stays a choice on any data, so the default trial is a point of the space.
    cap = max(min(shape) // 4, _FACTOR_OPTIONS[0])
    return sorted({f for f in _FACTOR_OPTIONS if f <= cap} | {default})


def suggest_params(
    trial: optuna.trial.BaseTrial, algorithm: str, shape: tuple[int, int], *, binary: bool = False
) -> dict[str, Any]:
    """Full parameter set (defaults + suggested values) for ``algorithm`` from an Optuna trial.

    Parameter names carry the algorithm as prefix so TPE models each space separately. ``binary``:
    every interaction has the same weight, so a scaling of the weights changes nothing and is not
    searched (EASE, RP3beta).
    """
    s = algorithm + "."
    out: dict[str, Any] = dict(DEFAULT_PARAMS[algorithm])
    if algorithm == "als":
        scaling = trial.suggest_categorical(s + "scaling", ["log1p", "linear", "bm25"])
        alpha = trial.suggest_float(s + "alpha", 1.0, 200.0, log=True)
        # The useful ridge grows with the confidence mass, so it is searched as a ratio to alpha.
        ratio = trial.suggest_float(s + "reg_ratio", 0.01, 20.0, log=True)
        out.update(
            factors=trial.suggest_categorical(s + "factors", _factor_options(shape, DEFAULT_PARAMS["als"]["factors"])),
            scaling=scaling,
            alpha=alpha,
            regularization=alpha * ratio,
            iterations=trial.suggest_categorical(s + "iterations", [10, 15, 25]),
        )
        if scaling == "log1p":
            out["eps"] = trial.suggest_float(s + "eps", 0.1, 10.0, log=True)
        if scaling == "bm25":
            out["K1"] = trial.suggest_float(s + "K1", 1.0, 200.0, log=True)
            out["B"] = trial.suggest_float(s + "B", 0.0, 1.0)
    elif algorithm == "ials":
        out.update(
            factors=trial.suggest_categorical(s + "factors", _factor_options(shape, DEFAULT_PARAMS["ials"]["factors"])),
            regularization=trial.suggest_float(s + "regularization", 1e-3, 1.0, log=True),
            unobserved=trial.suggest_float(s + "unobserved", 1e-3, 1.0, log=True),
            exponent=trial.suggest_float(s + "exponent", 0.0, 1.0),
            iterations=trial.suggest_categorical(s + "iterations", [8, 12, 16]),
        )
        if not binary:
            out["scaling"] = trial.suggest_categorical(s + "scaling", ["binary", "log1p"])
    elif algorithm == "ease":
        out.update(
            l2=trial.suggest_float(s + "l2", 1.0, 20000.0, log=True),
            dropout=trial.suggest_float(s + "dropout", 0.0, 0.8),
            pop_beta=trial.suggest_float(s + "pop_beta", 0.0, 0.6),
        )
        if not binary:
            out["scaling"] = trial.suggest_categorical(s + "scaling", ["binary", "log1p"])
    elif algorithm == "rp3beta":
        out.update(
            alpha=trial.suggest_float(s + "alpha", 0.2, 1.5),
            beta=trial.suggest_float(s + "beta", 0.0, 1.0),
            K=trial.suggest_categorical(s + "K", [50, 100, 200, 400, 800]),
        )
        if not binary:
            out["scaling"] = trial.suggest_categorical(s + "scaling", ["binary", "log1p"])
    elif algorithm == "itemknn":
        similarity = trial.suggest_categorical(s + "similarity", ["cosine", "bm25", "tfidf"])
        out.update(K=trial.suggest_categorical(s + "K", [20, 50, 100, 200, 400, 800]), similarity=similarity)
        if similarity == "bm25":
            out["K1"] = trial.suggest_float(s + "K1", 0.5, 5.0, log=True)
            out["B"] = trial.suggest_float(s + "B", 0.0, 1.0)
    elif algorithm == "bpr":
        out.update(
            factors=trial.suggest_categorical(
                s + "factors", [f for f in _factor_options(shape, DEFAULT_PARAMS["bpr"]["factors"]) if f <= 256]),
            learning_rate=trial.suggest_float(s + "learning_rate", 0.003, 0.1, log=True),
            regularization=trial.suggest_float(s + "regularization", 1e-4, 0.1, log=True),
            iterations=trial.suggest_categorical(s + "iterations", [50, 100, 200]),
        )
    else:
        raise ValueError(f"no search space for {algorithm!r}")
    return out


def _default_distribution_values(algorithm: str, *, binary: bool = False) -> dict[str, Any]:
    """The Optuna parameter values that reproduce ``DEFAULT_PARAMS[algorithm]`` (enqueued first)."""
    d = DEFAULT_PARAMS[algorithm]
    s = algorithm + "."
    if algorithm == "als":
        values = {s + "scaling": d["scaling"], s + "alpha": d["alpha"], s + "factors": d["factors"],
                  s + "reg_ratio": d["regularization"] / d["alpha"], s + "iterations": d["iterations"]}
        if d["scaling"] == "log1p":
            values[s + "eps"] = d["eps"]
        return values
    if algorithm in ("ials", "ease", "rp3beta"):
        names = {"ials": ("factors", "regularization", "unobserved", "exponent", "iterations"),
                 "ease": ("l2", "dropout", "pop_beta"), "rp3beta": ("alpha", "beta", "K")}[algorithm]
        return {s + k: d[k] for k in (names if binary else (*names, "scaling"))}
    if algorithm == "itemknn":
        values = {s + "similarity": d["similarity"], s + "K": d["K"]}
        if d["similarity"] == "bm25":
            values.update({s + "K1": d["K1"], s + "B": d["B"]})
        return values
    return {s + "factors": d["factors"], s + "learning_rate": d["learning_rate"],
            s + "regularization": d["regularization"], s + "iterations": d["iterations"]}


def study_defaults(*, previous: optuna.Study, names: Sequence[str]) -> list[optuna.trial.FrozenTrial]:
    """The completed first-round trials of ``names``, re-expressed for a study over ``names`` only."""
    out = []
    for frozen in previous.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        params, dists = dict(frozen.params), dict(frozen.distributions)
        name = params.pop("algorithm", names[0] if len(names) == 1 else None)
        dists.pop("algorithm", None)
        if name not in names:
            continue
        if len(names) > 1:
            params["algorithm"], dists["algorithm"] = name, optuna.distributions.CategoricalDistribution(list(names))
        out.append(optuna.trial.create_trial(params=params, distributions=dists, value=frozen.value))
    return out


def fit_work(algorithm: str, params: dict[str, Any], matrix: sp.spmatrix) -> float:
    """How a fit's cost grows with its parameters (a unit-free count; the tuner times the rate per algorithm).

    ALS: per iteration, conjugate-gradient steps over every stored pair (``nnz * factors``) and the
    ``factors x factors`` products of every user and item row; iALS: the same per CG step; BPR: one SGD step
    per stored pair and epoch. The item-item models cost about the same for any of their parameters."""
    n_users, n_items = matrix.shape
    if algorithm == "als":
        f = float(params["factors"])
        return float(params["iterations"]) * f * (matrix.nnz + (n_users + n_items) * f)
    if algorithm == "ials":  # per CG step: two passes over the pairs, one GEMM per row
        f = float(params["factors"])
        return float(params["iterations"]) * float(params["cg_steps"]) * f * (2 * matrix.nnz + (n_users + n_items) * f)
    if algorithm == "bpr":
        return float(params["iterations"]) * float(params["factors"]) * max(matrix.nnz, 1)
    return 1.0


def _eval_users(test: sp.csr_matrix, max_users: int | None, seed: int) -> np.ndarray:
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))
    return users


def _standardised_scores(model: Recommender, train: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    out = np.empty((len(users), train.shape[1]), np.float32)
    for start in range(0, len(users), 512):
        block = users[start : start + 512]
        out[start : start + 512] = standardise_scores(model.score(block, train[block]))
    return out


def _blend_search(
    z1: np.ndarray, second: Recommender, split: Split, users: np.ndarray, *, k: int
) -> list[tuple[float, dict[str, np.ndarray]]]:
    """Per-user validation metrics of ``w * z1 + (1 - w) * z(second)`` for each weight in
    ``BLEND_WEIGHTS`` (``z1``: the first model's standardised scores of ``users``)."""
    z2 = _standardised_scores(second, split.train, users)
    seen, test = split.train[users], split.test[users]
    out = []
    for w in BLEND_WEIGHTS:
        ids = np.vstack([
            _dense_topk(w * z1[i : i + 512] + (1 - w) * z2[i : i + 512], seen[i : i + 512], k=k, items=None)[0]
            for i in range(0, len(users), 512)
        ])
        out.append((w, per_user_metrics(ids, test, k=k)))
    return out


def paired_gain(candidate: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mean per-user gain of ``candidate`` over ``reference`` on the same users, and its standard error."""
    diff = np.asarray(candidate, np.float64) - np.asarray(reference, np.float64)
    if len(diff) < 2:
        return float(diff.mean()) if len(diff) else 0.0, math.inf
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff)))


def tune(
    train: sp.csr_matrix,
    *,
    algorithm: str | Sequence[str] = "auto",
    metric: str = "ndcg",
    k: int = 10,
    max_trials: int = 200,
    time_budget_s: float = 300.0,
    seed: int = 0,
    validation_fraction: float = 0.2,
    max_eval_users: int | None = 2000,
    progress: ProgressCallback | None = None,
    num_threads: int = 0,
    validation: Split | None = None,
    blend: bool = True,
    min_blend_gain: float = 0.001,
    refit: bool = False,
) -> TuneResult:
    """Search algorithm and hyperparameters on a validation split of ``train``.

    ``algorithm``: ``auto`` (every algorithm of ``SEARCHABLE`` that fits), one name, or a
    list. Deterministic for a given ``seed`` apart from where the time budget cuts the
    search off (and multi-threaded BPR). ``progress(done, max_trials)`` is called after each
    trial. Returns the best by ``metric`` (any key of ``evaluate``'s result); with
    ``blend`` the result may be a ``blend`` of the two best algorithms.

    ``validation`` overrides the random validation split, e.g. with a temporal one or a
    published train/valid pair; it need not share ``train``'s index space (only
    hyperparameters carry over).

    ``refit``: the budget also covers fitting the winner on the whole ``train`` (returned as
    ``TuneResult.model``). The search keeps time for it: the slowest fit of a focused algorithm so far
    plus the costliest blend partner's, scaled by how much larger ``train`` is than the validation
    split's training part.
    """
    if max_trials < 1:
        raise ValueError("max_trials must be >= 1")
    started = time.monotonic()
    split = validation or validation_split(sp.csr_matrix(train), test_fraction=validation_fraction, seed=seed)
    shape = split.train.shape
    algorithms = search_algorithms(shape, algorithm)
    users = _eval_users(split.test, max_eval_users, seed)
    excluded: dict[str, str] = {}
    # An EASE trial's cost before its first fit: its matrix products at this machine's GEMM speed now.
    flops_per_s = gemm_flops_per_s(num_threads) if "ease" in algorithms else math.inf
    ease_fit_flops, ease_score_flops = ease_flops(shape, len(users))
    if "ease" in algorithms and len(algorithms) > 1:
        # One EASE trial is one big matrix inverse; when even that would take half the budget
        # on this machine now, the time is better spent on the other algorithms.
        estimate = ease_trial_seconds(shape, len(users), flops_per_s)
        if estimate > time_budget_s / 2:
            algorithms.remove("ease")
            excluded["ease"] = f"one trial estimated at {estimate:.0f}s, over half the {time_budget_s:.0f}s budget"
            log.info("tune: leaving EASE out: %s", excluded["ease"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning, module="optuna")
    binary = bool(np.all(split.train.data == split.train.data[0])) if split.train.nnz else True

    def new_study(names: Sequence[str]) -> optuna.Study:
        return optuna.create_study(
            direction="maximize",
            # multivariate + group: TPE models the parameters of one algorithm jointly (EASE's l2,
            # dropout and pop_beta trade off against each other), each algorithm's space on its own.
            sampler=optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=max(5, 2 * len(names)), multivariate=True, group=True
            ),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
        )

    study = study_first = new_study(algorithms)
    for name in algorithms:
        chosen = {"algorithm": name} if len(algorithms) > 1 else {}
        study.enqueue_trial({**chosen, **_default_distribution_values(name, binary=binary)})
    trials: list[Trial] = []
    names_now: list[str] = list(algorithms)
    phase_now = ["default"]
    # Fitted models kept for blending: the best of each algorithm, and the best default.
    best_models: dict[str, tuple[float, Recommender]] = {}
    default_model: list[tuple[float, Recommender]] = []
    focus: set[str] = set(algorithms)

    eval_seconds: dict[str, list[float]] = {}  # seconds of each validation pass, per algorithm
    fit_works: dict[str, list[float]] = {}  # ``fit_work`` of each completed fit, per algorithm
    best_work: dict[str, float] = {}  # ``fit_work`` of each algorithm's best trial (a blend partner's refit)
    fit_rate: dict[str, list[float]] = {}  # fit seconds per unit of ``fit_work``, per algorithm
    # A fit on the whole training part costs about this much more than one on the validation split's.
    refit_scale = max(1.0, train.nnz / max(split.train.nnz, 1)) if refit else 0.0

    def evaluate_on(name: str, model: Recommender, per_user: dict[str, np.ndarray] | None = None) -> dict[str, float]:
        t0 = time.monotonic()
        metrics = evaluate(model, split.train, split.test, k=k, max_users=max_eval_users, seed=seed,
                           per_user=per_user)
        eval_seconds.setdefault(name, []).append(time.monotonic() - t0)
        return {metric_name: float(value) for metric_name, value in metrics.items()}

    def eval_estimate(name: str) -> float:
        # The algorithm's slowest validation pass so far; before its first one, EASE's from its scoring
        # products, any other's the mean pass of the algorithms measured.
        if eval_seconds.get(name):
            return max(eval_seconds[name])
        if name == "ease":
            return ease_score_flops / flops_per_s
        passes = [one for seconds in eval_seconds.values() for one in seconds]
        return sum(passes) / len(passes) if passes else 0.0

    def blend_reserve(candidate: str | None = None) -> float:
        # Blending scores the validation users once with the chosen model and once with its partner, then
        # ranks their mix at every weight (each about the cheapest validation pass): keep time for the two
        # costliest passes among the algorithms fitted (and the one about to be) and the ranking.
        if not blend or len(algorithms) < 2:
            return 0.0
        names = set(eval_seconds) | ({candidate} if candidate else set())
        passes = sorted((eval_estimate(name) for name in names), reverse=True)
        ranking = min((sum(v) / len(v) for v in eval_seconds.values()), default=passes[-1] if passes else 0.0)
        return sum(passes[:2]) + len(BLEND_WEIGHTS) * ranking

    def refit_reserve(candidate: str | None = None, candidate_fit: float = 0.0) -> float:
        # The winner is a trial of a focused algorithm (the costliest of each counts), possibly blended with
        # another algorithm's best; the trial about to run (``candidate``, ``candidate_fit`` seconds) may become
        # either. Keep time to refit the costliest such pair on the whole training part, at the slowest rate
        # measured (a machine that got busier refits slower than it fitted).
        if not refit:
            return 0.0
        own = {name: slowest_fit(name, max(works)) for name, works in fit_works.items() if name in focus}
        partners = {name: slowest_fit(name, work) for name, work in best_work.items()}
        if candidate is not None:
            own[candidate] = max(own.get(candidate, 0.0), candidate_fit)
            partners[candidate] = max(partners.get(candidate, 0.0), candidate_fit)
        worst = max((cost + (max((p for other, p in partners.items() if other != name), default=0.0) if blend else 0.0)
                     for name, cost in own.items()), default=0.0)
        return refit_scale * worst

    def reserve(candidate: str | None = None, candidate_fit: float = 0.0) -> float:
        return blend_reserve(candidate) + refit_reserve(candidate, candidate_fit)

    def slowest_fit(name: str, work: float) -> float:
        return max(fit_rate[name]) * work

    def fit_estimate(name: str, params: dict[str, Any]) -> float | None:
        # Seconds per unit of ``fit_work`` measured on this algorithm's fits so far (the slowest rate: load
        # varies), times this trial's work. Before its first fit: EASE from its matrix products at the measured
        # GEMM speed; a factor model at the slowest rate measured on another factor model (``fit_work`` counts
        # their work alike); None for the rest (cheap item-item models).
        work = fit_work(name, params, split.train)
        if fit_rate.get(name):
            return max(fit_rate[name]) * work
        if name == "ease":
            return ease_fit_flops / flops_per_s
        pooled = [rate for other in FACTOR_WORK if other != name for rate in fit_rate.get(other, [])]
        return max(pooled) * work if name in FACTOR_WORK and pooled else None

    skipped = [0]

    def expected_seconds(name: str | None = None) -> float:
        """Mean time of this algorithm's trials so far (of all trials if it has none)."""
        own = [t.seconds for t in trials if t.algorithm == name] or [t.seconds for t in trials]
        return sum(own) / len(own) if own else 0.0

    def objective(trial: optuna.Trial) -> float:
        name = trial.suggest_categorical("algorithm", names_now) if len(names_now) > 1 else names_now[0]
        params = suggest_params(trial, name, shape, binary=binary)
        fit_s = fit_estimate(name, params)
        # A trial costs its fit plus one evaluation (ALS: two, the pruning checkpoint).
        cost = expected_seconds(name) if fit_s is None else fit_s + eval_estimate(name) * (2 if name == "als" else 1)
        if trials and time.monotonic() - started + cost + reserve(name, fit_s or 0.0) > time_budget_s:
            # This algorithm no longer fits in what is left; a faster one may (not a trial: costs nothing).
            skipped[0] += 1
            raise optuna.TrialPruned()
        skipped[0] = 0
        phase = phase_now[0]
        t0 = time.monotonic()
        model = make_model(name, params, num_threads=num_threads)
        iterations = int(params.get("iterations", 0))
        checkpoint = max(iterations // 3, 1)

        def on_iteration(done: int, total: int) -> None:
            if done < total and any(t.phase != "pruned" for t in trials):
                # Out of time: the iterations done so far say what the rest of this fit costs; when it, its
                # evaluation and what must remain after it no longer fit, stop it (an estimate made before the
                # fit can be wrong: the machine's load changes, a first fit of an algorithm had no rate).
                spent = time.monotonic() - t0
                projected = spent * total / done
                if (time.monotonic() - started + projected - spent + eval_estimate(name)
                        + reserve(name, projected) > time_budget_s):
                    fit_rate.setdefault(name, []).append(projected / fit_work(name, params, split.train))
                    log.info("tune: stopping a %s trial after %d of %d iterations: out of time", name, done, total)
                    raise optuna.TrialPruned()
            # ALS exposes its factors while fitting: score the partial model once and let the
            # pruner stop a trial that is clearly behind the others at the same point.
            if name == "als" and done == checkpoint and total > checkpoint:
                partial = evaluate_on(name, model)[metric]
                trial.report(partial, step=1)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        try:
            model.fit(split.train, progress=on_iteration)
        except optuna.TrialPruned:
            trials.append(Trial(params, float("nan"), {}, time.monotonic() - t0, "pruned", name))
            raise
        work = fit_work(name, params, split.train)
        fit_works.setdefault(name, []).append(work)
        fit_rate.setdefault(name, []).append((time.monotonic() - t0) / work)
        per_user: dict[str, np.ndarray] = {}
        metrics = evaluate_on(name, model, per_user)
        score = metrics[metric]
        trials.append(Trial(params, score, metrics, time.monotonic() - t0, phase, name, per_user.get(metric)))
        if name not in best_models or score > best_models[name][0]:
            best_models[name] = (score, model)
            best_work[name] = work
        if phase == "default" and (not default_model or score > default_model[0][0]):
            default_model[:] = [(score, model)]
        return score

    def after_trial(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        if progress is not None:
            progress(len(trials), max_trials)
        elapsed = time.monotonic() - started
        fastest = min(expected_seconds(name) for name in focus)
        if len(trials) >= max_trials or elapsed + fastest + reserve() > time_budget_s or skipped[0] >= 20:
            study.stop()

    # Round 1: every algorithm at its defaults. Round 2: TPE over the algorithms whose defaults came
    # close to the best (the best one, and any within FOCUS_SHARE of it), the budget's remainder.
    study.optimize(objective, n_trials=len(algorithms), callbacks=[after_trial], catch=())
    defaults_done = [t for t in trials if t.phase == "default"]
    if defaults_done and len(trials) < max_trials:
        top = max(t.score for t in defaults_done)
        ranked = sorted(defaults_done, key=lambda t: t.score, reverse=True)
        focus.intersection_update(
            [t.algorithm for t in ranked if t.score >= FOCUS_SHARE * top][:MAX_FOCUS] or [ranked[0].algorithm])
        log.info("tune: searching %s (defaults within %.0f%% of the best)", sorted(focus), 100 * FOCUS_SHARE)
        names_now[:] = [name for name in algorithms if name in focus]
        phase_now[0] = "tpe"
        study = new_study(names_now)
        # TPE starts from what the first round measured: each focused algorithm's default and its score.
        for frozen in study_defaults(previous=study_first, names=names_now):
            study.add_trial(frozen)
        skipped[0] = 0
        study.optimize(objective, n_trials=max_trials - len(trials) + 100, callbacks=[after_trial], catch=())
    scored = [t for t in trials if t.phase != "pruned"]
    best = max(scored, key=lambda t: t.score)
    # The best trial replaces the best default only when it is better by more than validation noise.
    reference = max((t for t in scored if t.phase == "default"), key=lambda t: t.score)
    chosen, chosen_model = best, best_models[best.algorithm][1]
    selection: dict[str, Any] = {"best_trial": round(best.score, 5), "best_default": round(reference.score, 5)}
    if best is not reference and best.per_user is not None and reference.per_user is not None:
        gain, se = paired_gain(best.per_user, reference.per_user)
        selection.update(gain_over_default=round(gain, 5), se=round(se, 5))
        if gain < NOISE_Z * se:
            chosen, chosen_model = reference, default_model[0][1]
    selection["kept"] = "default" if chosen.phase == "default" else "searched"
    result = TuneResult(
        chosen.algorithm, metric, dict(chosen.params), chosen.score, trials, 0.0,
        {"algorithm": chosen.algorithm, "params": dict(chosen.params), "score": chosen.score}, excluded, selection,
    )
    if blend and len(best_models) >= 2:
        # The chosen model mixed with each other algorithm's best: different algorithms make
        # different mistakes, which is where a blend gains.
        partners = sorted(((score, name, model) for name, (score, model) in best_models.items()
                           if name != chosen.algorithm), key=lambda item: item[0], reverse=True)
        z1 = _standardised_scores(chosen_model, split.train, users)
        best_blend: tuple[float, Trial] | None = None
        partner_seconds = 0.0
        for n, (_, name2, second) in enumerate(partners):
            t0 = time.monotonic()
            # The first partner (the runner-up) was budgeted for; further ones only if one more costs no
            # more than the last one did (or its own validation pass) and that still fits.
            if n and t0 - started + max(partner_seconds, eval_estimate(name2)) + refit_reserve() > time_budget_s:
                break
            for w, per_user in _blend_search(z1, second, split, users, k=k):
                params = {"first": {"algorithm": chosen.algorithm, "params": chosen_model.params},
                          "second": {"algorithm": name2, "params": second.params}, "weight": w}
                metrics = {name: float(v.mean()) if len(v) else 0.0 for name, v in per_user.items()}
                trials.append(Trial(params, metrics[metric], metrics, (time.monotonic() - t0) / len(BLEND_WEIGHTS),
                                    "blend", "blend", per_user[metric]))
                if best_blend is None or metrics[metric] > best_blend[0]:
                    best_blend = (metrics[metric], trials[-1])
            partner_seconds = time.monotonic() - t0
        if best_blend is not None and chosen.per_user is not None:
            top = best_blend[1]
            gain, se = paired_gain(top.per_user, chosen.per_user)
            selection.update(best_blend=round(top.score, 5), blend_gain=round(gain, 5), blend_se=round(se, 5))
            # With ``refit`` a blend refits both parts: kept only if that still fits (the reserve kept time for
            # it; this guards against a machine that got slower since).
            partner = top.params["second"]["algorithm"]
            own_work = fit_work(chosen.algorithm, chosen.params, split.train)
            both = refit_scale * (slowest_fit(chosen.algorithm, own_work) + slowest_fit(partner, best_work[partner]))
            if top.score > chosen.score * (1.0 + min_blend_gain) and gain >= NOISE_Z * se:
                if time.monotonic() - started + both <= time_budget_s:
                    result.algorithm, result.best_params, result.best_score = "blend", top.params, top.score
                    selection["kept"] = "blend"
                else:
                    selection["blend_dropped"] = f"no time left to refit both parts (~{both:.0f}s)"
    if not math.isfinite(result.best_score):
        raise RuntimeError("tuning produced no finite score")
    if refit:
        t0 = time.monotonic()
        result.model = make_model(result.algorithm, result.best_params, num_threads=num_threads).fit(train)
        result.refit_seconds = time.monotonic() - t0
    result.seconds = time.monotonic() - started
    log.info("tune: %s %s validation %s=%.4f (%s)", result.algorithm, result.best_params, metric, result.best_score,
             selection)
    return result
