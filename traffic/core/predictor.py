"""Train and evaluate the speed predictor (one HistGradientBoostingRegressor per horizon).

Evaluation is a time split: the last `test_hours` of the grid are held out, the time-of-week
profile used by both the features and the baseline comes from the training part only (no
leakage), and MAE is reported in km/h for the model and two naive baselines:

- last value: the speed now is the speed in h minutes;
- time of week: the segment's historical mean for the target's time-of-week slot.

The model is fit on the ratio to free-flow speed; errors are converted back to km/h per segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from traffic.core.features import (
    BIN_S,
    FEATURE_NAMES,
    HORIZONS_MIN,
    LAGS,
    PROFILE_TARGET,
    LeaveOneDayOut,
    OneOtherDay,
    build_profile,
    feature_matrix,
    targets,
    time_of_week_slot,
)

# One OpenMP thread: on a small shared machine HGB's spinning OpenMP workers slow it down 20-30x.
MODEL_PARAMS = {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 40,
                "l2_regularization": 1.0, "random_state": 0}


class SpeedModel:
    """Two gradient-boosted trees averaged: one predicts the ratio itself, one its departure from the
    time-of-week profile at the target time. The first is better where the profile is weak (a weekend with
    one of its kind in the history), the second where it is good (a weekday at 60 minutes); the mean of the two
    beats each of them on the benchmark's weeks."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> SpeedModel:
        self.level = HistGradientBoostingRegressor(**MODEL_PARAMS).fit(x, y)
        self.residual = HistGradientBoostingRegressor(**MODEL_PARAMS).fit(x, y - x[:, PROFILE_TARGET])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 0.5 * (self.level.predict(x) + x[:, PROFILE_TARGET] + self.residual.predict(x))


@dataclass
class SpeedGrid:
    """Observed speeds on the regular 5-minute grid."""

    segment_ids: np.ndarray  # int64 [s]
    epochs: np.ndarray  # int64 [t]
    utc_offsets_s: np.ndarray  # int64 [t]
    speed_kmh: np.ndarray  # float [s, t], NaN = missing
    free_flow_kmh: np.ndarray  # [s]
    lanes: np.ndarray  # [s]

    @property
    def ratio(self) -> np.ndarray:
        return self.speed_kmh / self.free_flow_kmh[:, None]


@dataclass
class TrainedPredictor:
    models: dict[int, SpeedModel]
    profile: np.ndarray  # [3, segment, slot]: ratio, fallback level and days, from all the data (for serving)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    train_rows: int = 0

    def beats_baselines(self) -> bool:
        return bool(self.metrics) and all(
            m["model"] < m["last_value"] and m["model"] < m["time_of_week"] for m in self.metrics.values()
        )

    def summary_mae(self) -> dict[str, float]:
        """Mean over horizons of each MAE: the one-line figure of a training run."""
        keys = ("model", "last_value", "time_of_week")
        return {k: round(float(np.mean([m[k] for m in self.metrics.values()])), 3) for k in keys}


def _sample_times(start: int, stop: int, horizon_bins: int, n_t: int) -> np.ndarray:
    first = max(start, max(LAGS))
    last = min(stop, n_t - horizon_bins)
    return np.arange(first, last)


def _dataset(grid: SpeedGrid, profile: np.ndarray | LeaveOneDayOut, t_index: np.ndarray, horizon_bins: int):
    x = feature_matrix(ratio=grid.ratio, t_index=t_index, horizon_bins=horizon_bins, epochs=grid.epochs,
                       utc_offsets_s=grid.utc_offsets_s, profile=profile, free_flow_kmh=grid.free_flow_kmh,
                       lanes=grid.lanes)
    y = targets(grid.ratio, t_index, horizon_bins)
    ffs = np.tile(grid.free_flow_kmh, t_index.size)
    keep = np.isfinite(y) & np.isfinite(x[:, 0])  # a last value must exist (the baseline needs it too)
    return x[keep], y[keep], ffs[keep]


