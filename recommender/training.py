"""The training pipeline behind `recommender.services.model_train`.

Stages (each timed into `ModelVersion.stage_timings`): extract → build (confidence, CSR, holdout) → fit →
evaluate (model and popularity on the same holdout) → fold_in → save (artifact) → register → activate.

Evaluation holds out the latest interactions of a sample of users (`TrainingConfig.eval_users`), so the
production model is fitted once: the held-out users' factors are then recomputed from all their
interactions against the fitted item factors (ALS `recalculate_user`), so nobody's newest signals are
missing from what is served. `manage.py evaluate_recommender` does the full offline protocol instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.utils import timezone

from recommender import conf
from recommender.background import idle_worker
from recommender.confidence import (
    encode,
    event_confidence,
    holdout_mask,
    with_rows_rebuilt,
)
from recommender.exceptions import NotEnoughData
from recommender.extract import InteractionArrays, interactions_extract
from recommender.extract_snapshot import interactions_extract_for_training
from recommender.ml.artifacts import save_artifact
from recommender.ml.dataset import clean_test_pairs, pairs_to_csr
from recommender.ml.evaluate import evaluate
from recommender.ml.models import ALSModel, Recommender, make_model

STAGES = ["extract", "build", "fit", "evaluate", "fold_in", "save", "register", "activate"]
METRIC_NAMES = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage"]


class TrainingProgress:
    """Hooks for a progress display; the default does nothing (Celery, tests)."""

    def stage(self, name: str) -> None: ...

    def stage_done(self, name: str, seconds: float) -> None: ...

    def iteration(self, done: int, total: int) -> None: ...

    def rows(self, count: int) -> None: ...


@dataclass
class PipelineResult:
    model: Recommender
    user_ids: np.ndarray
    item_ids: np.ndarray
    matrix: sp.csr_matrix  # everything the model knows per user (train + held-out), for serving
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    counts: dict[str, int]
    split: dict[str, Any]
    data_from: datetime | None
    data_to: datetime | None
    timings: dict[str, float] = field(default_factory=dict)


class StageClock:
    def __init__(self, progress: TrainingProgress) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.progress.stage(name)
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 3)
        self.progress.stage_done(name, self.timings[name])


def _as_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(float(ts), tz=timezone.get_current_timezone())


def fit_and_evaluate(*, arrays: InteractionArrays, algorithm: str, params: dict[str, Any], now: float,
                     k: int, split: str, test_fraction: float, eval_users: int, seed: int,
                     clock: StageClock, num_threads: int = 0,
                     iteration: Callable[[int, int], None] | None = None) -> PipelineResult:
    """Everything between the extracted arrays and the artifact (stages build, fit, evaluate, fold_in). `arrays` is
    let go of once the build has read it: pass it without keeping a reference, and its memory is freed then.

    Only the training matrix is built before the fit; what does not need the fitted model (the full matrix for
    serving, the test pairs and the popularity baseline's evaluation) is done during the fit on a worker at the idle
    CPU priority (`recommender.background`), in the time the fit leaves a core free."""
    if len(arrays) == 0:
        raise NotEnoughData("There are no interactions to train on.")
    with idle_worker("train-side") as side:
        with clock.stage("build"), ThreadPoolExecutor(max_workers=1, thread_name_prefix="build") as pool:
            time_range = _time_range(arrays.timestamps)
            oldest, newest = time_range
            # The confidence (NumPy arithmetic over every event, which releases the GIL) and the merchants'
            # encoding run on a second core while this thread encodes the users and picks the holdout.
            confidence = pool.submit(event_confidence, arrays, now=decay_reference(arrays, now, time_range=time_range))
            encoded_items = pool.submit(encode, arrays.merchant_ids)
            user_ids, user_codes = encode(arrays.user_ids)
            use_time = split == "time" or (split == "auto" and np.isfinite(arrays.timestamps).all()
                                           and newest is not None and newest > oldest)
            rng = np.random.default_rng(seed)
            sample = np.arange(len(user_ids))
            if eval_users and len(sample) > eval_users:
                sample = np.sort(rng.choice(sample, size=eval_users, replace=False))
            held = holdout_mask(user_codes=user_codes, timestamps=arrays.timestamps if use_time else None,
                                users=sample if eval_users else np.zeros(0, np.int64),
                                test_fraction=test_fraction, seed=seed)
            item_ids, item_codes = encoded_items.result()
            weights = confidence.result()
            n_interactions = len(arrays)
            # The last reference to the extract's columns when the caller keeps none (`model_train`): ~300 MB at
            # 10M rows freed before the training matrix, the side work and the fit allocate theirs, so the
            # retrain's peak memory is that much lower (1,110 -> 825 MB at 10M; its wall time is unchanged).
            del arrays
            shape = (len(user_ids), len(item_ids))
            if held.any():
                kept = ~held
                train = pairs_to_csr(user_codes[kept], item_codes[kept], weights[kept], shape)
                del kept
            else:
                train = pairs_to_csr(user_codes, item_codes, weights, shape)
            if train.nnz == 0:
                raise NotEnoughData("No interaction carries a positive confidence.")
            beside_fit = side.submit(_beside_fit, train, user_codes=user_codes, item_codes=item_codes,
                                     weights=weights, held=held, sample=sample, shape=shape, k=k)
            del user_codes, item_codes, weights, held  # the side worker's now
        with clock.stage("fit"), numpy_hugepages(None):  # NumPy's default, as for a bare fit
            model = make_model(algorithm, params, num_threads=num_threads)
            model.fit(train, progress=iteration)
        with clock.stage("evaluate"):
            full, test, baseline = side.result(beside_fit)
            metrics = _rounded(evaluate(model, train, test, k=k)) if test.nnz else {}
    with clock.stage("fold_in"):
        evaluated = np.flatnonzero(np.diff(test.indptr) > 0)
        if isinstance(model, ALSModel) and len(evaluated):
            # The held-out users get factors from all their interactions, as a full retrain would.
            model.user_factors[evaluated] = model.fold_in(full[evaluated], model.user_factors[evaluated],
                                                        num_threads=num_threads)
    return PipelineResult(
        model=model, user_ids=user_ids, item_ids=item_ids, matrix=full, metrics=metrics, baseline_metrics=baseline,
        counts={"n_interactions": n_interactions, "n_users": shape[0], "n_items": shape[1], "nnz": int(full.nnz)},
        split={"kind": "time" if use_time else "random", "test_fraction": test_fraction, "k": k,
               "eval_users": int(len(evaluated)), "test_pairs": int(test.nnz), "seed": seed},
        data_from=_as_datetime(oldest) if oldest is not None else None,
        data_to=_as_datetime(newest) if newest is not None else None,
    )


def _beside_fit(train: sp.csr_matrix, *, user_codes: np.ndarray, item_codes: np.ndarray, weights: np.ndarray,
                held: np.ndarray, sample: np.ndarray, shape: tuple[int, int],
                k: int) -> tuple[sp.csr_matrix, sp.csr_matrix, dict[str, float]]:
    """What the retrain needs besides the fitted model: the full matrix (every event, for serving and the
    fold-in: `train` with the evaluation sample's rows rebuilt), the cleaned test pairs and the popularity
    baseline's metrics on them (the same for any model fitted on `train`)."""
    if not held.any():
        return train, sp.csr_matrix(shape, dtype=np.float32), {}
    full = with_rows_rebuilt(train, users=sample, user_codes=user_codes, item_codes=item_codes, weights=weights)
    test, _ = clean_test_pairs(train, pairs_to_csr(user_codes[held], item_codes[held], weights[held], shape))
    baseline = _rounded(evaluate(make_model("popularity").fit(train), train, test, k=k)) if test.nnz else {}
    return full, test, baseline


def decay_reference(arrays: InteractionArrays, now: float, *,
                    time_range: tuple[float | None, float | None] | None = None) -> float:
    """Decay ages are measured from the newest interaction (or now, if earlier): in production they are the
    same, and an imported historical data set is not decayed to nothing by the years since it was recorded.
    `time_range`: the arrays' `_time_range`, when the caller has it already (one pass over 10M timestamps)."""
    _, newest = time_range if time_range is not None else _time_range(arrays.timestamps)
    return float(min(now, newest)) if newest is not None else now


def _time_range(timestamps: np.ndarray) -> tuple[float | None, float | None]:
    """Oldest and newest finite timestamp (None, None if there is none), without copying 10M timestamps
    when all of them are finite (the usual case)."""
    finite = timestamps if np.isfinite(timestamps).all() else timestamps[np.isfinite(timestamps)]
    return (float(finite.min()), float(finite.max())) if len(finite) else (None, None)


def _madvise_hugepage_switch() -> Callable[[bool], bool] | None:
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # pragma: no cover - other NumPy layouts
        return None
    return _set_madvise_hugepage


@contextmanager
def numpy_hugepages(enabled: bool | None) -> Iterator[None]:
    """NumPy's `madvise(MADV_HUGEPAGE)` for large arrays on (True), off (False) or as NumPy set it at import
    (None) while the block runs; restored afterwards. Process-wide (NumPy has one switch); a no-op where NumPy
    lacks it.

    The retrain runs with it off (`model_train`) except for the fit: the extract and the build create dozens
    of fresh 10M-element arrays, and on this machine (a VM) first-touching them as huge pages cost up to 4x
    the kernel time of ordinary pages (ten fresh 80 MB arrays: 0.5-0.6 s without, 0.6-2.4 s with; the
    confidence step at 10M rows 1.2 s -> 0.6 s of CPU). The fit keeps NumPy's default, as a bare `implicit`
    fit has it: its factor arrays are read at random, where huge pages save TLB misses.
    """
    switch = _madvise_hugepage_switch()
    if switch is None:
        yield
        return
    previous = switch(_NUMPY_HUGEPAGE_DEFAULT if enabled is None else enabled)
    try:
        yield
    finally:
        switch(previous)


def _numpy_hugepage_default() -> bool:
    switch = _madvise_hugepage_switch()
    if switch is None:
        return True
    current = switch(True)
    switch(current)
    return bool(current)


_NUMPY_HUGEPAGE_DEFAULT = _numpy_hugepage_default()


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {name: round(float(value), 5) for name, value in metrics.items()}


def extract_window(*, data_window_days: int | None, now: datetime, clock: StageClock,
                   progress: TrainingProgress) -> InteractionArrays:
    """The interactions to train on: the last `data_window_days`, or all of them through the extract snapshot
    (`recommender.extract_snapshot`: only the rows added since the previous retrain are read)."""
    with clock.stage("extract"):
        if data_window_days:
            return interactions_extract(since=now - timedelta(days=data_window_days), progress=progress.rows)
        return interactions_extract_for_training(progress=progress.rows)[0]


def artifact_write(*, result: PipelineResult, version_id: int, meta: dict[str, Any]) -> tuple[Path, str, int]:
    """Write `<models dir>/v<id>-<algorithm>.npz` (+ `.matrix.npz` with the users' known items)."""
    directory = conf.models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"v{version_id}-{result.model.algorithm}.npz"
    # Two files, written side by side: writing, the zip's CRC and the checksum release the GIL.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="save") as pool:
        matrix_written = pool.submit(sp.save_npz, matrix_path(path), result.matrix, compressed=False)
        checksum = save_artifact(path, model=result.model, user_ids=result.user_ids, item_ids=result.item_ids,
                                 meta=json.loads(json.dumps(meta, default=str)))
        matrix_written.result()
    return path, checksum, path.stat().st_size


def matrix_path(artifact_path: str | Path) -> Path:
    path = Path(artifact_path)
    return path.with_name(path.name.removesuffix(".npz") + ".matrix.npz")
