"""Robust z-scores (Iglewicz & Hoaglin's modified z-score) for incident detection.

    z = 0.6745 * (x - median) / MAD,      MAD = median(|x_i - median|)

0.6745 makes MAD a consistent estimator of the standard deviation for normal data. Unlike a mean/std
score, one past incident in the history barely moves the median or the MAD, so it does not mask
the next one. A MAD floor keeps a perfectly regular segment (MAD≈0) from flagging noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONSISTENCY = 0.6745


@dataclass(frozen=True)
class RobustScore:
    z: float
    median: float
    mad: float
    n: int


def robust_z(value: float, history: np.ndarray, *, mad_floor: float = 1.0) -> RobustScore | None:
    history = np.asarray(history, dtype=float)
    history = history[np.isfinite(history)]
    if history.size == 0:
        return None
    median = float(np.median(history))
    mad = max(float(np.median(np.abs(history - median))), mad_floor)
    return RobustScore(z=CONSISTENCY * (value - median) / mad, median=median, mad=mad, n=int(history.size))


@dataclass(frozen=True)
class IncidentRule:
    z_threshold: float = -3.5  # Iglewicz & Hoaglin's outlier cut-off
    min_drop_ratio: float = 0.3  # and at least 30 % slower than usual, so tiny MADs cannot alarm
    min_history: int = 6


def is_incident(value: float, history: np.ndarray, *, rule: IncidentRule = IncidentRule(),
                mad_floor: float = 1.0) -> RobustScore | None:
    """The score when `value` is an incident against `history`, else None."""
    score = robust_z(value, history, mad_floor=mad_floor)
    if score is None or score.n < rule.min_history:
        return None
    if score.z <= rule.z_threshold and value <= (1 - rule.min_drop_ratio) * score.median:
        return score
    return None
