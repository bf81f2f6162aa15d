"""A realistic demo road network: a jittered street grid with arterials and an outer expressway ring.

Every `arterial_every`-th street is an arterial (3 lanes, 60 km/h); the outer ring is an expressway
(4 lanes, 80 km/h); the rest are local streets (1-2 lanes, 40 km/h). Intersections on an arterial
or the ring are signalised. Streets are two-way, so each link gives two directed segments.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from superapp.geo import haversine_m

CLASS_SPEC = {  # lanes, speed limit, free-flow share of the limit
    "local": (1, 40.0, 0.95),
    "arterial": (3, 60.0, 0.92),
    "expressway": (4, 80.0, 0.95),
}


@dataclass(frozen=True)
class NodeSpec:
    code: str
    latitude: float
    longitude: float
    signalised: bool
    name: str = ""


@dataclass(frozen=True)
class SegmentSpec:
    code: str
    from_code: str
    to_code: str
    length_m: float
    lanes: int
    speed_limit_kmh: float
    free_flow_speed_kmh: float
    road_class: str
    name: str = ""


def grid_network(*, center: tuple[float, float], size: int, spacing_m: float, rng: random.Random,
                 arterial_every: int = 3, prefix: str = "") -> tuple[list[NodeSpec], list[SegmentSpec]]:
    lat0, lon0 = center
    dlat = spacing_m / 111_320.0
    dlon = spacing_m / (111_320.0 * math.cos(math.radians(lat0)))
    half = (size - 1) / 2

    def street_class(index: int) -> str:
        if index in (0, size - 1):
            return "expressway"
        return "arterial" if index % arterial_every == 0 else "local"

    nodes: dict[tuple[int, int], NodeSpec] = {}
    for row in range(size):
        for col in range(size):
            major = street_class(row) != "local" or street_class(col) != "local"
            jitter = 0.08
            nodes[row, col] = NodeSpec(
                code=f"{prefix}n{row:02d}{col:02d}",
                latitude=round(lat0 + (row - half + rng.uniform(-jitter, jitter)) * dlat, 6),
                longitude=round(lon0 + (col - half + rng.uniform(-jitter, jitter)) * dlon, 6),
                signalised=major and not (street_class(row) == "expressway" and street_class(col) == "expressway"),
                name=f"Street {row + 1} x Avenue {col + 1}",
            )
    segments: list[SegmentSpec] = []

    def link(a: tuple[int, int], b: tuple[int, int], road_class: str, street: str) -> None:
        lanes, limit, share = CLASS_SPEC[road_class]
        if road_class == "local":
            lanes = rng.choice([1, 2])
        na, nb = nodes[a], nodes[b]
        # Streets curve a little: the road is 2-8 % longer than the straight line.
        length = float(haversine_m(na.latitude, na.longitude, nb.latitude, nb.longitude)) * rng.uniform(1.02, 1.08)
        free_flow = round(limit * share * rng.uniform(0.93, 1.03), 1)
        for src, dst in ((na, nb), (nb, na)):
            segments.append(SegmentSpec(
                code=f"{src.code}-{dst.code}", from_code=src.code, to_code=dst.code, length_m=round(length, 1),
                lanes=lanes, speed_limit_kmh=limit, free_flow_speed_kmh=free_flow, road_class=road_class,
                name=street,
            ))

    for row in range(size):
        for col in range(size - 1):
            link((row, col), (row, col + 1), street_class(row), f"Street {row + 1}")
    for col in range(size):
        for row in range(size - 1):
            link((row, col), (row + 1, col), street_class(col), f"Avenue {col + 1}")
    return list(nodes.values()), segments
