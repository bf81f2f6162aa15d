"""City Brain: road network, sensing devices, observations, incidents, forecasts and signal plans.

Observations are the hot table (a city's cameras report every few minutes): they are written by the
bulk ingestion path in `ingest.py` with one multi-row statement per batch, never through these model
instances, and carry `city_id`/`segment_id` copies of the sensor's placement so analysis queries need
no join.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Intersection(models.Model):
    city = models.ForeignKey("services.City", on_delete=models.CASCADE, related_name="intersections")
    code = models.CharField(max_length=64, help_text="Id in the imported network, unique per city.")
    name = models.CharField(max_length=200, blank=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    signalised = models.BooleanField(default=False)
    # Webster inputs: lost time per phase (start-up + clearance), saturation flow per lane.
    lost_time_per_phase_s = models.FloatField(default=4.0)
    saturation_flow_per_lane_vph = models.FloatField(default=1800.0)
    min_cycle_s = models.FloatField(default=30.0)
    max_cycle_s = models.FloatField(default=150.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["city", "code"], name="traffic_intersection_code")]
        indexes = [models.Index(fields=["latitude", "longitude"], name="traffic_intersection_latlon")]

    def __str__(self) -> str:
        return self.name or self.code


class RoadClass(models.TextChoices):
    LOCAL = "local", "Local street"
    COLLECTOR = "collector", "Collector"
    ARTERIAL = "arterial", "Arterial"
    EXPRESSWAY = "expressway", "Expressway"


class RoadSegment(models.Model):
    """A directed link between two intersections."""

    city = models.ForeignKey("services.City", on_delete=models.CASCADE, related_name="road_segments")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    from_intersection = models.ForeignKey(Intersection, on_delete=models.CASCADE, related_name="outgoing")
    to_intersection = models.ForeignKey(Intersection, on_delete=models.CASCADE, related_name="incoming")
    road_class = models.CharField(max_length=12, choices=RoadClass.choices, default=RoadClass.LOCAL)
    length_m = models.FloatField()
    lanes = models.PositiveSmallIntegerField(default=1)
    speed_limit_kmh = models.FloatField()
    free_flow_speed_kmh = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["city", "code"], name="traffic_segment_code"),
            models.CheckConstraint(condition=models.Q(length_m__gt=0), name="traffic_segment_length_positive"),
            models.CheckConstraint(condition=models.Q(free_flow_speed_kmh__gt=0), name="traffic_segment_ffs_positive"),
        ]

    def __str__(self) -> str:
        return self.name or self.code


class DeviceKind(models.TextChoices):
    CAMERA = "camera", "Camera / segment sensor"
    CONTROLLER = "controller", "Signal controller"
    GATEWAY = "gateway", "Edge gateway (reports for the city's sensors)"


class Device(models.Model):
    """A camera on a segment, a signal controller at an intersection, or an edge gateway that batches
    the results of many cameras. Devices authenticate with their own API key, never a user token.

    Only a SHA-256 digest of the key is stored (keys are 190 random bits, so a slow hash adds nothing);
    `key_prefix` finds the row. A key is shown once, when it is issued.
    """

    city = models.ForeignKey("services.City", on_delete=models.CASCADE, related_name="traffic_devices")
    kind = models.CharField(max_length=12, choices=DeviceKind.choices)
    name = models.CharField(max_length=120)
    segment = models.ForeignKey(RoadSegment, null=True, blank=True, on_delete=models.CASCADE, related_name="sensors")
    intersection = models.ForeignKey(Intersection, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="controllers")
    interval_s = models.PositiveIntegerField(default=300, help_text="Reporting interval (60 or 300 seconds).")
    is_plate_reader = models.BooleanField(default=False)
    key_prefix = models.CharField(max_length=16, unique=True, null=True, blank=True)
    key_hash = models.CharField(max_length=64, blank=True)
    key_issued_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(interval_s__in=[60, 300]), name="traffic_device_interval"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    # DRF's IsAuthenticated reads `request.user.is_authenticated`; the device is `request.auth`.


class Observation(models.Model):
    """What one sensor measured on its segment during one interval."""

    # The unique (sensor, interval_start) index serves the sensor FK too. `segment` and `city` are the
    # sensor's at ingestion (copied from the device row the batch was validated against), so the
    # sensor's constraint already ties them to real rows (a segment's or city's deletion cascades to
    # its devices, theirs to their observations). They carry no database constraint of their own:
    # two more RI triggers per row, each a FOR KEY SHARE on the same city row from every concurrent
    # batch, were about half of PostgreSQL's work per ingested batch. The ORM still cascades deletes.
    sensor = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="observations", db_index=False)
    segment = models.ForeignKey(RoadSegment, on_delete=models.CASCADE, related_name="observations",
                                db_index=False, db_constraint=False)
    city = models.ForeignKey("services.City", on_delete=models.CASCADE, related_name="+", db_index=False,
                             db_constraint=False)
    interval_start = models.DateTimeField()
    interval_s = models.PositiveIntegerField()
    vehicle_count = models.PositiveIntegerField()
    mean_speed_kmh = models.FloatField()
    occupancy = models.FloatField(help_text="Share of the interval the detection zone was occupied, 0..1.")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sensor", "interval_start"], name="traffic_observation_sensor_interval"),
        ]
        # Every analysis reads a city's time window; each extra index costs the ingestion path a
        # B-tree insert per row, so there is exactly one more (the FK to segment is not indexed).
        indexes = [models.Index(fields=["city", "interval_start"], name="traffic_obs_city_time")]


class PlateSighting(models.Model):
    """A plate seen by a camera. Only HMAC-SHA256(secret, normalised plate) is stored, never the plate."""

    sensor = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="sightings")
    plate_hash = models.CharField(max_length=64)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sensor", "plate_hash", "seen_at"], name="traffic_sighting_unique"),
        ]
        indexes = [models.Index(fields=["sensor", "seen_at"], name="traffic_sighting_sensor_time")]


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Incident(models.Model):
    """A segment whose speed fell far below its usual value for that time of week (robust z-score)."""

    city = models.ForeignKey("services.City", on_delete=models.CASCADE, related_name="traffic_incidents")
    segment = models.ForeignKey(RoadSegment, on_delete=models.CASCADE, related_name="incidents")
    interval_start = models.DateTimeField()
    observed_speed_kmh = models.FloatField()
    expected_speed_kmh = models.FloatField(help_text="Median speed of this segment at this time of week.")
    robust_z = models.FloatField()
    status = models.CharField(max_length=10, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "interval_start"], name="traffic_incident_unique"),
        ]
        indexes = [models.Index(fields=["city", "status", "-interval_start"], name="traffic_incident_city")]


class PredictorStatus(models.TextChoices):
    TRAINED = "trained", "Trained (did not beat the baselines)"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"
    FAILED = "failed", "Failed"


class PredictorVersion(models.Model):
    """One training run of the speed predictor for a city: a model per horizon and its evaluation."""

    city = models.ForeignKey("services.City", on_delete=models.CASCADE, related_name="traffic_predictors")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=PredictorStatus.choices, default=PredictorStatus.TRAINED)
    horizons_min = models.JSONField(default=list)
    metrics = models.JSONField(default=dict, help_text="MAE (km/h) per horizon: model, last_value, time_of_week.")
    params = models.JSONField(default=dict)
    artifact_path = models.CharField(max_length=500, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    train_rows = models.PositiveIntegerField(default=0)
    data_from = models.DateTimeField(null=True, blank=True)
    data_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["city", "version"], name="traffic_predictor_version"),
            models.UniqueConstraint(fields=["city"], condition=models.Q(status="active"),
                                    name="traffic_predictor_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.city_id} v{self.version} ({self.status})"


class SegmentForecast(models.Model):
    """Latest predicted speed per segment and horizon (overwritten by each forecast refresh)."""

    segment = models.ForeignKey(RoadSegment, on_delete=models.CASCADE, related_name="forecasts")
    horizon_min = models.PositiveSmallIntegerField()
    issued_for = models.DateTimeField(help_text="Time of the latest data the forecast starts from.")
    target_at = models.DateTimeField()
    speed_kmh = models.FloatField()
    predictor = models.ForeignKey(PredictorVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "horizon_min"], name="traffic_forecast_segment_horizon"),
        ]


class SignalPhase(models.Model):
    """One phase of a signalised intersection: the approaches (incoming segments) that get green together."""

    intersection = models.ForeignKey(Intersection, on_delete=models.CASCADE, related_name="phases")
    order = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=60)
    approaches = models.ManyToManyField(RoadSegment, related_name="signal_phases")
    min_green_s = models.FloatField(default=7.0)
    max_green_s = models.FloatField(default=60.0)
    pedestrian_min_green_s = models.FloatField(default=0.0, help_text="Walk + clearance time of the crossing "
                                               "served by this phase.")

    class Meta:
        ordering = ["intersection", "order"]
        constraints = [models.UniqueConstraint(fields=["intersection", "order"], name="traffic_phase_order")]

    def __str__(self) -> str:
        return f"{self.intersection_id}/{self.order} {self.name}"


class PlanMethod(models.TextChoices):
    WEBSTER = "webster", "Webster (from predicted flows)"
    FIXED = "fixed", "Fixed"


class SignalPlan(models.Model):
    """A timing plan for an intersection: cycle length and a green time per phase."""

    intersection = models.ForeignKey(Intersection, on_delete=models.CASCADE, related_name="plans")
    method = models.CharField(max_length=10, choices=PlanMethod.choices, default=PlanMethod.WEBSTER)
    cycle_s = models.FloatField()
    lost_time_s = models.FloatField()
    flow_ratio_sum = models.FloatField(help_text="Y: sum of the phases' critical flow ratios.")
    greens = models.JSONField(help_text="[{phase_id, order, name, green_s, flow_ratio, degree_of_saturation}]")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["intersection", "-valid_from"], name="traffic_plan_latest")]
