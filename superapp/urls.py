from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from superapp.health import HealthzApi, ReadyzApi

# The wallet first, under its own prefix: the busiest routes (payments) resolve without trying every other
# app's patterns, and other paths skip the wallet's with one prefix check.
api_v1 = [
    path("wallet/", include("payments.urls")),
    path("", include("superapp.accounts.urls")),
    path("", include("superapp.social.urls")),
    path("", include("services.urls")),
    path("", include("services.traffic.urls")),
    path("", include("recommender.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", HealthzApi.as_view(), name="healthz"),
    path("readyz", ReadyzApi.as_view(), name="readyz"),
    path("admin/", admin.site.urls),
]
