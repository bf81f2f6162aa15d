from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from superapp.health import HealthzApi, ReadyzApi

# Django tries the patterns in order (resolving past every other app's ~200 routes cost ~0.1 ms a request).
# The wallet first, under its own prefix: payments resolve at once, and every other path skips the wallet's
# routes with one prefix check. Then the recommender's few routes: its pages are the most requested. No route
# is shared.
api_v1 = [
    path("wallet/", include("payments.urls")),
    path("", include("recommender.urls")),
    path("", include("superapp.accounts.urls")),
    path("", include("superapp.social.urls")),
    path("", include("merchants.urls")),
    path("", include("bookings.urls")),
    path("", include("cityservices.urls")),
    path("", include("appointments.urls")),
    path("", include("traffic.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", HealthzApi.as_view(), name="healthz"),
    path("readyz", ReadyzApi.as_view(), name="readyz"),
    path("admin/", admin.site.urls),
]