def train_and_evaluate(grid: SpeedGrid, *, horizons_min: tuple[int, ...] = HORIZONS_MIN, test_hours: float = 24.0,
                       max_train_rows: int = 40_000, max_test_rows: int = 40_000, seed: int = 0,
                       threads: int = 1) -> TrainedPredictor:
    n_t = grid.epochs.size
    test_bins = int(test_hours * 3600 / BIN_S)
    split = n_t - test_bins
    if split <= max(LAGS) + 12:
        raise ValueError("not enough history to train: need more than the test window plus an hour")
    rng = np.random.default_rng(seed)
    slots = time_of_week_slot(grid.epochs, grid.utc_offsets_s)
    train_profile = build_profile(grid.ratio[:, :split], slots[:split])
    # Training rows see the profile without their own day (see LeaveOneDayOut), and again as one other day of
    # their type would have it (see OneOtherDay); test rows the training profile.
    history = (grid.ratio[:, :split], grid.epochs[:split], grid.utc_offsets_s[:split])
    train_lookups = (LeaveOneDayOut(*history), OneOtherDay(*history))
    metrics: dict[str, dict[str, float]] = {}
    models: dict[int, SpeedModel] = {}
    train_rows = 0
    with threadpool_limits(threads):
        for horizon in horizons_min:
            h = horizon * 60 // BIN_S
            train_t = _sample_times(0, split - h, h, n_t)  # targets stay inside the training part
            test_t = _sample_times(split - h, n_t, h, n_t)
            parts = [_dataset(grid, lookup, train_t, h) for lookup in train_lookups]
            x_train = np.concatenate([x for x, _, _ in parts])
            y_train = np.concatenate([y for _, y, _ in parts])
            if len(y_train) > max_train_rows:
                pick = rng.choice(len(y_train), max_train_rows, replace=False)
                x_train, y_train = x_train[pick], y_train[pick]
            model = SpeedModel().fit(x_train, y_train)
            train_rows += len(y_train)
            x_test, y_test, ffs = _dataset(grid, train_profile, test_t, h)
            if len(y_test) > max_test_rows:
                pick = rng.choice(len(y_test), max_test_rows, replace=False)
                x_test, y_test, ffs = x_test[pick], y_test[pick], ffs[pick]
            if len(y_test) == 0:
                raise ValueError("no test rows: the held-out window has no observations")
            predicted = model.predict(x_test)
            last_value = x_test[:, 0]
            time_of_week = x_test[:, PROFILE_TARGET]
            metrics[str(horizon)] = {
                "model": round(float(np.mean(np.abs(predicted - y_test) * ffs)), 3),
                "last_value": round(float(np.mean(np.abs(last_value - y_test) * ffs)), 3),
                "time_of_week": round(float(np.mean(np.abs(time_of_week - y_test) * ffs)), 3),
                "test_rows": len(y_test),
            }
            models[horizon] = model
    # The evaluated models serve; at serving time they read the profile of all the data.
    full_profile = build_profile(grid.ratio, slots)
    return TrainedPredictor(models=models, profile=full_profile, metrics=metrics, train_rows=train_rows)


def fits_these_features(models: dict[int, SpeedModel], profile: np.ndarray) -> bool:
    """Whether `models` and `profile` (a stored version's) were made with this code's features: the same feature
    columns and profile layers. A version trained before the features changed is not, and would fail or predict
    from misplaced columns: it has to be retrained."""
    layers = build_profile(np.ones((1, 1)), np.zeros(1, np.int64)).shape[0]
    return (profile.ndim == 3 and profile.shape[0] == layers and all(
        getattr(getattr(model, "level", None), "n_features_in_", None) == len(FEATURE_NAMES)
        and getattr(getattr(model, "residual", None), "n_features_in_", None) == len(FEATURE_NAMES)
        for model in models.values()))


def predict_latest(*, models: dict[int, SpeedModel], grid: SpeedGrid,
                   profile: np.ndarray) -> dict[int, np.ndarray]:
    """Predicted speed (km/h) per segment for each horizon, from the last column of the grid.
    Segments without a recent observation get their time-of-week profile."""
    t = np.array([grid.epochs.size - 1])
    result = {}
    for horizon, model in models.items():
        h = horizon * 60 // BIN_S
        x = feature_matrix(ratio=grid.ratio, t_index=t, horizon_bins=h, epochs=grid.epochs,
                           utc_offsets_s=grid.utc_offsets_s, profile=profile, free_flow_kmh=grid.free_flow_kmh,
                           lanes=grid.lanes)
        ratio = np.where(np.isfinite(x[:, 0]), model.predict(x), x[:, PROFILE_TARGET])
        result[horizon] = np.clip(ratio, 0.02, 1.3) * grid.free_flow_kmh
    return result
