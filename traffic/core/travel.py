"""Travel times between two camera points from matched plate hashes."""

from __future__ import annotations

import bisect
from collections import defaultdict

import numpy as np


def match_travel_times(origin: list[tuple[str, float]], destination: list[tuple[str, float]], *,
                       max_trip_s: float, min_trip_s: float = 1.0) -> np.ndarray:
    """Seconds from each origin sighting (plate hash, epoch s) to the same plate's first destination
    sighting after it, within `max_trip_s`. A plate seen again at the origin before reaching the
    destination starts a new trip (the earlier sighting is dropped), so a car circling the block
    does not produce a long false trip."""
    at_destination: dict[str, list[float]] = defaultdict(list)
    for plate, seen in destination:
        at_destination[plate].append(seen)
    for times in at_destination.values():
        times.sort()
    at_origin: dict[str, list[float]] = defaultdict(list)
    for plate, seen in origin:
        at_origin[plate].append(seen)
    trips: list[float] = []
    for plate, starts in at_origin.items():
        arrivals = at_destination.get(plate)
        if not arrivals:
            continue
        starts.sort()
        for i, start in enumerate(starts):
            j = bisect.bisect_right(arrivals, start + min_trip_s - 1e-9)
            if j == len(arrivals):
                break
            arrival = arrivals[j]
            if i + 1 < len(starts) and starts[i + 1] < arrival:
                continue  # seen at the origin again before arriving: the later sighting is the trip start
            if arrival - start <= max_trip_s:
                trips.append(arrival - start)
    return np.array(trips, dtype=float)
