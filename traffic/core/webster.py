"""Webster's method for a fixed-time signal plan, and Webster's delay formula.

Inputs per phase: the critical flow ratio y_i = max over the phase's approaches of q/s (arrival flow
over saturation flow), the lost time of the phase (start-up + clearance) and its green bounds.

    L  = sum of lost times
    Y  = sum y_i
    C0 = (1.5 L + 5) / (1 - Y)            (Webster's optimum cycle), clamped to [c_min, c_max];
                                           Y >= 0.95 (oversaturated) gives c_max
    g_i = (C - L) * y_i / Y               (effective green proportional to the critical flow ratio)

then each green is kept within [max(min_green, pedestrian_min), max_green]. A phase pushed to a
bound keeps it, and the cycle is re-solved so that the other phases keep Webster's degree of
saturation x = Y C / (C - L): C = (L + G_fixed) / (1 - Y_free / x), within the cycle bounds, the
free phases sharing C - L - G_fixed in proportion to y. (Taking the pedestrian time out of a fixed
cycle instead would starve the other phase.) If the floors alone need more than the maximum cycle,
the cycle grows to hold them: a pedestrian minimum is a safety constraint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

OVERSATURATED_Y = 0.95


@dataclass(frozen=True)
class PhaseDemand:
    flow_ratio: float  # critical y = q / s of the phase
    lost_time_s: float = 4.0
    min_green_s: float = 7.0
    max_green_s: float = 60.0
    pedestrian_min_s: float = 0.0

    @property
    def floor_s(self) -> float:
        return max(self.min_green_s, self.pedestrian_min_s)


@dataclass
class TimingPlan:
    cycle_s: float
    lost_time_s: float
    flow_ratio_sum: float
    greens_s: list[float]
    webster_cycle_s: float  # C0 before clamping (inf when oversaturated)
    oversaturated: bool
    degrees_of_saturation: list[float] = field(default_factory=list)


def webster_cycle(*, lost_time_s: float, flow_ratio_sum: float) -> float:
    if flow_ratio_sum >= 1.0:
        return math.inf
    return (1.5 * lost_time_s + 5.0) / (1.0 - flow_ratio_sum)


def webster_plan(phases: list[PhaseDemand], *, min_cycle_s: float = 30.0, max_cycle_s: float = 150.0) -> TimingPlan:
    if not phases:
        raise ValueError("a signal plan needs at least one phase")
    if any(p.flow_ratio < 0 for p in phases):
        raise ValueError("flow ratios cannot be negative")
    n = len(phases)
    lost = sum(p.lost_time_s for p in phases)
    y_sum = sum(p.flow_ratio for p in phases)
    c0 = webster_cycle(lost_time_s=lost, flow_ratio_sum=y_sum)
    oversaturated = y_sum >= OVERSATURATED_Y
    base_cycle = max_cycle_s if oversaturated else min(max(c0, min_cycle_s), max_cycle_s)
    # The degree of saturation every phase gets under Webster's proportional split at this cycle.
    target_x = y_sum * base_cycle / (base_cycle - lost) if base_cycle > lost else math.inf
    fixed: dict[int, float] = {}
    while True:
        free = [i for i in range(n) if i not in fixed]
        y_free = sum(phases[i].flow_ratio for i in free)
        fixed_green = sum(fixed.values())
        if not fixed:
            cycle = base_cycle
        elif y_free > 0 and math.isfinite(target_x) and target_x > 0:
            # A phase held at a bound: the cycle grows (or shrinks) so the other phases keep the
            # same degree of saturation, g_i = y_i C / x, within the cycle bounds.
            cycle = (lost + fixed_green) / (1 - y_free / target_x)
            cycle = min(max(cycle, min_cycle_s), max_cycle_s)
        else:
            cycle = max(lost + fixed_green, min_cycle_s)
        cycle = max(cycle, lost + fixed_green + sum(phases[i].floor_s for i in free))
        spare = cycle - lost - fixed_green
        if free and y_free > 0:
            greens = {i: spare * phases[i].flow_ratio / y_free for i in free}
        else:
            greens = {i: spare / len(free) for i in free} if free else {}
        changed = False
        for i, g in greens.items():
            if g < phases[i].floor_s - 1e-9:
                fixed[i] = phases[i].floor_s
                changed = True
            elif g > max(phases[i].max_green_s, phases[i].floor_s) + 1e-9:
                fixed[i] = max(phases[i].max_green_s, phases[i].floor_s)
                changed = True
        if not changed:
            result = [fixed.get(i, greens.get(i, 0.0)) for i in range(n)]
            break
    cycle = sum(result) + lost
    degrees = [round(p.flow_ratio * cycle / g, 4) if g > 0 else math.inf for p, g in zip(phases, result, strict=True)]
    return TimingPlan(
        cycle_s=cycle, lost_time_s=lost, flow_ratio_sum=y_sum, greens_s=result, webster_cycle_s=c0,
        oversaturated=oversaturated or any(x > 1.0 for x in degrees), degrees_of_saturation=degrees,
    )


def webster_delay(*, cycle_s: float, green_s: float, flow_vps: float, saturation_vps: float) -> float:
    """Webster's average delay per vehicle (s) on one approach:

        d = C(1-λ)² / (2(1-λx)) + x² / (2q(1-x)) - 0.65 (C/q²)^(1/3) x^(2+5λ)

    with λ = g/C and x = q/(λ s). Undefined at x >= 1 (returns inf): use the simulation there."""
    if flow_vps <= 0:
        return 0.0
    lam = green_s / cycle_s
    x = flow_vps / (lam * saturation_vps)
    if x >= 1.0:
        return math.inf
    uniform = cycle_s * (1 - lam) ** 2 / (2 * (1 - lam * x))
    random_term = x**2 / (2 * flow_vps * (1 - x))
    correction = 0.65 * (cycle_s / flow_vps**2) ** (1 / 3) * x ** (2 + 5 * lam)
    return max(uniform + random_term - correction, 0.0)
