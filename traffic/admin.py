from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone

from superapp.admin_lists import LargeTableAdmin
from traffic import services
from traffic.authentication import key_generate
from traffic.models import (
    Device,
    Incident,
    IncidentStatus,
    Intersection,
    Observation,
    PlateSighting,
    PredictorVersion,
    RoadSegment,
    SegmentForecast,
    SignalPhase,
    SignalPlan,
)


@admin.register(Intersection)
class IntersectionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "city", "signalised", "latitude", "longitude"]
    list_filter = ["city", "signalised"]
    search_fields = ["code", "name"]


@admin.register(RoadSegment)
class RoadSegmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "city", "road_class", "length_m", "lanes", "speed_limit_kmh",
                    "free_flow_speed_kmh"]
    list_filter = ["city", "road_class", "lanes"]
    search_fields = ["code", "name"]
    raw_id_fields = ["from_intersection", "to_intersection"]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    """A key is issued when a device is added and shown once in the confirmation message; only its
    hash is kept. "Revoke" stops a key at once; "Rotate" issues a new one (shown once)."""

    list_display = ["name", "kind", "city", "segment", "intersection", "key_prefix", "revoked_at", "last_seen_at"]
    list_filter = ["city", "kind", "is_plate_reader", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key_prefix"]
    raw_id_fields = ["segment", "intersection"]
    readonly_fields = ["key_prefix", "key_issued_at", "revoked_at", "last_seen_at", "created_at"]
    exclude = ["key_hash"]
    actions = ["revoke_keys", "rotate_keys"]

    def save_model(self, request, obj, form, change):
        if not change:
            key, obj.key_prefix, obj.key_hash = key_generate()
            obj.key_issued_at = timezone.now()
            super().save_model(request, obj, form, change)
            self.message_user(request, f"API key for {obj.name} (shown once, copy it now): {key}", messages.WARNING)
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected devices' keys")
    def revoke_keys(self, request, queryset):
        for device in queryset:
            services.device_revoke(device=device)
        self.message_user(request, f"Revoked {queryset.count()} device key(s).")

    @admin.action(description="Issue new keys (shown once)")
    def rotate_keys(self, request, queryset):
        for device in queryset:
            key = services.device_key_rotate(device=device)
            self.message_user(request, f"New key for {device.name} (shown once): {key}", messages.WARNING)


@admin.register(Observation)
class ObservationAdmin(LargeTableAdmin, admin.ModelAdmin):
    # Millions of rows: no date_hierarchy (it scans the table), capped counts (superapp/admin_lists.py).
    list_display = ["sensor", "segment", "interval_start", "vehicle_count", "mean_speed_kmh", "occupancy"]
    list_filter = ["city", "interval_start"]
    search_fields = ["segment__code"]  # searched by get_search_results
    search_help_text = "A sensor's name or its road segment's code (part of it)."
    raw_id_fields = ["sensor", "segment"]
    list_select_related = ["sensor", "segment"]

    def get_search_results(self, request, queryset, search_term):
        """Through the (sensor, interval_start) index: the sensors named so, or on segments coded so."""
        term = search_term.strip()
        if not term:
            return queryset, False
        sensors = Device.objects.filter(Q(name__icontains=term) | Q(segment__code__icontains=term))
        return queryset.filter(sensor_id__in=self.capped_ids(request, sensors, "sensors")), False


@admin.register(PlateSighting)
class PlateSightingAdmin(LargeTableAdmin, admin.ModelAdmin):
    list_display = ["sensor", "plate_hash", "seen_at"]
    search_fields = ["plate_hash"]  # searched by get_search_results
    search_help_text = "A plate hash, whole (plates are stored only as salted hashes)."
    list_filter = ["sensor__city"]
    raw_id_fields = ["sensor"]
    list_select_related = ["sensor"]

    def get_search_results(self, request, queryset, search_term):
        """Through the (sensor, plate_hash, seen_at) index, one probe per sensor (a hash alone has no index)."""
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        return queryset.filter(sensor_id__in=Device.objects.values("pk"), plate_hash=term), False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["segment", "city", "interval_start", "observed_speed_kmh", "expected_speed_kmh", "robust_z",
                    "status", "detected_at"]
    list_filter = ["city", "status"]
    search_fields = ["segment__code", "segment__name"]
    raw_id_fields = ["segment"]
    actions = ["resolve"]

    @admin.action(description="Mark resolved")
    def resolve(self, request, queryset):
        queryset.filter(status=IncidentStatus.OPEN).update(status=IncidentStatus.RESOLVED, resolved_at=timezone.now())


@admin.register(PredictorVersion)
class PredictorVersionAdmin(admin.ModelAdmin):
    list_display = ["city", "version", "status", "summary_mae", "train_rows", "data_to", "created_at"]
    list_filter = ["city", "status"]
    search_fields = ["city__slug"]
    readonly_fields = ["metrics", "params", "artifact_path", "artifact_sha256"]

    @admin.display(description="MAE model / last value / time of week (km/h)")
    def summary_mae(self, obj):
        mae = (obj.params or {}).get("summary_mae") or {}
        return " / ".join(str(mae.get(k, "-")) for k in ("model", "last_value", "time_of_week"))


@admin.register(SegmentForecast)
class SegmentForecastAdmin(admin.ModelAdmin):
    list_display = ["segment", "horizon_min", "issued_for", "target_at", "speed_kmh"]
    list_filter = ["horizon_min", "segment__city"]
    search_fields = ["segment__code"]
    raw_id_fields = ["segment", "predictor"]


@admin.register(SignalPhase)
class SignalPhaseAdmin(admin.ModelAdmin):
    list_display = ["intersection", "order", "name", "min_green_s", "max_green_s", "pedestrian_min_green_s"]
    list_filter = ["intersection__city"]
    search_fields = ["intersection__code", "name"]
    raw_id_fields = ["intersection"]
    filter_horizontal = ["approaches"]


@admin.register(SignalPlan)
class SignalPlanAdmin(admin.ModelAdmin):
    list_display = ["intersection", "method", "cycle_s", "flow_ratio_sum", "valid_from", "valid_until", "is_active"]
    list_filter = ["method", "is_active", "intersection__city"]
    search_fields = ["intersection__code"]
    raw_id_fields = ["intersection"]
