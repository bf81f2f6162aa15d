"""Thin DRF views. Device endpoints accept only device keys; the rest only user authentication."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from superapp.api import DefaultCursorPagination, ErrorSerializer, cursor_page
from traffic import conf, selectors, serializers
from traffic import services as traffic_services
from traffic.authentication import DeviceKeyAuthentication, IsDevice
from traffic.exceptions import BatchTooLarge, NoRoute, OutsideRoadNetwork, PlanNotAvailable
from traffic.ingest import observations_ingest
from traffic.models import Device
from traffic.parsers import OrjsonParser

DEVICE_AUTH = [{"deviceKey": []}]


def _rows(data, field: str) -> list:
    if not isinstance(data, dict) or not isinstance(data.get(field), list):
        raise ValidationError({field: [f"Expected an object with a list `{field}`."]})
    rows = data[field]
    if len(rows) > conf.max_batch_rows():
        raise BatchTooLarge(f"At most {conf.max_batch_rows()} rows per batch.",
                            details={"max_rows": conf.max_batch_rows(), "received": len(rows)})
    return rows


class DeviceApi(APIView):
    authentication_classes = [DeviceKeyAuthentication]
    permission_classes = [IsDevice]
    takes_device_key = True  # a 401 says to send a device key (superapp.api)


class ObservationIngestApi(DeviceApi):
    parser_classes = [OrjsonParser]

    @extend_schema(
        tags=["traffic devices"], auth=DEVICE_AUTH, request=serializers.ObservationBatchSerializer,
        responses={200: serializers.IngestResultSerializer, 413: ErrorSerializer},
        summary="Ingest a batch of observations (device key)",
        description=(
            "Idempotent per (sensor, interval_start): a replayed row with the same values counts as a duplicate; "
            "with other values it is rejected (`duplicate_conflict`) and the stored row stays. Bad rows are "
            "listed with a reason (`unknown_sensor`, `sensor_revoked`, `sensor_not_allowed`, `interval_in_future`, "
            "`interval_misaligned`, `negative_count`, `speed_out_of_range`, `invalid_occupancy`, `invalid_row`, "
            "`invalid_interval_start`) while the good rows are stored. A camera reports for itself; a gateway "
            "for any camera of its city."
        ),
    )
    def post(self, request):
        rows = _rows(request.data, "observations")
        return Response(observations_ingest(device=request.auth, rows=rows).as_dict())


class SightingIngestApi(DeviceApi):
    parser_classes = [OrjsonParser]

    @extend_schema(
        tags=["traffic devices"], auth=DEVICE_AUTH, request=serializers.SightingBatchSerializer,
        responses={200: serializers.SightingResultSerializer, 413: ErrorSerializer},
        summary="Ingest plate sightings (device key); plates are stored only as salted hashes",
    )
    def post(self, request):
        rows = _rows(request.data, "sightings")
        return Response(traffic_services.sightings_ingest(device=request.auth, rows=rows))


class SignalPlanApi(DeviceApi):
    @extend_schema(
        tags=["traffic devices"], auth=DEVICE_AUTH, responses={200: serializers.SignalPlanSerializer},
        summary="Current timing plan of an intersection (signal controller key)",
        description="A controller fetches its own intersection's plan; a gateway any intersection of its city. "
                    "Always a plan valid now: when the refresh job has not made one, it is computed on the spot. "
                    "404 `plan_not_available` while the city has no observations.",
    )
    def get(self, request, intersection_id: int):
        device: Device = request.auth
        intersection = (selectors.intersection_for_device(device=device, intersection_id=intersection_id)
                        if intersection_id <= serializers.MAX_ID else None)
        if intersection is None:
            raise PlanNotAvailable("No such intersection for this device.", code="not_found")
        plan = traffic_services.signal_plan_ensure(intersection=intersection)
        if plan is None:
            raise PlanNotAvailable()
        data = serializers.SignalPlanSerializer(plan).data
        data["intersection_id"] = intersection.pk
        return Response(data)


class DashboardApi(APIView):
    @extend_schema(tags=["traffic"], responses={200: serializers.DashboardSerializer},
                   summary="City traffic dashboard: congestion now, worst segments, trend")
    def get(self, request, city_slug: str):
        dashboard = selectors.city_dashboard(city=selectors.city_by_slug(city_slug))
        return Response(serializers.DashboardSerializer(dashboard).data)


class IncidentListApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(tags=["traffic"], responses={200: serializers.IncidentSerializer(many=True)},
                   summary="Detected incidents of a city, newest first")
    def get(self, request, city_slug: str):
        return cursor_page(self, request, selectors.incidents_for_city(city=selectors.city_by_slug(city_slug)),
                           serializers.IncidentSerializer)


class RouteApi(APIView):
    @extend_schema(
        tags=["traffic"], summary="Fastest route by car on expected speeds, with the ETA",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.STR, required=True, description="`lat,lon` of the start"),
            OpenApiParameter("to", OpenApiTypes.STR, required=True, description="`lat,lon` of the destination"),
            OpenApiParameter("depart_at", OpenApiTypes.DATETIME, required=False, description="Default: now"),
        ],
        responses={200: serializers.RouteSerializer, 422: ErrorSerializer},
    )
    def get(self, request):
        query = serializers.RouteQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = selectors.route_find(origin=query.validated_data["origin"], destination=query.validated_data["to"],
                                      depart_at=query.validated_data.get("depart_at"))
        if result == "outside_road_network":
            raise OutsideRoadNetwork("No road network within reach of these points.")
        if result == "no_route":
            raise NoRoute()
        return Response(serializers.RouteSerializer(result).data)


class TravelTimeApi(APIView):
    @extend_schema(
        tags=["traffic"], parameters=[serializers.TravelTimeQuerySerializer],
        responses={200: serializers.TravelTimeSerializer},
        summary="Travel time between two camera points from matched plate hashes",
    )
    def get(self, request):
        query = serializers.TravelTimeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        origin = selectors.camera_get(data["from_sensor"])
        destination = selectors.camera_get(data["to_sensor"])
        until = data.get("until") or timezone.now()
        since = data.get("since") or until - timedelta(hours=24)
        if since >= until:
            raise ValidationError({"since": ["must be before until"]})
        return Response(serializers.TravelTimeSerializer(selectors.travel_times(
            from_sensor=origin, to_sensor=destination, since=since, until=until)).data)
