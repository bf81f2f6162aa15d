"""Traffic reads: time zones, the speed grid, the city dashboard, travel times, routing and ETAs.

`eta_minutes` is the entry point for the rest of the super-app ("about 20 min by car now")."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.db.models import Avg, Count, F, Max
from django.shortcuts import get_object_or_404
from django.utils import timezone

from merchants.models import City
from superapp.geo import haversine_m
from superapp.process_cache import ProcessCacheMap
from traffic import conf
from traffic.core import features
from traffic.core.predictor import SpeedGrid
from traffic.core.routing import RoadGraph, shortest_path
from traffic.core.travel import match_travel_times
from traffic.models import (
    Device,
    DeviceKind,
    Incident,
    IncidentStatus,
    Intersection,
    Observation,
    PlateSighting,
    PredictorStatus,
    PredictorVersion,
    RoadSegment,
    SegmentForecast,
    SignalPlan,
)

ACCESS_SPEED_KMH = 20.0  # from the door to the nearest intersection and back: slow local streets
TREND_MIN_COVERAGE = 0.5  # an interval counts in the trend with half the rows of the window's fullest


def tz_offsets(epochs: np.ndarray, time_zone: str) -> np.ndarray:
    """UTC offset (s) of `time_zone` at each epoch, computed once per distinct hour."""
    epochs = np.asarray(epochs, dtype=np.int64)
    if epochs.size == 0:
        return epochs.copy()
    zone = ZoneInfo(time_zone)
    hours, inverse = np.unique(epochs // 3600, return_inverse=True)
    offsets = np.array([int(datetime.fromtimestamp(int(h) * 3600, tz=zone).utcoffset().total_seconds())
                        for h in hours], dtype=np.int64)
    return offsets[inverse]


def speed_grid_load(*, city: City, since: datetime, until: datetime,
                    segment_ids: np.ndarray | None = None) -> SpeedGrid:
    """Observed speeds on the 5-minute grid [since, until], averaged over a bin's observations."""
    segments = RoadSegment.objects.filter(city=city).order_by("pk").values_list("pk", "free_flow_speed_kmh", "lanes")
    meta = {pk: (ffs, lanes) for pk, ffs, lanes in segments}
    ids = np.array(sorted(meta) if segment_ids is None else [int(s) for s in segment_ids], dtype=np.int64)
    start = int(since.timestamp()) // features.BIN_S * features.BIN_S
    stop = int(until.timestamp()) // features.BIN_S * features.BIN_S
    epochs = np.arange(start, stop + features.BIN_S, features.BIN_S, dtype=np.int64)
    rows = Observation.objects.filter(city=city, interval_start__gte=since, interval_start__lte=until).values_list(
        "segment_id", "interval_start", "mean_speed_kmh")
    row_of = {int(s): i for i, s in enumerate(ids)}
    seg_idx, t_idx, speed = [], [], []
    for seg, moment, value in rows.iterator(chunk_size=20_000):
        i = row_of.get(seg)
        if i is not None:
            seg_idx.append(i)
            t_idx.append((int(moment.timestamp()) - start) // features.BIN_S)
            speed.append(value)
    sums = np.zeros((ids.size, epochs.size))
    counts = np.zeros((ids.size, epochs.size))
    if seg_idx:
        np.add.at(sums, (np.array(seg_idx), np.array(t_idx)), np.array(speed))
        np.add.at(counts, (np.array(seg_idx), np.array(t_idx)), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return SpeedGrid(
        segment_ids=ids, epochs=epochs, utc_offsets_s=tz_offsets(epochs, city.time_zone), speed_kmh=grid,
        free_flow_kmh=np.array([meta.get(int(s), (50.0, 1))[0] for s in ids], dtype=float),
        lanes=np.array([meta.get(int(s), (50.0, 1))[1] for s in ids], dtype=float),
    )


# --- Dashboard -------------------------------------------------------------------------------------

def congestion_level(index: float) -> str:
    if index < 0.2:
        return "free"
    if index < 0.4:
        return "slow"
    if index < 0.6:
        return "congested"
    return "jammed"


def city_dashboard(*, city: City, worst: int = 10, trend_hours: int = 3, window_min: int = 15) -> dict[str, Any]:
    """Congestion now (the latest `window_min` minutes of data), the worst segments, the city
    average and its trend in 15-minute buckets. Congestion index = 1 - speed / free-flow speed,
    clipped to [0, 1] (0 free flow, 1 standstill)."""
    as_of = Observation.objects.filter(city=city).aggregate(m=Max("interval_start"))["m"]
    open_incidents = Incident.objects.filter(city=city, status=IncidentStatus.OPEN).count()
    if as_of is None:
        return {"city": city.slug, "as_of": None, "average_congestion_index": None, "average_speed_kmh": None,
                "level": None, "worst_segments": [], "trend": [], "open_incidents": open_incidents}
    recent = (Observation.objects.filter(city=city, interval_start__gt=as_of - timedelta(minutes=window_min))
              .values("segment_id").annotate(speed=Avg("mean_speed_kmh")))
    segments = {s.pk: s for s in RoadSegment.objects.filter(city=city).only(
        "pk", "code", "name", "free_flow_speed_kmh", "road_class")}
    scored = []
    for row in recent:
        segment = segments.get(row["segment_id"])
        if segment is None:
            continue
        index = min(max(1 - row["speed"] / segment.free_flow_speed_kmh, 0.0), 1.0)
        scored.append((index, row["speed"], segment))
    scored.sort(key=lambda item: -item[0])
    average = float(np.mean([s[0] for s in scored])) if scored else None
    trend_rows = (Observation.objects.filter(city=city, interval_start__gt=as_of - timedelta(hours=trend_hours))
                  .values("interval_start")
                  .annotate(ratio=Avg(F("mean_speed_kmh") / F("segment__free_flow_speed_kmh")), n=Count("id"))
                  .order_by("interval_start"))
    # A bucket is the mean over the rows of its intervals, leaving out an interval with less than half the rows of
    # the fullest one in the window: a gateway that has sent only a few sensors of the newest interval so far
    # must not move the city's figure (2 of 224 sensors used to weigh as much as a full interval).
    trend_rows = list(trend_rows)
    fullest = max((row["n"] for row in trend_rows), default=0)
    buckets: dict[datetime, list[float]] = {}
    for row in trend_rows:
        if row["n"] < TREND_MIN_COVERAGE * fullest:
            continue
        moment = row["interval_start"]
        bucket = moment - timedelta(minutes=moment.minute % 15, seconds=moment.second,
                                    microseconds=moment.microsecond)
        total = buckets.setdefault(bucket, [0.0, 0])
        total[0] += row["ratio"] * row["n"]
        total[1] += row["n"]
    trend = [{"bucket_start": b, "congestion_index": round(min(max(1 - weighted / n, 0.0), 1.0), 3)}
             for b, (weighted, n) in sorted(buckets.items())]
    return {
        "city": city.slug,
        "as_of": as_of,
        "average_congestion_index": round(average, 3) if average is not None else None,
        "average_speed_kmh": round(float(np.mean([s[1] for s in scored])), 1) if scored else None,
        "level": congestion_level(average) if average is not None else None,
        "worst_segments": [
            {"segment_id": seg.pk, "code": seg.code, "name": seg.name, "road_class": seg.road_class,
             "speed_kmh": round(speed, 1), "free_flow_speed_kmh": seg.free_flow_speed_kmh,
             "congestion_index": round(index, 3), "level": congestion_level(index)}
            for index, speed, seg in scored[:worst]
        ],
        "trend": trend,
        "open_incidents": open_incidents,
    }


def city_by_slug(slug: str) -> City:
    """The city of a traffic URL, else 404."""
    return get_object_or_404(City, slug=slug)


def intersection_for_device(*, device: Device, intersection_id: int) -> Intersection | None:
    """The intersection whose plan `device` may fetch: a gateway any of its city's, a signal controller its
    own; None otherwise (or when there is no such intersection)."""
    allowed = device.kind == DeviceKind.GATEWAY or (
        device.kind == DeviceKind.CONTROLLER and device.intersection_id == intersection_id)
    if not allowed:
        return None
    return Intersection.objects.filter(pk=intersection_id, city_id=device.city_id).first()


def camera_get(device_id: int) -> Device:
    """A camera, else 404."""
    return get_object_or_404(Device.objects.filter(kind=DeviceKind.CAMERA), pk=device_id)


def incidents_for_city(*, city: City):
    return Incident.objects.filter(city=city).select_related("segment").order_by("-interval_start", "-pk")


# --- Travel times from plates ----------------------------------------------------------------------

def travel_times(*, from_sensor: Device, to_sensor: Device, since: datetime, until: datetime,
                 max_trip: timedelta = timedelta(hours=2)) -> dict[str, Any]:
    origin = [(h, t.timestamp()) for h, t in PlateSighting.objects.filter(
        sensor=from_sensor, seen_at__gte=since, seen_at__lt=until).values_list("plate_hash", "seen_at")]
    destination = [(h, t.timestamp()) for h, t in PlateSighting.objects.filter(
        sensor=to_sensor, seen_at__gte=since, seen_at__lt=until + max_trip).values_list("plate_hash", "seen_at")]
    trips = match_travel_times(origin, destination, max_trip_s=max_trip.total_seconds())
    summary: dict[str, Any] = {"from_sensor": from_sensor.pk, "to_sensor": to_sensor.pk, "since": since,
                               "until": until, "matches": int(trips.size)}
    if trips.size:
        p25, median, p75 = np.percentile(trips, [25, 50, 75])
        summary.update({"median_s": round(float(median), 1), "p25_s": round(float(p25), 1),
                        "p75_s": round(float(p75), 1), "mean_s": round(float(trips.mean()), 1)})
    else:
        summary.update({"median_s": None, "p25_s": None, "p75_s": None, "mean_s": None})
    return summary


# --- Routing ---------------------------------------------------------------------------------------

@dataclass
class CityGraph:
    city_id: int
    graph: RoadGraph
    segment_free_flow: np.ndarray
    segment_codes: list[str]
    loaded_at: float


_GRAPH_TTL_S = 300.0
# City id -> its road graph, or None for a city without a network (remembered too: a recommendation page asks
# for the drive times of every city's merchants). Networks change rarely; `import_road_network` drops them.
_graphs: ProcessCacheMap[int, CityGraph | None] = ProcessCacheMap("traffic.city_graphs", max_entries=256,
                                                                  max_age_s=_GRAPH_TTL_S)


def city_graph(city_id: int) -> CityGraph | None:
    """The city's road graph (None: the city has no network), cached per process for a few minutes."""
    return _graphs.get(city_id, lambda: _city_graph_load(city_id))


def _city_graph_load(city_id: int) -> CityGraph | None:
    nodes = list(Intersection.objects.filter(city_id=city_id).order_by("pk").values_list("pk", "latitude",
                                                                                            "longitude"))
    if not nodes:
        return None
    row_of = {pk: i for i, (pk, _, _) in enumerate(nodes)}
    segs = list(RoadSegment.objects.filter(city_id=city_id).order_by("pk").values_list(
        "pk", "from_intersection_id", "to_intersection_id", "length_m", "free_flow_speed_kmh", "code"))
    graph = RoadGraph(
        node_ids=np.array([n[0] for n in nodes], dtype=np.int64), node_lat=np.array([n[1] for n in nodes]),
        node_lon=np.array([n[2] for n in nodes]), edge_ids=np.array([s[0] for s in segs], dtype=np.int64),
        edge_from=np.array([row_of[s[1]] for s in segs], dtype=np.int64),
        edge_to=np.array([row_of[s[2]] for s in segs], dtype=np.int64),
        edge_length_m=np.array([s[3] for s in segs], dtype=float),
    )
    return CityGraph(city_id, graph, np.array([s[4] for s in segs], dtype=float), [s[5] for s in segs],
                     time.monotonic())


def city_graph_invalidate(city_id: int | None = None) -> None:
    if city_id is None:
        _graphs.reset()
    else:
        _graphs.discard(city_id)


@lru_cache(maxsize=8)
def _profile_for(version_pk: int, artifact_path: str, sha: str) -> tuple[np.ndarray, np.ndarray]:
    from pathlib import Path

    with np.load(Path(artifact_path).parent / "profile.npz", allow_pickle=False) as data:
        profile = data["profile"]
        return data["segment_ids"], profile[0] if profile.ndim == 3 else profile  # [ratio, level] since v2


def segment_speeds_at(*, city_graph_: CityGraph, at: datetime) -> tuple[np.ndarray, str, datetime | None]:
    """Expected speed (km/h) on every segment of the graph at `at`, where it came from and the time it describes:
    the latest observations (`observed`, their interval) or a forecast (`forecast_<h>min`, its target time) when
    one is close to `at`, else the time-of-week profile (`profile`), else free-flow speed (`free_flow`), None."""
    graph = city_graph_.graph
    index_of = {int(s): i for i, s in enumerate(graph.edge_ids)}
    speeds = city_graph_.segment_free_flow.copy()
    latest = Observation.objects.filter(city_id=city_graph_.city_id).aggregate(m=Max("interval_start"))["m"]
    candidates: list[tuple[float, str, datetime]] = []
    if latest is not None:
        candidates.append((abs((at - latest).total_seconds()), "observed", latest))
    forecasts = SegmentForecast.objects.filter(segment__city_id=city_graph_.city_id).values(
        "horizon_min").annotate(target=Max("target_at"))
    for row in forecasts:
        candidates.append((abs((at - row["target"]).total_seconds()), f"forecast_{row['horizon_min']}min",
                           row["target"]))
    candidates = [c for c in candidates if c[0] <= (10 * 60 if c[1] == "observed" else 15 * 60)]
    if candidates:
        _, source, as_of = min(candidates)
        if source == "observed":
            rows = Observation.objects.filter(city_id=city_graph_.city_id, interval_start__gt=latest - timedelta(
                minutes=15)).values("segment_id").annotate(speed=Avg("mean_speed_kmh")).values_list("segment_id",
                                                                                                     "speed")
        else:
            horizon = int(source.split("_")[1].removesuffix("min"))
            rows = SegmentForecast.objects.filter(segment__city_id=city_graph_.city_id,
                                                  horizon_min=horizon).values_list("segment_id", "speed_kmh")
        for seg, speed in rows:
            if seg in index_of:
                speeds[index_of[seg]] = speed
        return speeds, source, as_of
    active = PredictorVersion.objects.filter(city_id=city_graph_.city_id, status=PredictorStatus.ACTIVE).first()
    if active is not None:
        try:
            seg_ids, profile = _profile_for(active.pk, active.artifact_path, active.artifact_sha256)
        except OSError:
            return speeds, "free_flow", None
        city = City.objects.get(pk=city_graph_.city_id)
        epoch = np.array([int(at.timestamp())])
        slot = int(features.time_of_week_slot(epoch, tz_offsets(epoch, city.time_zone))[0])
        for seg, ratio in zip(seg_ids.tolist(), profile[:, slot].tolist(), strict=True):
            if seg in index_of:
                speeds[index_of[seg]] = ratio * city_graph_.segment_free_flow[index_of[seg]]
        return speeds, "profile", None
    return speeds, "free_flow", None


_SPEEDS_TTL_S = 60.0
# (city, the graph's load time, minute) -> segment speeds: a reloaded graph never reuses speeds of the old one.
_speeds: ProcessCacheMap[tuple[int, float, int], tuple[np.ndarray, str, datetime | None]] = ProcessCacheMap(
    "traffic.segment_speeds", max_entries=512, max_age_s=_SPEEDS_TTL_S)


def segment_speeds_at_minute(*, city_graph_: CityGraph, at: datetime) -> tuple[np.ndarray, str, datetime | None]:
    """`segment_speeds_at` for `at` truncated to its minute, computed once per process, city graph and minute
    and kept at most `_SPEEDS_TTL_S` (new observations or forecasts show within a minute). For lists that show
    many drive times per page ("about 20 min by car now" on recommendations); a route asks
    `segment_speeds_at` itself. The speeds are read-only (shared between requests)."""
    minute = at.replace(second=0, microsecond=0)

    def compute() -> tuple[np.ndarray, str, datetime | None]:
        speeds, source, as_of = segment_speeds_at(city_graph_=city_graph_, at=minute)
        speeds.setflags(write=False)
        return speeds, source, as_of

    return _speeds.get((city_graph_.city_id, city_graph_.loaded_at, int(minute.timestamp())), compute)


def nearest_city_graph(lat: float, lon: float) -> CityGraph | None:
    """The network of the city whose centre is nearest to the point (cities are far apart)."""
    cities = list(City.objects.filter(intersections__isnull=False).distinct().values_list("pk", "latitude",
                                                                                           "longitude"))
    if not cities:
        return None
    distances = [float(haversine_m(lat, lon, c[1], c[2])) for c in cities]
    return city_graph(cities[int(np.argmin(distances))][0])


@dataclass
class Route:
    city_id: int
    depart_at: datetime
    arrive_at: datetime
    eta_minutes: float
    distance_m: float
    drive_seconds: float
    access_seconds: float
    speed_source: str
    speeds_as_of: datetime | None
    segments: list[dict[str, Any]]
    path: list[tuple[float, float]]


def route_find(*, origin: tuple[float, float], destination: tuple[float, float], depart_at: datetime | None = None,
               city_id: int | None = None) -> Route | str:
    """The fastest route, or a reason string (`outside_road_network`, `no_route`)."""
    depart_at = depart_at or timezone.now()
    cg = city_graph(city_id) if city_id is not None else nearest_city_graph(*origin)
    if cg is None:
        return "outside_road_network"
    graph = cg.graph
    source, d_source = graph.nearest_node(*origin)
    target, d_target = graph.nearest_node(*destination)
    if max(d_source, d_target) > conf.snap_max_m():
        return "outside_road_network"
    speeds, source_name, speeds_as_of = segment_speeds_at(city_graph_=cg, at=depart_at)
    path = shortest_path(graph, speeds, source=source, target=target)
    if path is None:
        return "no_route"
    access = (d_source + d_target) / (ACCESS_SPEED_KMH / 3.6)
    total = path.seconds + access
    seconds = graph.edge_length_m / (np.maximum(speeds, 1.0) / 3.6)
    return Route(
        city_id=cg.city_id, depart_at=depart_at, arrive_at=depart_at + timedelta(seconds=total),
        eta_minutes=round(total / 60, 1), distance_m=round(path.length_m + d_source + d_target, 1),
        drive_seconds=round(path.seconds, 1), access_seconds=round(access, 1), speed_source=source_name,
        speeds_as_of=speeds_as_of,
        segments=[{"segment_id": int(graph.edge_ids[i]), "code": cg.segment_codes[i],
                   "length_m": round(float(graph.edge_length_m[i]), 1), "speed_kmh": round(float(speeds[i]), 1),
                   "seconds": round(float(seconds[i]), 1)} for i in path.edge_indexes],
        path=[(float(graph.node_lat[r]), float(graph.node_lon[r])) for r in path.node_rows],
    )


def eta_minutes(*, city: City, origin: tuple[float, float], destination: tuple[float, float],
                at: datetime | None = None) -> float | None:
    """Minutes by car from origin to destination leaving at `at` (default now) on expected speeds,
    or None when the city has no road network, a point is off it, or there is no route.

    For "about 20 min by car now" next to a merchant: `eta_minutes(city=user.current_city,
    origin=(lat, lon), destination=(merchant.latitude, merchant.longitude))`."""
    result = route_find(origin=origin, destination=destination, depart_at=at, city_id=city.pk)
    return result.eta_minutes if isinstance(result, Route) else None


def eta_minutes_many(*, city: City, origin: tuple[float, float], destinations: list[tuple[float, float]],
                     at: datetime | None = None) -> list[float | None]:
    """`eta_minutes` to many destinations with one shortest-path tree (for a list of merchants), on the
    speeds of `at`'s minute (`segment_speeds_at_minute`)."""
    from scipy.sparse.csgraph import dijkstra

    cg = city_graph(city.pk)
    if cg is None:
        return [None] * len(destinations)
    graph = cg.graph
    source, d_source = graph.nearest_node(*origin)
    if d_source > conf.snap_max_m():
        return [None] * len(destinations)
    speeds, _, _ = segment_speeds_at_minute(city_graph_=cg, at=at or timezone.now())
    dist = dijkstra(graph.travel_time_matrix(speeds), directed=True, indices=source)
    result: list[float | None] = []
    for lat, lon in destinations:
        target, d_target = graph.nearest_node(lat, lon)
        if d_target > conf.snap_max_m() or not np.isfinite(dist[target]):
            result.append(None)
            continue
        total = dist[target] + (d_source + d_target) / (ACCESS_SPEED_KMH / 3.6)
        result.append(round(float(total) / 60, 1))
    return result


# --- Signal plans ----------------------------------------------------------------------------------

def signal_plan_current(*, intersection: Intersection, at: datetime | None = None) -> SignalPlan | None:
    """The plan in force at `at`: the latest one whose validity window holds `at`. An expired plan is never
    served as current (`services.signal_plan_ensure` computes a fresh one when no job has)."""
    at = at or timezone.now()
    return (SignalPlan.objects.filter(intersection=intersection, valid_from__lte=at, valid_until__gt=at)
            .order_by("-valid_from", "-pk").first())
