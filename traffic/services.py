"""Traffic writes: network import, devices and keys, sightings, incidents, the predictor, forecasts,
signal plans and the traffic simulator. Keyword-only, typed; views, tasks, the admin and commands
all call these."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from merchants.models import City
from superapp.db import postgresql_sql
from traffic import conf
from traffic.authentication import key_generate
from traffic.core import features, webster
from traffic.core.network import NodeSpec, SegmentSpec
from traffic.core.predictor import SpeedGrid, fits_these_features, predict_latest, train_and_evaluate
from traffic.core.robust import is_incident
from traffic.core.simulator import simulate
from traffic.models import (
    Device,
    DeviceKind,
    Incident,
    IncidentStatus,
    Intersection,
    Observation,
    PlanMethod,
    PlateSighting,
    PredictorStatus,
    PredictorVersion,
    RoadSegment,
    SegmentForecast,
    SignalPhase,
    SignalPlan,
)
from traffic.selectors import city_graph_invalidate, signal_plan_current, speed_grid_load, tz_offsets

logger = logging.getLogger(__name__)
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# --- Road network ---------------------------------------------------------------------------------

@dataclass
class ImportSummary:
    intersections_created: int
    intersections_updated: int
    segments_created: int
    segments_updated: int


@transaction.atomic
def road_network_import(*, city: City, nodes: Iterable[NodeSpec], segments: Iterable[SegmentSpec]) -> ImportSummary:
    """Upsert intersections and segments by code (re-importing a network updates it in place). This process's
    cached graph of the city (or its "no network") is dropped now and again when the import commits."""
    nodes, segments = list(nodes), list(segments)
    city_graph_invalidate(city.pk)
    transaction.on_commit(lambda: city_graph_invalidate(city.pk))
    existing = {i.code: i for i in Intersection.objects.filter(city=city)}
    created_nodes = updated_nodes = 0
    for spec in nodes:
        row = existing.get(spec.code)
        if row is None:
            existing[spec.code] = Intersection.objects.create(
                city=city, code=spec.code, name=spec.name, latitude=spec.latitude, longitude=spec.longitude,
                signalised=spec.signalised)
            created_nodes += 1
        else:
            row.name, row.latitude, row.longitude, row.signalised = spec.name, spec.latitude, spec.longitude, \
                spec.signalised
            row.save(update_fields=["name", "latitude", "longitude", "signalised"])
            updated_nodes += 1
    current = {s.code: s for s in RoadSegment.objects.filter(city=city)}
    new_segments, changed = [], []
    for spec in segments:
        if spec.from_code not in existing or spec.to_code not in existing:
            raise ValueError(f"segment {spec.code}: unknown intersection {spec.from_code} or {spec.to_code}")
        values = {
            "name": spec.name, "from_intersection": existing[spec.from_code], "to_intersection": existing[spec.to_code],
            "road_class": spec.road_class, "length_m": spec.length_m, "lanes": spec.lanes,
            "speed_limit_kmh": spec.speed_limit_kmh, "free_flow_speed_kmh": spec.free_flow_speed_kmh,
        }
        row = current.get(spec.code)
        if row is None:
            new_segments.append(RoadSegment(city=city, code=spec.code, **values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
            changed.append(row)
    RoadSegment.objects.bulk_create(new_segments, batch_size=1000)
    if changed:
        RoadSegment.objects.bulk_update(changed, ["name", "from_intersection", "to_intersection", "road_class",
                                                  "length_m", "lanes", "speed_limit_kmh", "free_flow_speed_kmh"])
    return ImportSummary(created_nodes, updated_nodes, len(new_segments), len(changed))


def _bearing(a: Intersection, b: Intersection) -> float:
    """Compass bearing (degrees) of the road from a to b."""
    dlon = math.radians(b.longitude - a.longitude) * math.cos(math.radians((a.latitude + b.latitude) / 2))
    dlat = math.radians(b.latitude - a.latitude)
    return (math.degrees(math.atan2(dlon, dlat)) + 360) % 360


@transaction.atomic
def signal_phases_generate(*, city: City) -> int:
    """Two-phase plans for signalised intersections that have none: north-south approaches, then
    east-west. The pedestrian minimum of a phase is the time to cross the street it stops
    (5 s walk + width at 1.2 m/s, 3.5 m per lane both ways)."""
    created = 0
    intersections = Intersection.objects.filter(city=city, signalised=True, phases__isnull=True)
    for intersection in intersections.prefetch_related("incoming__from_intersection"):
        groups: dict[str, list[RoadSegment]] = {"North-South": [], "East-West": []}
        for segment in intersection.incoming.all():
            bearing = _bearing(segment.from_intersection, intersection)
            north_south = bearing < 45 or bearing >= 315 or 135 <= bearing < 225
            groups["North-South" if north_south else "East-West"].append(segment)
        if not all(groups.values()):
            continue
        for order, (name, approaches) in enumerate(groups.items()):
            crossed = groups["East-West" if name == "North-South" else "North-South"]
            width_m = 2 * 3.5 * max(s.lanes for s in crossed)
            phase = SignalPhase.objects.create(
                intersection=intersection, order=order, name=name, min_green_s=7.0, max_green_s=70.0,
                pedestrian_min_green_s=round(5.0 + width_m / 1.2, 1))
            phase.approaches.set(approaches)
        created += 1
    return created


# --- Devices ---------------------------------------------------------------------------------------

def device_register(*, city: City, kind: str, name: str, segment: RoadSegment | None = None,
                    intersection: Intersection | None = None, interval_s: int = 300,
                    is_plate_reader: bool = False, issue_key: bool = True) -> tuple[Device, str | None]:
    """Register a device; returns it and its API key (shown once), or None when `issue_key` is False."""
    if kind == DeviceKind.CAMERA and segment is None:
        raise ValueError("a camera watches a segment")
    if kind == DeviceKind.CONTROLLER and intersection is None:
        raise ValueError("a signal controller belongs to an intersection")
    device = Device(city=city, kind=kind, name=name, segment=segment, intersection=intersection,
                    interval_s=interval_s, is_plate_reader=is_plate_reader)
    key = None
    if issue_key:
        key, device.key_prefix, device.key_hash = key_generate()
        device.key_issued_at = timezone.now()
    device.save()
    return device, key


def device_key_rotate(*, device: Device) -> str:
    """Issue a new key (the old one stops working at once) and clear a revocation."""
    key, prefix, digest = key_generate()
    Device.objects.filter(pk=device.pk).update(key_prefix=prefix, key_hash=digest, key_issued_at=timezone.now(),
                                               revoked_at=None)
    device.refresh_from_db()
    return key


def device_revoke(*, device: Device) -> None:
    Device.objects.filter(pk=device.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    device.refresh_from_db()


# --- Plate sightings ------------------------------------------------------------------------------

_PLATE_NOISE = re.compile(r"[\s\-·.]")


def plate_hash(plate: str) -> str:
    """HMAC-SHA256 of the normalised plate with the secret setting; the plate itself is never stored."""
    normalised = _PLATE_NOISE.sub("", plate).upper()
    return hmac.new(conf.plate_hash_secret(), normalised.encode(), hashlib.sha256).hexdigest()


def sightings_ingest(*, device: Device, rows: list[Any], now: datetime | None = None) -> dict[str, Any]:
    """Store plate sightings (hashed) from a plate-reading camera or a gateway; per-row reasons."""
    now = now or timezone.now()
    horizon = now + timedelta(seconds=conf.future_tolerance_s())
    ids = {r.get("sensor_id") for r in rows if isinstance(r, dict) and isinstance(r.get("sensor_id"), int)
           and 0 < r["sensor_id"] < 2**63}  # larger ids cannot exist and would overflow the driver
    sensors = dict(Device.objects.filter(pk__in=ids, city_id=device.city_id, kind=DeviceKind.CAMERA)
                   .values_list("pk", "revoked_at"))
    readers = set(Device.objects.filter(pk__in=ids, is_plate_reader=True).values_list("pk", flat=True))
    errors, new = [], []
    for index, row in enumerate(rows):
        code = None
        plate = row.get("plate") if isinstance(row, dict) else None
        seen_raw = row.get("seen_at") if isinstance(row, dict) else None
        sensor_id = row.get("sensor_id") if isinstance(row, dict) else None
        try:
            seen = datetime.fromisoformat(seen_raw) if isinstance(seen_raw, str) else None
        except ValueError:
            seen = None
        if not isinstance(plate, str) or not 2 <= len(_PLATE_NOISE.sub("", plate)) <= 16 or not isinstance(
                sensor_id, int):
            code, message = "invalid_row", "A row needs sensor_id, plate (2-16 characters) and seen_at."
        elif seen is None or seen.tzinfo is None:
            code, message = "invalid_seen_at", "seen_at must be an ISO 8601 timestamp with a time zone."
        elif sensor_id not in sensors:
            code, message = "unknown_sensor", "No camera with this id in this city."
        elif device.kind == DeviceKind.CAMERA and sensor_id != device.pk:
            code, message = "sensor_not_allowed", "This device may only report for itself."
        elif sensors[sensor_id] is not None:
            code, message = "sensor_revoked", "This sensor's key was revoked; its data is not accepted."
        elif sensor_id not in readers:
            code, message = "not_a_plate_reader", "This camera is not registered as a plate reader."
        elif seen > horizon:
            code, message = "seen_in_future", "seen_at is in the future."
        if code:
            errors.append({"index": index, "code": code, "message": message})
        else:
            new.append(PlateSighting(sensor_id=sensor_id, plate_hash=plate_hash(plate), seen_at=seen))
    PlateSighting.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    return {"received": len(rows), "stored": len(new), "rejected": len(errors), "errors": errors}


# --- Incidents ------------------------------------------------------------------------------------

def incidents_detect(*, city: City, at: datetime | None = None, history_days: int = 28,
                     window_min: int = 30) -> list[Incident]:
    """Raise an incident for each segment whose latest speed (the interval at `at`, default the
    latest observed) is far below its usual speed at that time of week: robust z-score against the
    same day type's speeds within ±`window_min` of that time of day over the last `history_days`.
    Idempotent: re-running for the same interval raises nothing new. Open incidents of segments
    that are back to normal are resolved."""
    latest = Observation.objects.filter(city=city).aggregate(m=Max("interval_start"))["m"]
    if latest is None:
        return []
    at = at or latest
    current = list(Observation.objects.filter(city=city, interval_start=at)
                   .values_list("segment_id", "mean_speed_kmh"))
    if not current:
        return []
    offset = tz_offsets(np.array([int(at.timestamp())]), city.time_zone)[0]
    _, daytype_now = features.local_clock(np.array([int(at.timestamp())]), np.array([offset]))
    windows = [(at - timedelta(days=d, minutes=window_min), at - timedelta(days=d) + timedelta(minutes=window_min))
               for d in range(1, history_days + 1)]
    history: dict[int, list[float]] = {}
    from django.db.models import Q  # local: only this query builds the OR of day windows

    query = Q()
    for start, end in windows:
        query |= Q(interval_start__gte=start, interval_start__lte=end)
    rows = Observation.objects.filter(query, city=city).values_list("segment_id", "interval_start", "mean_speed_kmh")
    seg_ids, epochs, speeds = [], [], []
    for seg, start, speed in rows:
        seg_ids.append(seg)
        epochs.append(int(start.timestamp()))
        speeds.append(speed)
    if seg_ids:
        ep = np.array(epochs)
        _, daytype = features.local_clock(ep, tz_offsets(ep, city.time_zone))
        same = daytype == daytype_now[0]
        for seg, speed, keep in zip(seg_ids, speeds, same, strict=True):
            if keep:
                history.setdefault(seg, []).append(speed)
    raised: list[Incident] = []
    normal: list[int] = []
    by_segment: dict[int, list[float]] = {}
    for seg, speed in current:
        by_segment.setdefault(seg, []).append(speed)
    for seg, speeds_now in by_segment.items():
        speed = float(np.mean(speeds_now))
        score = is_incident(speed, np.array(history.get(seg, [])))
        if score is None:
            normal.append(seg)
            continue
        incident, created = Incident.objects.get_or_create(
            segment_id=seg, interval_start=at,
            defaults={"city": city, "observed_speed_kmh": round(speed, 2),
                      "expected_speed_kmh": round(score.median, 2), "robust_z": round(score.z, 2)})
        if created:
            raised.append(incident)
    Incident.objects.filter(city=city, status=IncidentStatus.OPEN, segment_id__in=normal,
                            interval_start__lt=at).update(status=IncidentStatus.RESOLVED, resolved_at=timezone.now())
    return raised


# --- Predictor ------------------------------------------------------------------------------------

def _artifact_paths(city: City, version: int) -> tuple[Path, Path]:
    folder = conf.model_dir() / city.slug / f"v{version}"
    return folder / "models.joblib", folder / "profile.npz"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def predictor_train(*, city: City, days: int | None = None, progress: Progress = _quiet,
                    grid: SpeedGrid | None = None) -> PredictorVersion:
    """Train per-horizon models on the city's last `days` of observations, evaluate against the two
    baselines on the last 24 h, store the version and activate it only if it beats both at every
    horizon."""
    days = days or conf.training_days()
    if grid is None:
        latest = Observation.objects.filter(city=city).aggregate(m=Max("interval_start"))["m"]
        if latest is None:
            raise ValueError(f"no observations for {city.slug}")
        progress(f"loading {days} days of observations for {city.slug}")
        grid = speed_grid_load(city=city, since=latest - timedelta(days=days), until=latest)
    progress(f"training on {grid.speed_kmh.shape[0]} segments x {grid.epochs.size} intervals")
    trained = train_and_evaluate(grid)
    with transaction.atomic():
        last = (PredictorVersion.objects.select_for_update().filter(city=city).order_by("-version").first())
        version = (last.version if last else 0) + 1
        models_path, profile_path = _artifact_paths(city, version)
        models_path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(trained.models, models_path)
        np.savez_compressed(profile_path, segment_ids=grid.segment_ids, profile=trained.profile)
        record = PredictorVersion.objects.create(
            city=city, version=version, horizons_min=list(trained.models), metrics=trained.metrics,
            params={"model": "HistGradientBoostingRegressor", "features": list(features.FEATURE_NAMES),
                    "summary_mae": trained.summary_mae()},
            artifact_path=str(models_path), artifact_sha256=_sha256(models_path), train_rows=trained.train_rows,
            data_from=datetime.fromtimestamp(int(grid.epochs[0]), tz=UTC),
            data_to=datetime.fromtimestamp(int(grid.epochs[-1]), tz=UTC),
        )
        progress(f"v{version}: MAE {json.dumps(trained.summary_mae())}")
        if trained.beats_baselines():
            predictor_activate(version=record)
        else:
            progress(f"v{version} does not beat both baselines: kept inactive")
    return record


@transaction.atomic
def predictor_activate(*, version: PredictorVersion) -> None:
    PredictorVersion.objects.filter(city_id=version.city_id, status=PredictorStatus.ACTIVE).exclude(
        pk=version.pk).update(status=PredictorStatus.RETIRED)
    PredictorVersion.objects.filter(pk=version.pk).update(status=PredictorStatus.ACTIVE, activated_at=timezone.now())
    version.refresh_from_db()


def predictor_load(version: PredictorVersion) -> tuple[dict, np.ndarray, np.ndarray]:
    """(models by horizon, segment ids, profile). Refuses an artifact whose hash does not match the
    one recorded at training: joblib unpickles, so only files this app wrote may be loaded."""
    models_path = Path(version.artifact_path)
    if _sha256(models_path) != version.artifact_sha256:
        raise ValueError(f"artifact of predictor {version.pk} was modified")
    models = joblib.load(models_path)
    with np.load(models_path.parent / "profile.npz", allow_pickle=False) as data:
        return models, data["segment_ids"], data["profile"]


def forecasts_refresh(*, city: City) -> int:
    """Predict every segment's speed 15/30/60 min after the latest observation with the active
    predictor and overwrite the stored forecasts. Returns the number of rows written."""
    active = PredictorVersion.objects.filter(city=city, status=PredictorStatus.ACTIVE).first()
    latest = Observation.objects.filter(city=city).aggregate(m=Max("interval_start"))["m"]
    if active is None or latest is None:
        return 0
    models, segment_ids, profile = predictor_load(active)
    if not fits_these_features(models, profile):
        # Trained before the predictor's features changed (an upgrade): retired, so that it is not served and the
        # next training (`predictor_train`, daily) activates a version of this code's features.
        PredictorVersion.objects.filter(pk=active.pk).update(status=PredictorStatus.RETIRED)
        logger.warning("traffic predictor v%s of %s was trained with other features; retired until retrained",
                       active.version, city.slug)
        return 0
    since = latest - timedelta(seconds=features.BIN_S * features.HISTORY_BINS)  # the lags and the track record
    grid = speed_grid_load(city=city, since=since, until=latest, segment_ids=segment_ids)
    predicted = predict_latest(models=models, grid=grid, profile=profile)
    issued = datetime.fromtimestamp(int(grid.epochs[-1]), tz=UTC)
    now = timezone.now()
    rows = [
        SegmentForecast(segment_id=int(seg), horizon_min=horizon, issued_for=issued,
                        target_at=issued + timedelta(minutes=horizon), speed_kmh=round(float(speed), 2),
                        predictor=active, created_at=now)
        for horizon, speeds in predicted.items() for seg, speed in zip(segment_ids, speeds, strict=True)
    ]
    SegmentForecast.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["segment", "horizon_min"],
        update_fields=["issued_for", "target_at", "speed_kmh", "predictor", "created_at"], batch_size=1000)
    return len(rows)


# --- Signal plans ---------------------------------------------------------------------------------

def flows_forecast(*, city: City, at: datetime, history_days: int = 14, window_min: int = 15,
                   segment_ids: list[int] | None = None) -> dict[int, float]:
    """Expected flow (veh/h) per segment around `at`: the mean count of the same day type within
    ±`window_min` of that time of day over the last `history_days`, scaled by how busy the last hour
    was against its own usual level (clipped to 0.5-2x), a ratio-adjusted profile forecast."""
    from django.db.models import Q

    offset = tz_offsets(np.array([int(at.timestamp())]), city.time_zone)[0]

    def windows(center: datetime) -> Q:
        query = Q()
        for d in range(1, history_days + 1):
            query |= Q(interval_start__gte=center - timedelta(days=d, minutes=window_min),
                       interval_start__lt=center - timedelta(days=d) + timedelta(minutes=window_min))
        return query

    def mean_vph(query: Q, daytype: int | None) -> dict[int, float]:
        observations = Observation.objects.filter(query, city=city)
        if segment_ids is not None:
            observations = observations.filter(segment_id__in=segment_ids)
        rows = list(observations.values_list(
            "segment_id", "interval_start", "vehicle_count", "interval_s"))
        if not rows:
            return {}
        seg = np.array([r[0] for r in rows], dtype=np.int64)
        vph = np.array([r[2] * 3600.0 / r[3] for r in rows])
        if daytype is not None:
            epochs = np.array([int(r[1].timestamp()) for r in rows], dtype=np.int64)
            _, types = features.local_clock(epochs, np.full(epochs.size, offset))
            seg, vph = seg[types == daytype], vph[types == daytype]
        ids, inverse = np.unique(seg, return_inverse=True)
        means = np.bincount(inverse, weights=vph) / np.bincount(inverse)
        return dict(zip(ids.tolist(), means.tolist(), strict=True))

    _, daytype = features.local_clock(np.array([int(at.timestamp())]), np.array([offset]))
    usual = mean_vph(windows(at), int(daytype[0]))
    recent = mean_vph(Q(interval_start__gte=at - timedelta(hours=1), interval_start__lt=at), None)
    usual_recent = mean_vph(windows(at - timedelta(minutes=30)), int(daytype[0]))
    flows = {}
    for seg, base in usual.items():
        scale = 1.0
        if seg in recent and usual_recent.get(seg):
            scale = min(max(recent[seg] / usual_recent[seg], 0.5), 2.0)
        flows[seg] = base * scale
    return flows


def phase_demands(intersection: Intersection, phases: list[SignalPhase], flows_vph: dict[int, float]
                  ) -> list[webster.PhaseDemand]:
    demands = []
    for phase in phases:
        ratios = [flows_vph.get(a.pk, 0.0) / (intersection.saturation_flow_per_lane_vph * a.lanes)
                  for a in phase.approaches.all()]
        demands.append(webster.PhaseDemand(
            flow_ratio=max(ratios, default=0.0), lost_time_s=intersection.lost_time_per_phase_s,
            min_green_s=phase.min_green_s, max_green_s=phase.max_green_s,
            pedestrian_min_s=phase.pedestrian_min_green_s))
    return demands


def signal_plan_compute(*, intersection: Intersection, flows_vph: dict[int, float], valid_from: datetime,
                        valid_for: timedelta = timedelta(minutes=15)) -> SignalPlan | None:
    phases = list(intersection.phases.prefetch_related("approaches").order_by("order"))
    if not phases:
        return None
    demands = phase_demands(intersection, phases, flows_vph)
    plan = webster.webster_plan(demands, min_cycle_s=intersection.min_cycle_s, max_cycle_s=intersection.max_cycle_s)
    greens = [
        {"phase_id": p.pk, "order": p.order, "name": p.name, "green_s": round(g, 1),
         "flow_ratio": round(d.flow_ratio, 4), "degree_of_saturation": x if math.isfinite(x) else None}
        for p, g, d, x in zip(phases, plan.greens_s, demands, plan.degrees_of_saturation, strict=True)
    ]
    with transaction.atomic():
        SignalPlan.objects.filter(intersection=intersection, is_active=True).update(is_active=False)
        return SignalPlan.objects.create(
            intersection=intersection, method=PlanMethod.WEBSTER, cycle_s=round(plan.cycle_s, 1),
            lost_time_s=plan.lost_time_s, flow_ratio_sum=round(plan.flow_ratio_sum, 4), greens=greens,
            valid_from=valid_from, valid_until=valid_from + valid_for, is_active=True)


def signal_plan_ensure(*, intersection: Intersection, at: datetime | None = None) -> SignalPlan | None:
    """The plan in force now, computed on the spot (from its approaches' forecast flows) when the refresh job
    has not run: a controller is never handed an expired plan. None without any observations."""
    at = at or timezone.now()
    plan = signal_plan_current(intersection=intersection, at=at)
    if plan is not None:
        return plan
    latest = Observation.objects.filter(city_id=intersection.city_id).aggregate(m=Max("interval_start"))["m"]
    if latest is None:
        return None
    approaches = list(RoadSegment.objects.filter(signal_phases__intersection=intersection).values_list("pk",
                                                                                                      flat=True))
    flows = flows_forecast(city=intersection.city, at=min(at, latest + timedelta(minutes=5)), segment_ids=approaches)
    return signal_plan_compute(intersection=intersection, flows_vph=flows, valid_from=at)


def signal_plans_refresh(*, city: City, at: datetime | None = None, keep_days: int = 7) -> int:
    """Compute a plan for every signalised intersection of the city for the next 15 minutes from
    forecast flows; old plans beyond `keep_days` are pruned."""
    at = at or timezone.now()
    latest = Observation.objects.filter(city=city).aggregate(m=Max("interval_start"))["m"]
    if latest is None:
        return 0
    flows = flows_forecast(city=city, at=min(at, latest + timedelta(minutes=5)))
    made = 0
    for intersection in Intersection.objects.filter(city=city, signalised=True, phases__isnull=False).distinct():
        made += signal_plan_compute(intersection=intersection, flows_vph=flows, valid_from=at) is not None
    SignalPlan.objects.filter(intersection__city=city, valid_until__lt=at - timedelta(days=keep_days)).delete()
    return made


# --- Simulation -----------------------------------------------------------------------------------

def cameras_ensure(*, city: City, interval_s: int = 300, plate_reader_share: float = 0.1,
                   rng: np.random.Generator | None = None) -> dict[int, int]:
    """One camera per segment that has none (without a key: keys are issued in the admin).
    Returns {segment_id: camera_id}."""
    rng = rng or np.random.default_rng(0)
    have = dict(Device.objects.filter(city=city, kind=DeviceKind.CAMERA, segment__isnull=False)
                .values_list("segment_id", "pk"))
    missing = [s for s in RoadSegment.objects.filter(city=city).order_by("pk").values_list("pk", "code")
               if s[0] not in have]
    Device.objects.bulk_create([
        Device(city=city, kind=DeviceKind.CAMERA, name=f"cam {code}", segment_id=pk, interval_s=interval_s,
               is_plate_reader=bool(rng.random() < plate_reader_share))
        for pk, code in missing
    ], batch_size=1000)
    return dict(Device.objects.filter(city=city, kind=DeviceKind.CAMERA, segment__isnull=False)
                .values_list("segment_id", "pk"))


def observations_bulk_write(rows: list[tuple], *, progress: Progress = _quiet) -> None:
    """Fast bulk write of (sensor_id, segment_id, city_id, interval_start, interval_s, count, speed,
    occupancy, received_at) rows: COPY on PostgreSQL, executemany elsewhere; existing rows are kept."""
    chunk = 50_000
    # Column names are constants of this module (never input), hence the S608 waivers below.
    columns = ("sensor_id", "segment_id", "city_id", "interval_start", "interval_s", "vehicle_count",
               "mean_speed_kmh", "occupancy", "received_at")
    names = ", ".join(columns)
    copy_sql = f"COPY traffic_obs_load ({names}) FROM STDIN"
    direct_sql = f"COPY traffic_observation ({names}) FROM STDIN"
    create_sql = (f"CREATE TEMP TABLE traffic_obs_load ON COMMIT DROP AS "  # noqa: S608
                  f"SELECT {names} FROM traffic_observation WITH NO DATA")
    merge_sql = (f"INSERT INTO traffic_observation ({names}) SELECT {names} FROM traffic_obs_load "  # noqa: S608
                 "ON CONFLICT (sensor_id, interval_start) DO NOTHING")
    values = ", ".join(["%s"] * len(columns))
    portable_sql = (f"INSERT INTO traffic_observation ({names}) VALUES ({values}) "  # noqa: S608
                    "ON CONFLICT (sensor_id, interval_start) DO NOTHING")
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            with transaction.atomic():
                if postgresql_sql():
                    try:
                        # Usually the interval range is new: COPY straight into the table (one pass).
                        with transaction.atomic(), cursor.cursor.copy(direct_sql) as copy:
                            for row in part:
                                copy.write_row(row)
                    except (IntegrityError, psycopg.IntegrityError):  # raw COPY raises psycopg's own
                        # Some rows exist: stage in a temp table and merge, keeping the stored rows.
                        cursor.execute(create_sql)
                        with cursor.cursor.copy(copy_sql) as copy:
                            for row in part:
                                copy.write_row(row)
                        cursor.execute(merge_sql)
                        cursor.execute("DROP TABLE traffic_obs_load")  # ON COMMIT does not fire in a savepoint
                else:
                    cursor.executemany(portable_sql, part)
            progress(f"observations: {min(start + chunk, len(rows))}/{len(rows)} written")


def traffic_simulate(*, city: City, days: float, end: datetime | None = None, interval_s: int = 300,
                     seed: int = 0, incidents_per_day: float = 3.0, progress: Progress = _quiet) -> dict[str, Any]:
    """Simulate `days` of observations ending at `end` for every segment of the city (see
    core/simulator.py for the model) and write them through the cameras. Returns a summary with the
    injected incidents."""
    end = end or timezone.now()
    end_epoch = int(end.timestamp()) // interval_s * interval_s
    epochs = np.arange(end_epoch - round(days * 86400), end_epoch, interval_s, dtype=np.int64)
    segments = list(RoadSegment.objects.filter(city=city).order_by("pk").values_list(
        "pk", "free_flow_speed_kmh", "lanes", "road_class"))
    if not segments:
        raise ValueError(f"{city.slug} has no road network: import or generate one first")
    rng = np.random.default_rng(seed)
    cameras = cameras_ensure(city=city, interval_s=interval_s, rng=rng)
    seg_ids = np.array([s[0] for s in segments])
    sim = simulate(
        free_flow_kmh=np.array([s[1] for s in segments], dtype=float), lanes=np.array([s[2] for s in segments]),
        arterial=np.array([s[3] != "local" for s in segments]), epochs=epochs,
        utc_offsets_s=tz_offsets(epochs, city.time_zone), interval_s=interval_s, rng=rng,
        incidents_per_day=incidents_per_day)
    progress(f"simulated {len(segments)} segments x {epochs.size} intervals; {len(sim.incidents)} incidents injected")
    times = [datetime.fromtimestamp(int(e), tz=UTC) for e in epochs]
    now = timezone.now()
    # The database's own storage format, adapted once per interval rather than once per row (on SQLite the
    # driver's per-value datetime adapter was most of the write).
    adapt = connection.ops.adapt_datetimefield_value
    times_db, now_db = [adapt(t) for t in times], adapt(now)
    rows = []
    for i, seg in enumerate(seg_ids.tolist()):
        camera = cameras[seg]
        speeds, counts, occ = sim.speed_kmh[i].tolist(), sim.count[i].tolist(), sim.occupancy[i].tolist()
        rows.extend((camera, seg, city.pk, times_db[t], interval_s, counts[t], speeds[t], occ[t], now_db)
                    for t in range(epochs.size))
    observations_bulk_write(rows, progress=progress)
    grid = SpeedGrid(segment_ids=seg_ids, epochs=epochs, utc_offsets_s=tz_offsets(epochs, city.time_zone),
                     speed_kmh=sim.speed_kmh.astype(float),
                     free_flow_kmh=np.array([s[1] for s in segments], dtype=float),
                     lanes=np.array([s[2] for s in segments], dtype=float))
    return {
        "grid": grid if interval_s == features.BIN_S else None,
        "city": city.slug, "segments": len(segments), "intervals": int(epochs.size), "rows": len(rows),
        "incidents": [{"segment_id": int(seg_ids[x.segment_index]),
                       "start": times[x.start_index].isoformat(), "minutes": (x.end_index - x.start_index) * interval_s
                       // 60, "severity": round(x.severity, 2)} for x in sim.incidents],
    }


def traffic_simulate_to_now(*, city: City, now: datetime | None = None, interval_s: int = 300,
                            max_days: float = 1.0) -> int:
    """The demo's camera feed: simulate the intervals that have ended since the city's latest observation (at
    most `max_days`), so a demo left running has fresh data for its forecasts, incidents and signal plans.
    Returns the rows written."""
    now = now or timezone.now()
    end_epoch = int(now.timestamp()) // interval_s * interval_s
    latest = Observation.objects.filter(city=city).aggregate(m=Max("interval_start"))["m"]
    start = end_epoch - round(max_days * 86400)
    if latest is not None:
        start = max(start, int(latest.timestamp()) + interval_s)
    if start >= end_epoch:
        return 0
    summary = traffic_simulate(city=city, days=(end_epoch - start) / 86400,
                               end=datetime.fromtimestamp(end_epoch, tz=UTC), interval_s=interval_s, seed=end_epoch,
                               incidents_per_day=3.0)
    return summary["rows"]


# --- Signal timing comparison ---------------------------------------------------------------------

PERIODS_LOCAL_HOUR = {"am_peak": 8.0, "midday": 13.0, "pm_peak": 18.0, "evening": 21.0}


def signals_compare(*, city: City, intersections: int = 12, fixed_cycle_s: float = 90.0, seconds: int = 3600,
                    warmup_s: int = 900, seed: int = 0, progress: Progress = _quiet) -> dict[str, Any]:
    """Average delay per vehicle of a fixed plan (`fixed_cycle_s`, equal greens: a legacy time-of-day
    plan) against Webster plans computed per period from the forecast flows, on the same Poisson
    arrivals (core/queueing.py), for the peak and off-peak periods of the latest observed weekday.
    Webster's delay formula is reported beside the simulation as a cross-check."""
    from traffic.core.queueing import Approach, green_mask, simulate_queues

    latest = Observation.objects.filter(city=city).aggregate(m=Max("interval_start"))["m"]
    if latest is None:
        raise ValueError(f"no observations for {city.slug}: run simulate_traffic first")
    offset = int(tz_offsets(np.array([int(latest.timestamp())]), city.time_zone)[0])
    local_midnight = (int(latest.timestamp()) + offset) // 86400 * 86400 - offset
    day = datetime.fromtimestamp(local_midnight, tz=UTC)
    while features.local_clock(np.array([int(day.timestamp())]), np.array([offset]))[1][0] != 0:
        day -= timedelta(days=1)  # the latest weekday
    chosen = list(Intersection.objects.filter(city=city, signalised=True, phases__isnull=False).distinct()
                  .order_by("pk")[:intersections])
    if not chosen:
        raise ValueError(f"{city.slug} has no signalised intersections with phases")
    rng_seed = np.random.SeedSequence(seed)
    totals = {"fixed": [0.0, 0], "webster": [0.0, 0]}
    formula = {"fixed": [0.0, 0.0], "webster": [0.0, 0.0]}
    oversaturated = {"fixed": 0, "webster": 0}
    periods = {}
    for name, hour in PERIODS_LOCAL_HOUR.items():
        at = day + timedelta(hours=hour)
        flows = flows_forecast(city=city, at=at)
        period = {"fixed": [0.0, 0], "webster": [0.0, 0]}
        for intersection in chosen:
            phases = list(intersection.phases.prefetch_related("approaches").order_by("order"))
            demands = phase_demands(intersection, phases, flows)
            plan = webster.webster_plan(demands, min_cycle_s=intersection.min_cycle_s,
                                        max_cycle_s=intersection.max_cycle_s)
            lost = intersection.lost_time_per_phase_s
            fixed_green = (fixed_cycle_s - lost * len(phases)) / len(phases)
            approaches, rates = [], []
            for index, phase in enumerate(phases):
                for segment in phase.approaches.all():
                    approaches.append(Approach(index, intersection.saturation_flow_per_lane_vph * segment.lanes / 3600))
                    rates.append(flows.get(segment.pk, 0.0) / 3600)
            demand = np.repeat(np.array(rates)[:, None], seconds + warmup_s, axis=1)
            child = rng_seed.spawn(1)[0]
            plans = {"fixed": [fixed_green] * len(phases), "webster": plan.greens_s}
            for label, greens in plans.items():
                mask = green_mask(greens_s=greens, lost_per_phase_s=lost, seconds=seconds + warmup_s)
                result = simulate_queues(approaches=approaches, demand_vps=demand, mask=mask,
                                         rng=np.random.default_rng(child), warmup_s=warmup_s)
                period[label][0] += result.total_delay_s
                period[label][1] += result.arrivals
            # Webster's formula, flow-weighted over the approaches it can judge (x < 1 under both plans).
            for approach, rate in zip(approaches, rates, strict=True):
                delays = {}
                for label, greens in plans.items():
                    delays[label] = webster.webster_delay(
                        cycle_s=sum(greens) + lost * len(phases), green_s=greens[approach.phase_index],
                        flow_vps=rate, saturation_vps=approach.saturation_vps)
                    oversaturated[label] += not math.isfinite(delays[label])
                if all(math.isfinite(d) for d in delays.values()):
                    for label, d in delays.items():
                        formula[label][0] += d * rate
                        formula[label][1] += rate
        for label in totals:
            totals[label][0] += period[label][0]
            totals[label][1] += period[label][1]
        periods[name] = {label: round(period[label][0] / max(period[label][1], 1), 2) for label in period}
        progress(f"{name}: fixed {periods[name]['fixed']} s/veh, webster {periods[name]['webster']} s/veh")
    if not totals["webster"][1]:
        # No forecast flow at any period: comparing delays of zero vehicles would print a meaningless 0 % result.
        raise ValueError(f"no forecast traffic for {city.slug} on {day.date().isoformat()} (the latest weekday): the "
                         "forecast needs earlier weekday observations at these hours; simulate or import more days "
                         "(e.g. simulate_traffic --days 8)")
    fixed = totals["fixed"][0] / max(totals["fixed"][1], 1)
    computed = totals["webster"][0] / max(totals["webster"][1], 1)
    return {
        "city": city.slug, "intersections": len(chosen), "day": day.date().isoformat(),
        "vehicles": totals["webster"][1], "fixed_cycle_s": fixed_cycle_s,
        "fixed_delay_s": round(fixed, 2), "webster_delay_s": round(computed, 2),
        "reduction_pct": round(100 * (fixed - computed) / fixed, 1) if fixed else 0.0,
        "periods": periods,
        "formula_check": {label: round(v[0] / v[1], 2) if v[1] else None for label, v in formula.items()},
        "oversaturated_approach_periods": oversaturated,
    }
