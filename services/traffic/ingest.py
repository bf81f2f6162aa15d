"""Bulk ingestion of sensor observations: the hot path.

One request carries up to a few thousand rows. Every row is validated with plain comparisons (no
serializer, no model instances), the good rows are written with ONE statement per batch, and each
bad row gets a reason. Idempotent per (sensor, interval_start): a replay of a stored row with the
same values is a `duplicate` (not an error); with different values it is rejected as
`duplicate_conflict` and the stored row wins (the first report of an interval is the truth).

PostgreSQL: `INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING` (one round trip,
arrays bound in binary by psycopg), and only when some rows were not inserted a second query reads
the stored values to tell duplicates from conflicts. Elsewhere (SQLite) the portable path reads the
stored rows first and `bulk_create(ignore_conflicts=True)`s the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from services.traffic import conf
from services.traffic.models import Device, DeviceKind, Observation

_INSERT_SQL = """
WITH input AS (
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::timestamptz[], %s::integer[],
                         %s::integer[], %s::double precision[], %s::double precision[])
        AS t(sensor_id, segment_id, city_id, interval_start, interval_s, vehicle_count, mean_speed_kmh, occupancy)
)
INSERT INTO traffic_observation
    (sensor_id, segment_id, city_id, interval_start, interval_s, vehicle_count, mean_speed_kmh, occupancy, received_at)
SELECT sensor_id, segment_id, city_id, interval_start, interval_s, vehicle_count, mean_speed_kmh, occupancy, %s
FROM input
ON CONFLICT (sensor_id, interval_start) DO NOTHING
RETURNING sensor_id, interval_start
"""

_EXISTING_SQL = """
SELECT o.sensor_id, o.interval_start, o.vehicle_count, o.mean_speed_kmh, o.occupancy
FROM traffic_observation o
JOIN unnest(%s::bigint[], %s::timestamptz[]) AS k(sensor_id, interval_start)
  ON o.sensor_id = k.sensor_id AND o.interval_start = k.interval_start
