"""Liveness and readiness probes (public, no auth)."""

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from superapp.cache import redis_client

_health = inline_serializer("Health", {"status": serializers.CharField(),
                                       "checks": serializers.DictField(child=serializers.CharField())})


class HealthzApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: _health}, tags=["ops"], auth=[], summary="Liveness")
    def get(self, request):
        return Response({"status": "ok", "checks": {}})


class ReadyzApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: _health, 503: _health}, tags=["ops"], auth=[],
                   summary="Readiness: database, and Redis when configured")
    def get(self, request):
        checks: dict[str, str] = {}
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - report any failure as not ready
            checks["database"] = f"error: {exc.__class__.__name__}"
        if settings.REDIS_URL:
            try:
                redis_client().ping()
                checks["redis"] = "ok"
            except Exception as exc:  # noqa: BLE001
                checks["redis"] = f"error: {exc.__class__.__name__}"
        ready = all(v == "ok" for v in checks.values())
        return Response({"status": "ok" if ready else "unavailable", "checks": checks},
                        status=200 if ready else 503)
