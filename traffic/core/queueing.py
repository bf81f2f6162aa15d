"""A discrete-time stochastic queue per approach of a signalised intersection.

Model (documented in docs/traffic.md): time advances in 1-second steps. Each approach receives
Poisson arrivals at its demand rate q (veh/s) for the period. During the effective green of the
phase that serves it, the queue discharges at the saturation flow s (veh/s, lanes x per-lane rate);
in red nothing leaves. Every vehicle in the queue accrues one second of delay per step, so the
average delay per vehicle is (vehicle-seconds queued) / (vehicles arrived). A warm-up period is run
first and not counted, and the vehicles still queued at the end are charged the time they would need
to clear at saturation flow, so an oversaturated plan is not flattered by the end of the horizon.

This is the queue Webster's delay formula approximates (its first term is the deterministic uniform
delay, the second the random overflow); `traffic.core.webster.webster_delay` cross-checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Approach:
    phase_index: int
    saturation_vps: float


@dataclass
class QueueResult:
    arrivals: int
    total_delay_s: float
    per_approach_delay_s: list[float]

    @property
    def mean_delay_s(self) -> float:
        return self.total_delay_s / self.arrivals if self.arrivals else 0.0


def green_mask(*, greens_s: list[float], lost_per_phase_s: float, seconds: int, offset_s: int = 0) -> np.ndarray:
    """Boolean [phase, second] mask of effective green: phases run in order, each followed by its lost time."""
    cycle = sum(greens_s) + lost_per_phase_s * len(greens_s)
    t = (np.arange(seconds) + offset_s) % cycle
    mask = np.zeros((len(greens_s), seconds), dtype=bool)
    start = 0.0
    for i, green in enumerate(greens_s):
        mask[i] = (t >= start) & (t < start + green)
        start += green + lost_per_phase_s
    return mask


def simulate_queues(*, approaches: list[Approach], demand_vps: np.ndarray, mask: np.ndarray,
                    rng: np.random.Generator, warmup_s: int = 900) -> QueueResult:
    """Run the queues for demand_vps [approach, second] under the phase green mask [phase, second]."""
    n, seconds = demand_vps.shape
    if mask.shape[1] != seconds:
        raise ValueError("the green mask must cover the demand horizon")
    arrivals = rng.poisson(demand_vps)
    sat = np.array([a.saturation_vps for a in approaches])
    served_by = np.array([a.phase_index for a in approaches])
    queue = np.zeros(n)
    credit = np.zeros(n)  # fractional discharge capacity carried within a green
    delay = np.zeros(n)
    arrived = np.zeros(n, dtype=np.int64)
    for second in range(seconds):
        queue += arrivals[:, second]
        green = mask[served_by, second]
        credit = np.where(green, credit + sat, 0.0)
        leaving = np.minimum(np.floor(credit), queue)
        queue -= leaving
        credit -= leaving
        credit = np.minimum(credit, 1.0)  # an empty approach cannot bank capacity
        if second >= warmup_s:
            delay += queue
            arrived += arrivals[:, second]
    # Residual queue: each remaining vehicle needs on average queue / (2 s) more seconds at saturation.
    delay += queue * queue / (2 * np.maximum(sat, 1e-9))
    return QueueResult(arrivals=int(arrived.sum()), total_delay_s=float(delay.sum()),
                       per_approach_delay_s=[float(d / a) if a else 0.0 for d, a in zip(delay, arrived, strict=True)])
