from rest_framework import serializers

MAX_ID = 2**63 - 1  # database bigint: larger ids cannot exist (and would overflow the driver)


class ObservationRowSerializer(serializers.Serializer):
    """One row of a batch (documentation only: the hot path validates rows without a serializer)."""

    sensor_id = serializers.IntegerField(help_text="Id of the camera (device) that measured the segment.")
    interval_start = serializers.DateTimeField(help_text="Start of the interval, aligned to the sensor's interval.")
    vehicle_count = serializers.IntegerField(min_value=0)
    mean_speed_kmh = serializers.FloatField(min_value=0)
    occupancy = serializers.FloatField(min_value=0, max_value=1)


class ObservationBatchSerializer(serializers.Serializer):
    observations = ObservationRowSerializer(many=True)


class RowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the row in the batch.")
    code = serializers.CharField()
    message = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Rows already stored with the same values (idempotent replays).")
    rejected = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)


class SightingRowSerializer(serializers.Serializer):
    sensor_id = serializers.IntegerField()
    plate = serializers.CharField(help_text="Hashed with a secret on arrival; never stored.")
    seen_at = serializers.DateTimeField()


class SightingBatchSerializer(serializers.Serializer):
    sightings = SightingRowSerializer(many=True)


class SightingResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    rejected = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)


class PhaseGreenSerializer(serializers.Serializer):
    phase_id = serializers.IntegerField()
    order = serializers.IntegerField()
    name = serializers.CharField()
    green_s = serializers.FloatField()
    flow_ratio = serializers.FloatField()
    degree_of_saturation = serializers.FloatField(allow_null=True)


class SignalPlanSerializer(serializers.Serializer):
    intersection_id = serializers.IntegerField()
    plan_id = serializers.IntegerField(source="pk")
    method = serializers.CharField()
    cycle_s = serializers.FloatField()
    lost_time_s = serializers.FloatField()
    flow_ratio_sum = serializers.FloatField()
    phases = PhaseGreenSerializer(many=True, source="greens")
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class WorstSegmentSerializer(serializers.Serializer):
    segment_id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    road_class = serializers.CharField()
    speed_kmh = serializers.FloatField()
    free_flow_speed_kmh = serializers.FloatField()
    congestion_index = serializers.FloatField()
    level = serializers.CharField()


class TrendPointSerializer(serializers.Serializer):
    bucket_start = serializers.DateTimeField()
    congestion_index = serializers.FloatField()


class DashboardSerializer(serializers.Serializer):
    city = serializers.CharField()
    as_of = serializers.DateTimeField(allow_null=True, help_text="Start of the latest observed interval.")
    average_congestion_index = serializers.FloatField(allow_null=True,
                                                      help_text="Mean of 1 - speed/free-flow over segments, 0..1.")
    average_speed_kmh = serializers.FloatField(allow_null=True)
    level = serializers.CharField(allow_null=True)
    worst_segments = WorstSegmentSerializer(many=True)
    trend = TrendPointSerializer(many=True)
    open_incidents = serializers.IntegerField()


class IncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    segment_id = serializers.IntegerField()
    segment_code = serializers.CharField(source="segment.code")
    segment_name = serializers.CharField(source="segment.name")
    interval_start = serializers.DateTimeField()
    observed_speed_kmh = serializers.FloatField()
    expected_speed_kmh = serializers.FloatField()
    robust_z = serializers.FloatField()
    status = serializers.CharField()
    detected_at = serializers.DateTimeField()


def _parse_point(value: str) -> tuple[float, float]:
    parts = value.split(",")
    if len(parts) != 2:
        raise serializers.ValidationError("Expected `lat,lon`.")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise serializers.ValidationError("Expected `lat,lon` as numbers.")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise serializers.ValidationError("Latitude must be within ±90 and longitude within ±180.")
    return lat, lon


class PointField(serializers.CharField):
    def to_internal_value(self, data):
        return _parse_point(super().to_internal_value(data))


def _reasonable_time(value, *, past_days: int = 366, future_days: int = 30):
    """Routes and statistics make sense within a year back and a month ahead (also keeps datetime
    arithmetic far from its limits)."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    if not now - timedelta(days=past_days) <= value <= now + timedelta(days=future_days):
        raise serializers.ValidationError(f"Must be within {past_days} days back and {future_days} days ahead.")
    return value


class RouteQuerySerializer(serializers.Serializer):
    # `from` is a Python keyword: the field is declared under another name and renamed below.
    origin = PointField(help_text="`lat,lon` of the start.")
    to = PointField(help_text="`lat,lon` of the destination.")
    depart_at = serializers.DateTimeField(required=False, help_text="Default: now.",
                                          validators=[_reasonable_time])

    def to_internal_value(self, data):
        data = data.copy()
        if "from" in data:
            data["origin"] = data["from"]
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict) and "origin" in detail:
                detail["from"] = detail.pop("origin")
            raise serializers.ValidationError(detail)


class RouteSegmentSerializer(serializers.Serializer):
    segment_id = serializers.IntegerField()
    code = serializers.CharField()
    length_m = serializers.FloatField()
    speed_kmh = serializers.FloatField()
    seconds = serializers.FloatField()


class RouteSerializer(serializers.Serializer):
    depart_at = serializers.DateTimeField()
    arrive_at = serializers.DateTimeField()
    eta_minutes = serializers.FloatField()
    distance_m = serializers.FloatField()
    drive_seconds = serializers.FloatField()
    access_seconds = serializers.FloatField(help_text="To and from the nearest intersections at 20 km/h.")
    speed_source = serializers.CharField(help_text="observed, forecast_15min/30min/60min, profile or free_flow.")
    speeds_as_of = serializers.DateTimeField(
        allow_null=True, help_text="The time the speeds describe: the latest observed interval, or the forecast's "
                                   "target time (it moves on as the forecasts are refreshed); null for the profile "
                                   "and free flow.")
    segments = RouteSegmentSerializer(many=True)
    path = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()),
                                 help_text="[[lat, lon], ...] of the intersections along the route.")


class TravelTimeQuerySerializer(serializers.Serializer):
    from_sensor = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    to_sensor = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    since = serializers.DateTimeField(required=False, help_text="Default: 24 h before `until`.",
                                      validators=[_reasonable_time])
    until = serializers.DateTimeField(required=False, help_text="Default: now.", validators=[_reasonable_time])

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"since": ["must be before until"]})
        if attrs["from_sensor"] == attrs["to_sensor"]:
            raise serializers.ValidationError({"to_sensor": ["must differ from from_sensor"]})
        return attrs


class TravelTimeSerializer(serializers.Serializer):
    from_sensor = serializers.IntegerField()
    to_sensor = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    matches = serializers.IntegerField(help_text="Trips matched by plate hash.")
    median_s = serializers.FloatField(allow_null=True)
    p25_s = serializers.FloatField(allow_null=True)
    p75_s = serializers.FloatField(allow_null=True)
    mean_s = serializers.FloatField(allow_null=True)
