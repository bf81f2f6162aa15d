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
    "deviation_now", "tod_sin", "tod_cos", "weekend", "free_flow_kmh", "lanes", "city_deviation_now",
    "city_deviation_trend_15", "deviation_15", "profile_target_level",
)
PROFILE_TARGET = FEATURE_NAMES.index("profile_target")


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


def _slot_sums(ratio: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of the finite ratios per segment and time-of-week slot: ([s, N_SLOTS], [s, N_SLOTS])."""
    finite = np.isfinite(ratio)
    onehot = np.zeros((slots.size, N_SLOTS))
    onehot[np.arange(slots.size), slots] = 1.0
    return np.where(finite, ratio, 0.0) @ onehot, finite.astype(float) @ onehot


def _profile_from(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[2, segment, N_SLOTS]: the mean ratio per slot and how it was found (its `level`), with the fallbacks:
    0 the slot's own day type; 1 for a weekend slot the other weekend day (Saturday and Sunday look alike, and a
    week of history has one of each); 2 the time of day over all day types; 3 the segment's mean."""
    def mean(s, c):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, s / np.maximum(c, 1e-12), np.nan)

    d = SLOTS_PER_DAY
    weekend = mean(sums[:, d:2 * d] + sums[:, 2 * d:], counts[:, d:2 * d] + counts[:, 2 * d:])
    tod = mean(sums[:, :d] + sums[:, d:2 * d] + sums[:, 2 * d:], counts[:, :d] + counts[:, d:2 * d] + counts[:, 2 * d:])
    segment = mean(sums.sum(axis=1), counts.sum(axis=1))
    segment = np.where(np.isfinite(segment), segment, 0.8)
    profile = mean(sums, counts)
    level = np.where(np.isfinite(profile), 0.0, 3.0)
    fallbacks = [(np.concatenate([np.full_like(tod, np.nan), np.tile(weekend, 2)], axis=1), 1.0),
                 (np.tile(tod, 3), 2.0), (np.broadcast_to(segment[:, None], profile.shape), 3.0)]
    for values, step in fallbacks:
        fill = ~np.isfinite(profile) & np.isfinite(values)
        profile = np.where(fill, values, profile)
        level = np.where(fill, step, level)
    return np.stack([profile, level])


def build_profile(ratio: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """[2, segment, N_SLOTS]: mean ratio per segment and time-of-week slot, and its fallback level."""
    return _profile_from(*_slot_sums(ratio, slots))


def local_day(epochs: np.ndarray, utc_offsets_s: np.ndarray) -> np.ndarray:
    return (np.asarray(epochs, dtype=np.int64) + np.asarray(utc_offsets_s, dtype=np.int64)) // 86400


class LeaveOneDayOut:
    """The time-of-week profile as it would have been known without the day being looked up.

    Training rows read the profile through this: built from the same history, an in-sample profile holds
    the very value a row is asked to predict (with a week of data a weekend slot has one sample, so the
    profile *is* the target), the model learns to trust it, and then fails on new days. Excluding the looked-up
    day makes the training features as good as the ones the model meets when serving, and no better."""

    def __init__(self, ratio: np.ndarray, epochs: np.ndarray, utc_offsets_s: np.ndarray):
        slots = time_of_week_slot(epochs, utc_offsets_s)
        days = local_day(epochs, utc_offsets_s)
        self.sums, self.counts = _slot_sums(ratio, slots)
        self.by_day = {int(d): _slot_sums(ratio[:, days == d], slots[days == d]) for d in np.unique(days)}
        self._cache: dict[int, np.ndarray] = {}

    def _without(self, day: int) -> np.ndarray:
        if day not in self._cache:
            day_sums, day_counts = self.by_day.get(day, (0.0, 0.0))
            self._cache[day] = _profile_from(self.sums - day_sums, self.counts - day_counts)
        return self._cache[day]

    def lookup(self, epochs: np.ndarray, utc_offsets_s: np.ndarray) -> np.ndarray:
        slots = time_of_week_slot(epochs, utc_offsets_s)
        days = local_day(epochs, utc_offsets_s)
        out = np.empty((2, self.sums.shape[0], slots.size))
        for day in np.unique(days):
            cols = days == day
            out[:, :, cols] = self._without(int(day))[:, :, slots[cols]]
        return out


def profile_lookup(profile: np.ndarray | LeaveOneDayOut, epochs: np.ndarray, utc_offsets_s: np.ndarray) -> np.ndarray:
    """[2, segment, len(epochs)]: the profile's value and level at each moment's time-of-week slot."""
    if isinstance(profile, LeaveOneDayOut):
        return profile.lookup(epochs, utc_offsets_s)
    return profile[:, :, time_of_week_slot(epochs, utc_offsets_s)]


def feature_matrix(*, ratio: np.ndarray, t_index: np.ndarray, horizon_bins: int, epochs: np.ndarray,
                   utc_offsets_s: np.ndarray, profile: np.ndarray | LeaveOneDayOut, free_flow_kmh: np.ndarray,
                   lanes: np.ndarray) -> np.ndarray:
    """Features for every segment at each time index in `t_index` (rows ordered t-major, segment-minor).

    `epochs`/`utc_offsets_s` cover the grid; the target time's clock is extrapolated from the grid step.
    `profile` is `build_profile`'s [2, segment, slot] array (serving, evaluation) or a `LeaveOneDayOut`
    (training rows). The target's profile level tells the model how much history backs the profile there."""
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
    profile_now = profile_lookup(profile, now_epochs, offsets)[0]
    profile_target, target_level = profile_lookup(profile, target_epochs, offsets)
    lag3_epochs = epochs[np.maximum(t_index - 3, 0)]
    deviation = columns[0] - profile_now
    deviation_15 = columns[3] - profile_lookup(profile, lag3_epochs, utc_offsets_s[np.maximum(t_index - 3, 0)])[0]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # The whole city's deviation from its usual speeds: weather and events move every segment together,
        # and 224 segments measure it far better than one segment's noisy reading.
        city_deviation = np.nanmedian(deviation, axis=0)
        city_deviation_15 = np.nanmedian(deviation_15, axis=0)
    hour, daytype = local_clock(target_epochs, offsets)
    angle = 2 * np.pi * hour / 24.0
    shape = (n_seg, t_index.size)
    columns += [
        mean3, trend, profile_now, profile_target, deviation,
        np.broadcast_to(np.sin(angle), shape), np.broadcast_to(np.cos(angle), shape),
        np.broadcast_to((daytype > 0).astype(float), shape),
        np.broadcast_to(free_flow_kmh[:, None] / 100.0, shape), np.broadcast_to(lanes[:, None].astype(float), shape),
        np.broadcast_to(city_deviation, shape), np.broadcast_to(city_deviation - city_deviation_15, shape),
        deviation_15, target_level,
    ]
    # [feature, segment, t] -> rows (t, segment)
    return np.stack(columns).transpose(2, 1, 0).reshape(-1, len(columns))


def targets(ratio: np.ndarray, t_index: np.ndarray, horizon_bins: int) -> np.ndarray:
    idx = np.asarray(t_index) + horizon_bins
    valid = idx < ratio.shape[1]
    values = np.where(valid[None, :], ratio[:, np.minimum(idx, ratio.shape[1] - 1)], np.nan)
    return values.T.reshape(-1)
