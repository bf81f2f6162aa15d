from django.urls import path

from recommender import apis

urlpatterns = [
    path("events", apis.ClientEventsApi.as_view(), name="client-events"),
]
