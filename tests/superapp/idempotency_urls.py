"""A tiny endpoint guarded by @idempotent, for testing the mechanism on its own: it creates a user
(a real committed write) so "executed once" is observable."""

import time

from django.urls import include, path
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from superapp.accounts.models import User
from superapp.exceptions import Conflict, ValidationFailed
from superapp.idempotency import idempotent


def _create_thing(request):
    name = request.data.get("name", "")
    if not name:
        raise ValidationFailed("name is required")
    if name.startswith("refuse"):
        raise Conflict("refused", code="thing_refused")
    user = User.objects.create(username=name, is_imported=True)
    time.sleep(float(request.data.get("work_s", 0)))  # widen the race window in concurrency tests
    return Response({"id": user.pk, "name": name}, status=status.HTTP_201_CREATED)


class CreateThingApi(APIView):
    @idempotent
    def post(self, request):
        return _create_thing(request)


class CreateThingClaimedLastApi(APIView):
    @idempotent(claim_last=True)
    def post(self, request):
        return _create_thing(request)


urlpatterns = [
    path("api/v1/test/things", CreateThingApi.as_view()),
    path("api/v1/test/things-claimed-last", CreateThingClaimedLastApi.as_view()),
    path("", include("superapp.urls")),
]
