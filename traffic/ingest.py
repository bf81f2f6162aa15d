"""Bulk ingestion of sensor observations: the hot path.

One request carries up to a few thousand rows. Every row is validated with plain comparisons (no
serializer, no model instances), the good rows are written with ONE statement per batch, and each
bad row gets a reason. Idempotent per (sensor, interval_start): a replay of a stored row with the
same values is a `duplicate` (not an error); with different values it is rejected as
`duplicate_conflict` and the stored row wins (the first report of an interval is the truth).

PostgreSQL: `INSERT ... SELECT FROM json_to_recordset(batch) ON CONFLICT DO NOTHING`, returning the
number of inserted rows (one statement, the batch as one JSON parameter), and only when some rows were not
inserted a second query reads the stored values to tell duplicates from conflicts. Elsewhere (SQLite) the
portable path reads the stored rows first and `bulk_create(ignore_conflicts=True)`s the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from superapp.db import postgresql_sql
from traffic import conf
from traffic.models import Device, DeviceKind, Observation

# The batch travels as ONE json parameter (orjson renders it in well under a millisecond) that the
# server expands with json_to_recordset: far cheaper than binding eight 500-element arrays.
# set_config(..., is_local => true) rides in the same statement as the insert: one round trip.
MAX_ID = 2**63 - 1

# Only the number of inserted rows comes back: when it is the whole batch (the normal case) there is
# nothing to classify; otherwise `_EXISTING_SQL` reads the stored values of the batch's keys.
_INSERT_SQL = """
WITH cfg AS (SELECT set_config('synchronous_commit', %(synchronous_commit)s, true)),
ins AS (
    INSERT INTO traffic_observation
        (sensor_id, segment_id, city_id, interval_start, interval_s, vehicle_count, mean_speed_kmh, occupancy,
         received_at)
    SELECT t.sensor_id, t.segment_id, %(city)s, to_timestamp(t.epoch), t.interval_s, t.vehicle_count,
           t.mean_speed_kmh, t.occupancy, %(now)s
    FROM cfg, json_to_recordset(%(rows)s::json) AS t(sensor_id bigint, segment_id bigint, epoch bigint,
                                                interval_s integer, vehicle_count integer,
                                                mean_speed_kmh double precision, occupancy double precision)
    ON CONFLICT (sensor_id, interval_start) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM ins
"""

_EXISTING_SQL = """
SELECT o.sensor_id, extract(epoch FROM o.interval_start)::bigint, o.vehicle_count, o.mean_speed_kmh, o.occupancy
FROM traffic_observation o
JOIN json_to_recordset(%(keys)s::json) AS k(sensor_id bigint, epoch bigint)
  ON o.sensor_id = k.sensor_id AND o.interval_start = to_timestamp(k.epoch)
"""

_SENSORS_SQL = """
SELECT id, segment_id, interval_s, revoked_at IS NOT NULL
FROM traffic_device
WHERE id = ANY(%(ids)s) AND city_id = %(city)s AND kind = 'camera' AND segment_id IS NOT NULL
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


def _epoch(value: Any, seen: dict[str, float | None]) -> float | None:
    """`_parse_time(value)` as epoch seconds, parsed once per distinct string in a batch (a gateway's
    rows mostly share one interval)."""
    if not isinstance(value, str):
        return None
    try:
        return seen[value]
    except KeyError:
        parsed = _parse_time(value)
        seen[value] = epoch = None if parsed is None else parsed.timestamp()
        return epoch


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _same(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and abs(a[1] - b[1]) < 1e-6 and abs(a[2] - b[2]) < 1e-6


def _sensors(ids: set[int], city_id: int) -> dict[int, tuple[int, int, bool]]:
    """{camera id: (segment id, interval_s, revoked)} for the batch's cameras of this city: one query."""
    if not ids:
        return {}
    if postgresql_sql():
        import psycopg

        connection.ensure_connection()
        # Server-side binding: the id array goes over binary instead of being quoted into the SQL text.
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(_SENSORS_SQL, {"ids": list(ids), "city": city_id})
            return {sid: (seg, interval_s, revoked) for sid, seg, interval_s, revoked in cursor.fetchall()}
    return {
        sid: (seg, interval_s, revoked_at is not None)
        for sid, seg, interval_s, revoked_at in Device.objects.filter(
            pk__in=ids, city_id=city_id, kind=DeviceKind.CAMERA, segment__isnull=False,
        ).values_list("pk", "segment_id", "interval_s", "revoked_at")
    }


def observations_ingest(*, device: Device, rows: list[Any], now: datetime | None = None) -> IngestResult:
    """Validate and store a batch from `device` (a camera reporting for itself or a city gateway)."""
    now = now or timezone.now()
    result = IngestResult(received=len(rows))
    errors = result.errors
    sensor_ids = {row.get("sensor_id") for row in rows if isinstance(row, dict)}
    # Ids outside bigint cannot exist (and would overflow the driver): they stay unknown sensors.
    sensor_ids = {s for s in sensor_ids if isinstance(s, int) and not isinstance(s, bool) and 0 < s <= MAX_ID}
    sensors = _sensors(sensor_ids, device.city_id)
    max_speed = conf.max_speed_kmh()
    horizon = now.timestamp() + conf.future_tolerance_s()
    only_self = device.kind == DeviceKind.CAMERA

    # (sensor id, interval start as epoch seconds) -> (count, speed, occupancy, segment, interval_s, row index)
    good: dict[tuple[int, int], tuple[int, float, float, int, int, int]] = {}
    seen_times: dict[str, float | None] = {}
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
        elif (start_s := _epoch(row.get("interval_start"), seen_times)) is None:
            code = "invalid_interval_start"
        elif (sensor := sensors.get(sensor_id)) is None:
            code = "unknown_sensor"
        elif only_self and sensor_id != device.pk:
            code = "sensor_not_allowed"
        elif sensor[2]:
            code = "sensor_revoked"
        elif not isinstance(count, int) or isinstance(count, bool):
            code = "negative_count" if _is_number(count) and count < 0 else "invalid_count"
        elif count < 0:
            code = "negative_count"
        elif not _is_number(speed) or speed < 0 or speed > max_speed:
            code = "speed_out_of_range"
        elif not _is_number(occupancy) or occupancy < 0 or occupancy > 1:
            code = "invalid_occupancy"
        elif start_s + sensor[1] > horizon:
            code = "interval_in_future"
        elif start_s % sensor[1]:
            code = "interval_misaligned"
        else:
            key = (sensor_id, int(start_s))
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
        if postgresql_sql():
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
    import psycopg

    rows = [
        {"sensor_id": key[0], "segment_id": v[3], "epoch": key[1], "interval_s": v[4], "vehicle_count": v[0],
         "mean_speed_kmh": v[1], "occupancy": v[2]}
        for key, v in good.items()
    ]
    connection.ensure_connection()
    # No explicit transaction: the INSERT is one statement, atomic on its own (under Django's
    # autocommit that saves the BEGIN and COMMIT round trips). A plain psycopg cursor, because
    # Django's interpolates parameters client-side, which this statement does not need.
    # synchronous_commit off (TRAFFIC_INGEST_SYNCHRONOUS_COMMIT): this is telemetry, not money; a
    # PostgreSQL crash may lose the last < 1 s of acknowledged batches (devices re-send and ingestion
    # is idempotent), and the statement no longer waits for its WAL flush.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_INSERT_SQL, {
            "city": city_id, "now": now, "rows": orjson.dumps(rows).decode(),
            "synchronous_commit": "on" if conf.ingest_synchronous_commit() else "off",
        })
        result.stored = cursor.fetchone()[0]
        if result.stored < len(good):
            # Some keys were stored already. The batch's own rows are committed and visible now and
            # carry the batch's values; every other stored row either matches (a duplicate) or not
            # (a conflict, reported with the row's index).
            keys = orjson.dumps([{"sensor_id": k[0], "epoch": k[1]} for k in good]).decode()
            cursor.execute(_EXISTING_SQL, {"keys": keys})
            conflicts = 0
            for sid, start, count, speed, occ in cursor.fetchall():
                values = good[(sid, start)]
                if not _same((count, speed, occ), values[:3]):
                    conflicts += 1
                    result.errors.append(RowError(values[5], "duplicate_conflict", MESSAGES["duplicate_conflict"]))
            # Includes a row that lost a race with a concurrent identical insert and is not visible
            # yet: it is stored (by the other request), so it counts as a duplicate.
            result.duplicates += len(good) - result.stored - conflicts


def _store_portable(*, good: dict, city_id: int, now: datetime, result: IngestResult) -> None:
    sensor_ids = {k[0] for k in good}
    starts = [k[1] for k in good]
    with transaction.atomic():
        existing = {}
        for sid, start, count, speed, occ in Observation.objects.filter(
            sensor_id__in=sensor_ids, interval_start__gte=datetime.fromtimestamp(min(starts), tz=UTC),
            interval_start__lte=datetime.fromtimestamp(max(starts), tz=UTC),
        ).values_list("sensor_id", "interval_start", "vehicle_count", "mean_speed_kmh", "occupancy"):
            key = (sid, int(start.timestamp()))
            if key in good:
                existing[key] = (count, speed, occ)
        _classify_existing(good=good, existing=existing, result=result)
        new = [
            Observation(sensor_id=k[0], segment_id=v[3], city_id=city_id,
                        interval_start=datetime.fromtimestamp(k[1], tz=UTC), interval_s=v[4],
                        vehicle_count=v[0], mean_speed_kmh=v[1], occupancy=v[2], received_at=now)
            for k, v in good.items() if k not in existing
        ]
        Observation.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
        result.stored = len(new)
