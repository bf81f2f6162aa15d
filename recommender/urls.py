from django.urls import include, path

from recommender import apis

urlpatterns: list = [
    path("events", apis.ClientEventsApi.as_view(), name="client-events"),
    path("", include("recommender.serving.urls")),
]
