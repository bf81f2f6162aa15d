from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from recommender import serializers as s
from recommender.services import client_events_record


class ClientEventsApi(APIView):
    @extend_schema(
        request=s.ClientEventBatchSerializer, responses={200: s.ClientEventBatchResultSerializer},
        tags=["recommendations"], summary="Report client events (impressions, clicks, dismissals, views, saves)",
        description="Up to 100 events per call. Each event is validated (the merchant must exist and be "
                    "active; `occurred_at` at most 30 days old and not in the future); one invalid event "
                    "rejects the batch with per-event `details`. Events are deduplicated by their client "
                    "`id` per user, so a retried batch is safe: already stored events come back as `duplicate`.",
    )
    def post(self, request):
        serializer = s.ClientEventBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = client_events_record(user=request.user, events=serializer.validated_data["events"])
        body = {"accepted": sum(r["status"] == "accepted" for r in results),
                "duplicates": sum(r["status"] == "duplicate" for r in results), "events": results}
        return Response(body)
