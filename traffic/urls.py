from django.urls import path

from traffic import apis

urlpatterns = [
    path("traffic/observations", apis.ObservationIngestApi.as_view(), name="traffic-observations"),
    path("traffic/sightings", apis.SightingIngestApi.as_view(), name="traffic-sightings"),
    path("traffic/intersections/<int:intersection_id>/plan", apis.SignalPlanApi.as_view(), name="traffic-plan"),
    path("traffic/cities/<slug:city_slug>/dashboard", apis.DashboardApi.as_view(), name="traffic-dashboard"),
    path("traffic/cities/<slug:city_slug>/incidents", apis.IncidentListApi.as_view(), name="traffic-incidents"),
    path("traffic/route", apis.RouteApi.as_view(), name="traffic-route"),
    path("traffic/travel-times", apis.TravelTimeApi.as_view(), name="traffic-travel-times"),
]
