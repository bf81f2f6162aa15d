from django.urls import path

from services import apis

urlpatterns = [
    path("cities", apis.CityListApi.as_view(), name="city-list"),
]