"""

MESSAGES = {
    "invalid_row": "A row must be an object with sensor_id, interval_start, vehicle_count, mean_speed_kmh, occupancy.",
    "invalid_interval_start": "interval_start must be an ISO 8601 timestamp with a time zone.",
    "unknown_sensor": "No camera with this id in this city.",
    "sensor_not_allowed": "This device may only report for itself.",
    "sensor_revoked": "This sensor's key was revoked; its data is not accepted.",
    "interval_in_future": "The interval has not ended yet.",
    "interval_misaligned": "interval_start must be aligned to the sensor's reporting interval.",
    "negative_count": "vehicle_count cannot be negative.",
    "invalid_count": "vehicle_count must be an integer.",
    "speed_out_of_range": "mean_speed_kmh must be between 0 and the sanity limit.",
    "invalid_occupancy": "occupancy must be between 0 and 1.",
    "duplicate_conflict": "This sensor already reported this interval with different values.",
}


@dataclass
class RowError:
    index: int
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "message": self.message}


@dataclass
class IngestResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                "rejected": self.rejected, "errors": [e.as_dict() for e in self.errors]}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _same(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and abs(a[1] - b[1]) < 1e-6 and abs(a[2] - b[2]) < 1e-6


def observations_ingest(*, device: Device, rows: list[Any], now: datetime | None = None) -> IngestResult:
    """Validate and store a batch from `device` (a camera reporting for itself or a city gateway)."""
    now = now or timezone.now()
    result = IngestResult(received=len(rows))
    errors = result.errors
    sensor_ids = {row.get("sensor_id") for row in rows if isinstance(row, dict)}
    sensor_ids = {s for s in sensor_ids if isinstance(s, int) and not isinstance(s, bool)}
    sensors = {
        sid: (segment_id, interval_s, revoked_at)
        for sid, segment_id, interval_s, revoked_at in Device.objects.filter(
            pk__in=sensor_ids, city_id=device.city_id, kind=DeviceKind.CAMERA, segment__isnull=False,
        ).values_list("pk", "segment_id", "interval_s", "revoked_at")
    }
    max_speed = conf.max_speed_kmh()
    horizon = now + timedelta(seconds=conf.future_tolerance_s())
    only_self = device.kind == DeviceKind.CAMERA
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    good: dict[tuple[int, datetime], tuple[int, int, int, float, float, int]] = {}  # key -> values + index
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            errors.append(RowError(index, "invalid_row", MESSAGES["invalid_row"]))
            continue
        sensor_id = row.get("sensor_id")
        count = row.get("vehicle_count")
        speed = row.get("mean_speed_kmh")
        occupancy = row.get("occupancy")
        if not isinstance(sensor_id, int) or isinstance(sensor_id, bool) or count is None or speed is None \
                or occupancy is None:
            code = "invalid_row"
        elif (start := _parse_time(row.get("interval_start"))) is None:
            code = "invalid_interval_start"
        elif (sensor := sensors.get(sensor_id)) is None:
            code = "unknown_sensor"
        elif only_self and sensor_id != device.pk:
            code = "sensor_not_allowed"
        elif sensor[2] is not None:
            code = "sensor_revoked"
        elif not isinstance(count, int) or isinstance(count, bool):
            code = "negative_count" if _is_number(count) and count < 0 else "invalid_count"
        elif count < 0:
            code = "negative_count"
        elif not _is_number(speed) or speed < 0 or speed > max_speed:
            code = "speed_out_of_range"
        elif not _is_number(occupancy) or occupancy < 0 or occupancy > 1:
            code = "invalid_occupancy"
        elif start + timedelta(seconds=sensor[1]) > horizon:
            code = "interval_in_future"
        elif (start - epoch).total_seconds() % sensor[1]:
            code = "interval_misaligned"
        else:
            key = (sensor_id, start)
            values = (count, float(speed), float(occupancy))
            previous = good.get(key)
            if previous is None:
                good[key] = (*values, sensor[0], sensor[1], index)
            elif _same(previous, values):
                result.duplicates += 1
            else:
                errors.append(RowError(index, "duplicate_conflict", MESSAGES["duplicate_conflict"]))
            continue
        errors.append(RowError(index, code, MESSAGES[code]))

    if good:
        if connection.vendor == "postgresql":
            _store_postgres(good=good, city_id=device.city_id, now=now, result=result)
        else:
            _store_portable(good=good, city_id=device.city_id, now=now, result=result)
    errors.sort(key=lambda e: e.index)
    return result


def _classify_existing(*, good: dict, existing: dict, result: IngestResult) -> None:
    for key, stored in existing.items():
        values = good[key]
        if _same(stored, values[:3]):
            result.duplicates += 1
        else:
            result.errors.append(RowError(values[5], "duplicate_conflict", MESSAGES["duplicate_conflict"]))


def _store_postgres(*, good: dict, city_id: int, now: datetime, result: IngestResult) -> None:
    keys = list(good)
    values = list(good.values())
    params = [
        [k[0] for k in keys], [v[3] for v in values], [city_id] * len(keys), [k[1] for k in keys],
        [v[4] for v in values], [v[0] for v in values], [v[1] for v in values], [v[2] for v in values], now,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)
        inserted = {(sid, start) for sid, start in cursor.fetchall()}
        result.stored = len(inserted)
        missing = [k for k in keys if k not in inserted]
        if missing:
            cursor.execute(_EXISTING_SQL, [[k[0] for k in missing], [k[1] for k in missing]])
            existing = {(sid, start): (count, speed, occ) for sid, start, count, speed, occ in cursor.fetchall()}
            _classify_existing(good=good, existing=existing, result=result)
            # A row that lost a race with a concurrent identical insert and is not visible to this
            # statement's snapshot yet: it is stored (by the other request), so count it as a duplicate.
            result.duplicates += len(missing) - len(existing)


def _store_portable(*, good: dict, city_id: int, now: datetime, result: IngestResult) -> None:
    sensor_ids = {k[0] for k in good}
    starts = [k[1] for k in good]
    with transaction.atomic():
        existing = {
            (sid, start): (count, speed, occ)
            for sid, start, count, speed, occ in Observation.objects.filter(
                sensor_id__in=sensor_ids, interval_start__gte=min(starts), interval_start__lte=max(starts),
            ).values_list("sensor_id", "interval_start", "vehicle_count", "mean_speed_kmh", "occupancy")
            if (sid, start) in good
        }
        _classify_existing(good=good, existing=existing, result=result)
        new = [
            Observation(sensor_id=k[0], segment_id=v[3], city_id=city_id, interval_start=k[1], interval_s=v[4],
                        vehicle_count=v[0], mean_speed_kmh=v[1], occupancy=v[2], received_at=now)
            for k, v in good.items() if k not in existing
        ]
        Observation.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
        result.stored = len(new)
