from django.urls import include, path

urlpatterns: list = [
    path("", include("recommender.serving.urls")),
]
