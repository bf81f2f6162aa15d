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
BINS_PER_SLOT = 900 // BIN_S
LAGS = (0, 1, 2, 3, 6, 12)  # in 5-minute bins
HORIZONS_MIN = (15, 30, 60)
TRACK_BINS = 36  # the track record's window: the last 3 hours
# Grid columns a forecast reads before its issue time: the lags, and the track record of the longest horizon.
HISTORY_BINS = max(max(LAGS), TRACK_BINS + max(HORIZONS_MIN) * 60 // BIN_S) + 1
FEATURE_NAMES = (
    *(f"lag_{lag}" for lag in LAGS), "mean_last_3", "trend_3", "profile_now", "profile_target",
    "deviation_now", "tod_sin", "tod_cos", "weekend", "free_flow_kmh", "lanes", "city_deviation_now",
    "city_deviation_trend_15", "deviation_15", "profile_target_level", "profile_target_days", "profile_change",
    "deviation_1h", "city_deviation_1h", "city_deviation_3h", "profile_error_3h", "city_profile_error_3h",
    "last_value_error_3h", "city_last_value_error_3h", "profile_weight_3h", "baseline_blend",
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
    """[3, segment, N_SLOTS]: the mean ratio per slot, how it was found (its `level`) and how many days of
    observations back it (`days`, quarter hours seen / 3), with the fallbacks:
    0 the slot's own day type; 1 for a weekend slot the other weekend day (Saturday and Sunday look alike, and a
    week of history has one of each); 2 the time of day over all day types; 3 the segment's mean."""
    def mean(s, c):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, s / np.maximum(c, 1e-12), np.nan)

    d = SLOTS_PER_DAY
    weekend_counts = counts[:, d:2 * d] + counts[:, 2 * d:]
    weekend = mean(sums[:, d:2 * d] + sums[:, 2 * d:], weekend_counts)
    tod_counts = counts[:, :d] + weekend_counts
    tod = mean(sums[:, :d] + sums[:, d:2 * d] + sums[:, 2 * d:], tod_counts)
    segment = mean(sums.sum(axis=1), counts.sum(axis=1))
    segment = np.where(np.isfinite(segment), segment, 0.8)
    profile = mean(sums, counts)
    level = np.where(np.isfinite(profile), 0.0, 3.0)
    found = np.where(np.isfinite(profile), counts, 0.0)
    fallbacks = [(np.concatenate([np.full_like(tod, np.nan), np.tile(weekend, 2)], axis=1),
                  np.tile(weekend_counts, 3), 1.0),
                 (np.tile(tod, 3), np.tile(tod_counts, 3), 2.0),
                 (np.broadcast_to(segment[:, None], profile.shape), np.zeros_like(profile), 3.0)]
    for values, value_counts, step in fallbacks:
        fill = ~np.isfinite(profile) & np.isfinite(values)
        profile = np.where(fill, values, profile)
        level = np.where(fill, step, level)
        found = np.where(fill, value_counts, found)
    return np.stack([profile, level, found / BINS_PER_SLOT])


def build_profile(ratio: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """[3, segment, N_SLOTS]: mean ratio per segment and time-of-week slot, its fallback level and days."""
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
        out = np.empty((3, self.sums.shape[0], slots.size))
        for day in np.unique(days):
            cols = days == day
            out[:, :, cols] = self._without(int(day))[:, :, slots[cols]]
        return out


def day_type(day: int) -> int:
    weekday = (day + 3) % 7  # local day number 0 was a Thursday
    return 0 if weekday < 5 else 1 if weekday == 5 else 2


class OneOtherDay(LeaveOneDayOut):
    """The time-of-week profile as known from a single other day of the same day type (the nearest one).

    Serving often meets such a profile: a weekend day's slots hold one earlier Saturday or Sunday, a city's first
    week one day of everything. With leave-one-day-out rows alone a week of history trains only on weekday
    profiles of four days and on weekend profiles borrowed from another day type, so the model learned how far to
    trust those two and misjudged the test day's one-day profile (the benchmark's 60-minute losses). Training
    rows read both lookups; `profile_target_days` and the profile's recent error tell the model which it has.
    A day with no other day of its type reads the profile without its own day."""

    def _without(self, day: int) -> np.ndarray:
        if day not in self._cache:
            others = [d for d in self.by_day if d != day and day_type(d) == day_type(day)]
            if not others:
                return super()._without(day)
            nearest = min(others, key=lambda d: (abs(d - day), d))
            self._cache[day] = _profile_from(*self.by_day[nearest])
        return self._cache[day]


def profile_lookup(profile: np.ndarray | LeaveOneDayOut, epochs: np.ndarray, utc_offsets_s: np.ndarray) -> np.ndarray:
    """[3, segment, len(epochs)]: the profile's value, level and days at each moment's time-of-week slot."""
    if isinstance(profile, LeaveOneDayOut):
        return profile.lookup(epochs, utc_offsets_s)
    return profile[:, :, time_of_week_slot(epochs, utc_offsets_s)]


def _trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the finite values over the last `window` columns up to each column (NaN where none)."""
    finite = np.isfinite(values)
    pad = [(0, 0)] * (values.ndim - 1) + [(1, 0)]
    sums = np.pad(np.cumsum(np.where(finite, values, 0.0), axis=-1), pad)
    counts = np.pad(np.cumsum(finite, axis=-1), pad)
    t = np.arange(values.shape[-1])
    first = np.maximum(t + 1 - window, 0)
    n = counts[..., t + 1] - counts[..., first]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[..., t + 1] - sums[..., first]) / np.maximum(n, 1), np.nan)


def _city_median(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no segment reported
        return np.nanmedian(values, axis=0)


def _track_record(*, ratio: np.ndarray, t_index: np.ndarray, horizon_bins: int, epochs: np.ndarray,
                  utc_offsets_s: np.ndarray, profile: np.ndarray | LeaveOneDayOut) -> list[np.ndarray]:
    """How the profile and the last value have been doing lately, [segment, t] each: the segment's and the city's
    mean deviation from the profile over the last hour (the city's also over 3 h), and over the last 3 h the mean
    absolute error of the profile and of the last value `horizon_bins` earlier, per segment and city-wide. The
    profile's quality differs between a weekday backed by four days and a weekend day borrowed from another day
    type; its recent record says which one the model is looking at, at serving as in training."""
    first = max(int(t_index.min()) - TRACK_BINS - horizon_bins, 0)
    window = ratio[:, first:int(t_index.max()) + 1]
    deviation = window - profile_lookup(profile, epochs[first:first + window.shape[1]],
                                        utc_offsets_s[first:first + window.shape[1]])[0]
    earlier = np.full_like(window, np.nan)
    earlier[:, horizon_bins:] = window[:, :-horizon_bins]
    city_deviation = _city_median(deviation)[None, :]
    profile_error = _trailing_mean(np.abs(deviation), TRACK_BINS)
    last_value_error = _trailing_mean(np.abs(window - earlier), TRACK_BINS)
    # The weight of the profile in the city's best mix of the two baselines over the last 3 h of known targets:
    # least squares of (target - last value) on (profile - last value), every segment pooled.
    towards_profile = (window - deviation) - earlier
    with np.errstate(invalid="ignore"):
        products = np.nansum((window - earlier) * towards_profile, axis=0)[None, :]
        squares = np.nansum(towards_profile**2, axis=0)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.clip(_trailing_mean(products, TRACK_BINS) / _trailing_mean(squares, TRACK_BINS), 0.0, 1.0)[0]
    weight = np.where(np.isfinite(weight), weight, 0.5)
    cols = t_index - first
    shape = (ratio.shape[0], t_index.size)
    return [
        _trailing_mean(deviation, 12)[:, cols],
        np.broadcast_to(_trailing_mean(city_deviation, 12)[0, cols], shape),
        np.broadcast_to(_trailing_mean(city_deviation, TRACK_BINS)[0, cols], shape),
        profile_error[:, cols], np.broadcast_to(_city_median(profile_error)[cols], shape),
        last_value_error[:, cols], np.broadcast_to(_city_median(last_value_error)[cols], shape),
        np.broadcast_to(weight[cols], shape),
    ]


def feature_matrix(*, ratio: np.ndarray, t_index: np.ndarray, horizon_bins: int, epochs: np.ndarray,
                   utc_offsets_s: np.ndarray, profile: np.ndarray | LeaveOneDayOut, free_flow_kmh: np.ndarray,
                   lanes: np.ndarray) -> np.ndarray:
    """Features for every segment at each time index in `t_index` (rows ordered t-major, segment-minor).

    `epochs`/`utc_offsets_s` cover the grid; the target time's clock is extrapolated from the grid step.
    `profile` is `build_profile`'s [3, segment, slot] array (serving, evaluation) or a `LeaveOneDayOut`
    (training rows). The target's profile level and days tell the model how much history backs the profile
    there, its recent track record how well it has been doing."""
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
    profile_target, target_level, target_days = profile_lookup(profile, target_epochs, offsets)
    lag3_epochs = epochs[np.maximum(t_index - 3, 0)]
    deviation = columns[0] - profile_now
    deviation_15 = columns[3] - profile_lookup(profile, lag3_epochs, utc_offsets_s[np.maximum(t_index - 3, 0)])[0]
    # The whole city's deviation from its usual speeds: weather and events move every segment together,
    # and 224 segments measure it far better than one segment's noisy reading.
    city_deviation = _city_median(deviation)
    city_deviation_15 = _city_median(deviation_15)
    hour, daytype = local_clock(target_epochs, offsets)
    angle = 2 * np.pi * hour / 24.0
    shape = (n_seg, t_index.size)
    columns += [
        mean3, trend, profile_now, profile_target, deviation,
        np.broadcast_to(np.sin(angle), shape), np.broadcast_to(np.cos(angle), shape),
        np.broadcast_to((daytype > 0).astype(float), shape),
        np.broadcast_to(free_flow_kmh[:, None] / 100.0, shape), np.broadcast_to(lanes[:, None].astype(float), shape),
        np.broadcast_to(city_deviation, shape), np.broadcast_to(city_deviation - city_deviation_15, shape),
        deviation_15, target_level, target_days, profile_target - profile_now,
        *_track_record(ratio=ratio, t_index=t_index, horizon_bins=horizon_bins, epochs=epochs,
                       utc_offsets_s=utc_offsets_s, profile=profile),
    ]
    # The two baselines mixed by that weight: where the city's recent targets put the future between them.
    weight, last_value = columns[-1], np.where(np.isfinite(columns[0]), columns[0], profile_target)
    columns.append(weight * profile_target + (1 - weight) * last_value)
    # [feature, segment, t] -> rows (t, segment)
    return np.stack(columns).transpose(2, 1, 0).reshape(-1, len(columns))


def targets(ratio: np.ndarray, t_index: np.ndarray, horizon_bins: int) -> np.ndarray:
    idx = np.asarray(t_index) + horizon_bins
    valid = idx < ratio.shape[1]
    values = np.where(valid[None, :], ratio[:, np.minimum(idx, ratio.shape[1] - 1)], np.nan)
    return values.T.reshape(-1)
