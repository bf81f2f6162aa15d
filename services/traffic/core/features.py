"""Time-of-week slots, historical profiles and the speed predictor's features.

Speeds are modelled as the ratio to the segment's free-flow speed (so one model serves every
segment) on a regular 5-minute grid: `ratio[segment, t]`, NaN where no observation exists.

"Time of week" is (day type, quarter hour of the local day), day type being Monday-Friday,
Saturday or Sunday: a city rarely has many weeks of clean history, and weekdays share their rush
hours, so pooling them gives each slot enough samples. A slot with no history falls back to the
time-of-day mean, then to the segment's mean.
"""

from __future__ import annotations

import warnings

import numpy as np

BIN_S = 300
SLOTS_PER_DAY = 96  # quarter hours
N_SLOTS = 3 * SLOTS_PER_DAY
LAGS = (0, 1, 2, 3, 6, 12)  # in 5-minute bins
HORIZONS_MIN = (15, 30, 60)
FEATURE_NAMES = (
    *(f"lag_{lag}" for lag in LAGS), "mean_last_3", "trend_3", "profile_now", "profile_target",
    "deviation_now", "tod_sin", "tod_cos", "weekend", "free_flow_kmh", "lanes",
)


def local_clock(epochs: np.ndarray, utc_offsets_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local hour of day as a float, day type 0=Mon-Fri 1=Sat 2=Sun) for UTC epoch seconds."""
    local = np.asarray(epochs, dtype=np.int64) + np.asarray(utc_offsets_s, dtype=np.int64)
    hour = (local % 86400) / 3600.0
    weekday = ((local // 86400) + 3) % 7  # 1970-01-01 was a Thursday (weekday 3, Monday = 0)
    daytype = np.where(weekday < 5, 0, np.where(weekday == 5, 1, 2))
    return hour, daytype


def time_of_week_slot(epochs: np.ndarray, utc_offsets_s: np.ndarray) -> np.ndarray:
    hour, daytype = local_clock(epochs, utc_offsets_s)
    return daytype * SLOTS_PER_DAY + np.minimum((hour * 4).astype(np.int64), SLOTS_PER_DAY - 1)


def _nanmean_by(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-row mean of values[row, t] grouped by groups[t], ignoring NaN; NaN where a group is empty."""
    finite = np.isfinite(values)
    sums = np.zeros((values.shape[0], n_groups))
    counts = np.zeros((values.shape[0], n_groups))
    for g in np.unique(groups):
        cols = groups == g
        sums[:, g] = np.where(finite[:, cols], values[:, cols], 0.0).sum(axis=1)
        counts[:, g] = finite[:, cols].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def build_profile(ratio: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Mean ratio per segment and time-of-week slot [segment, N_SLOTS] with the documented fallbacks."""
    profile = _nanmean_by(ratio, slots, N_SLOTS)
    tod = _nanmean_by(ratio, slots % SLOTS_PER_DAY, SLOTS_PER_DAY)
    tod_full = np.tile(tod, 3)
    profile = np.where(np.isfinite(profile), profile, tod_full)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        segment_mean = np.nanmean(np.where(np.isfinite(ratio), ratio, np.nan), axis=1) if ratio.size else np.array([])
    segment_mean = np.where(np.isfinite(segment_mean), segment_mean, 0.8)
    return np.where(np.isfinite(profile), profile, segment_mean[:, None])


def feature_matrix(*, ratio: np.ndarray, t_index: np.ndarray, horizon_bins: int, epochs: np.ndarray,
                   utc_offsets_s: np.ndarray, profile: np.ndarray, free_flow_kmh: np.ndarray,
                   lanes: np.ndarray) -> np.ndarray:
    """Features for every segment at each time index in `t_index` (rows ordered t-major, segment-minor).

    `epochs`/`utc_offsets_s` cover the grid; the target time's clock is extrapolated from the grid step."""
    n_seg = ratio.shape[0]
    t_index = np.asarray(t_index, dtype=np.int64)
    columns = []
    for lag in LAGS:
        idx = t_index - lag
        lagged = np.where(idx[None, :] >= 0, ratio[:, np.maximum(idx, 0)], np.nan)
        columns.append(lagged)
    last3 = np.stack(columns[:3])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: a segment without recent data
        mean3 = np.nanmean(last3, axis=0)
    trend = columns[0] - columns[3]
    now_epochs = epochs[t_index]
    target_epochs = now_epochs + horizon_bins * BIN_S
    offsets = utc_offsets_s[t_index]
    slot_now = time_of_week_slot(now_epochs, offsets)
    slot_target = time_of_week_slot(target_epochs, offsets)
    profile_now = profile[:, slot_now]
    profile_target = profile[:, slot_target]
    hour, daytype = local_clock(target_epochs, offsets)
    angle = 2 * np.pi * hour / 24.0
    shape = (n_seg, t_index.size)
    columns += [
        mean3, trend, profile_now, profile_target, columns[0] - profile_now,
        np.broadcast_to(np.sin(angle), shape), np.broadcast_to(np.cos(angle), shape),
        np.broadcast_to((daytype > 0).astype(float), shape),
        np.broadcast_to(free_flow_kmh[:, None] / 100.0, shape), np.broadcast_to(lanes[:, None].astype(float), shape),
    ]
    # [feature, segment, t] -> rows (t, segment)
    return np.stack(columns).transpose(2, 1, 0).reshape(-1, len(columns))


def targets(ratio: np.ndarray, t_index: np.ndarray, horizon_bins: int) -> np.ndarray:
    idx = np.asarray(t_index) + horizon_bins
    valid = idx < ratio.shape[1]
    values = np.where(valid[None, :], ratio[:, np.minimum(idx, ratio.shape[1] - 1)], np.nan)
    return values.T.reshape(-1)
