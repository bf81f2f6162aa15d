from django.urls import path

from merchants import apis

urlpatterns = [
    path("cities", apis.CityListApi.as_view(), name="city-list"),
    path("categories", apis.CategoryTreeApi.as_view(), name="category-tree"),
    path("merchants", apis.MerchantListApi.as_view(), name="merchant-list"),
    path("merchants/nearby", apis.MerchantNearbyApi.as_view(), name="merchant-nearby"),
    path("merchants/<int:merchant_id>", apis.MerchantDetailApi.as_view(), name="merchant-detail"),
    path("merchants/<int:merchant_id>/hours", apis.MerchantHoursApi.as_view(), name="merchant-hours"),
    path("merchants/<int:merchant_id>/hours/exceptions", apis.MerchantHoursExceptionApi.as_view(),
         name="merchant-hours-exceptions"),
    path("merchants/<int:merchant_id>/save", apis.MerchantSaveApi.as_view(), name="merchant-save"),
    path("me/saved-merchants", apis.SavedMerchantListApi.as_view(), name="saved-merchants"),
    path("me/merchants", apis.MyMerchantsApi.as_view(), name="my-merchants"),
    path("me/location", apis.CurrentLocationApi.as_view(), name="current-location"),
    path("trips", apis.TripListApi.as_view(), name="trip-list"),
    path("trips/<int:trip_id>", apis.TripDetailApi.as_view(), name="trip-detail"),
    path("trips/<int:trip_id>/cancel", apis.TripCancelApi.as_view(), name="trip-cancel"),
]
