"""A traffic simulator for the demo and the tests: per segment and interval, vehicle count, mean speed
and occupancy with daily and weekly patterns, rush hours, weather-like noise and injected incidents.

Demand (volume/capacity) follows the local time of day: morning and evening rush hours on weekdays,
a flatter midday bump at weekends, quiet nights; each segment has its own popularity and arterials
carry more. Speed follows a BPR-style curve, v = v_ff / (1 + 0.9 (v/c)^3). "Weather" is a city-wide,
slowly varying AR(1) factor (a rainy afternoon slows everyone); each segment adds its own AR(1)
noise. Incidents cut a segment's speed to 25-50 % for 30-120 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from traffic.core.features import local_clock


@dataclass
class InjectedIncident:
    segment_index: int
    start_index: int
    end_index: int  # exclusive
    severity: float  # speed multiplier


@dataclass
class SimulatedTraffic:
    epochs: np.ndarray  # int64 [t] interval starts (UTC seconds)
    speed_kmh: np.ndarray  # float [segment, t]
    count: np.ndarray  # int [segment, t]
    occupancy: np.ndarray  # float [segment, t]
    incidents: list[InjectedIncident]


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float, sigma: float) -> np.ndarray:
    """AR(1) along the last axis with stationary standard deviation `sigma`."""
    noise = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), size=shape)
    out = np.empty(shape)
    out[:, 0] = rng.normal(0.0, sigma, size=shape[0])
    for t in range(1, shape[1]):
        out[:, t] = phi * out[:, t - 1] + noise[:, t]
    return out


def demand_profile(hour: np.ndarray, daytype: np.ndarray) -> np.ndarray:
    """Volume/capacity of an average segment at local hour-of-day (float) and day type (0 weekday,
    1 Saturday, 2 Sunday)."""
    night = 0.12 + 0.25 * np.exp(-((hour - 13.0) ** 2) / (2 * 4.0**2))
    am = 0.62 * np.exp(-((hour - 8.2) ** 2) / (2 * 0.8**2))
    pm = 0.68 * np.exp(-((hour - 18.0) ** 2) / (2 * 1.1**2))
    weekend_bump = 0.35 * np.exp(-((hour - 15.0) ** 2) / (2 * 2.5**2))
    weekday = night + am + pm
    weekend = night + weekend_bump + 0.15 * (am + pm)
    return np.where(daytype == 0, weekday, np.where(daytype == 1, weekend * 1.05, weekend * 0.9))


def simulate(*, free_flow_kmh: np.ndarray, lanes: np.ndarray, arterial: np.ndarray, epochs: np.ndarray,
             utc_offsets_s: np.ndarray, interval_s: int, rng: np.random.Generator,
             incidents_per_day: float = 3.0) -> SimulatedTraffic:
    n_seg, n_t = free_flow_kmh.size, epochs.size
    hour, daytype = local_clock(epochs, utc_offsets_s)
    base = demand_profile(hour, daytype)  # [t]
    popularity = rng.lognormal(0.0, 0.25, size=n_seg) * np.where(arterial, 1.25, 0.85)
    steps_per_hour = 3600 / interval_s
    # Weather: one city-wide slow factor (correlation time ~3 h); rain adds demand and cuts speed.
    weather = _ar1(rng, (1, n_t), phi=float(np.exp(-1 / (3 * steps_per_hour))), sigma=1.0)[0]
    rain = np.clip(weather - 0.8, 0, None)  # ~20 % of the time it "rains", with varying intensity
    local_noise = _ar1(rng, (n_seg, n_t), phi=float(np.exp(-1 / (0.5 * steps_per_hour))), sigma=0.06)
    vc = popularity[:, None] * base[None, :] * (1 + 0.15 * rain)[None, :] * np.exp(local_noise)
    speed = free_flow_kmh[:, None] / (1 + 0.9 * vc**3)
    speed *= (1 - 0.12 * np.minimum(rain, 1.5))[None, :]
    speed *= np.exp(rng.normal(0, 0.03, size=(n_seg, n_t)))  # measurement noise of the camera

    incidents: list[InjectedIncident] = []
    days = n_t * interval_s / 86400
    for _ in range(rng.poisson(incidents_per_day * days)):
        seg = int(rng.integers(n_seg))
        start = int(rng.integers(n_t))
        duration = int(rng.uniform(0.5, 2.0) * steps_per_hour)
        severity = float(rng.uniform(0.25, 0.5))
        end = min(n_t, start + max(duration, 1))
        speed[seg, start:end] *= severity
        incidents.append(InjectedIncident(seg, start, end, severity))
    speed = np.clip(speed, 2.0, None)

    # Link flow at v/c: an urban lane behind signals passes ~800 veh/h (green for about half the cycle).
    capacity_vph = lanes[:, None] * 800.0
    flow_vph = capacity_vph * np.minimum(vc, 1.1)
    for incident in incidents:  # a blocked segment passes fewer vehicles
        flow_vph[incident.segment_index, incident.start_index:incident.end_index] *= incident.severity + 0.2
    count = rng.poisson(flow_vph * interval_s / 3600.0)
    # Occupancy ~ density x effective vehicle length (5.5 m) per lane.
    density_per_km = flow_vph / speed / lanes[:, None]
    occupancy = np.clip(density_per_km * 5.5 / 1000.0, 0.0, 1.0)
    return SimulatedTraffic(epochs=epochs, speed_kmh=np.round(speed, 1), count=count.astype(np.int64),
                            occupancy=np.round(occupancy, 3), incidents=incidents)
