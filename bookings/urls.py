from django.urls import path

from bookings import apis

urlpatterns = [
    path("merchants/<int:merchant_id>/products", apis.MerchantProductsApi.as_view(), name="merchant-products"),
    path("merchants/<int:merchant_id>/bookings", apis.MerchantBookingsApi.as_view(),
         name="merchant-bookings"),
    path("products/<int:product_id>/availability", apis.ProductAvailabilityApi.as_view(),
         name="product-availability"),
    path("bookings/quote", apis.BookingQuoteApi.as_view(), name="booking-quote"),
    path("bookings", apis.BookingListApi.as_view(), name="booking-list"),
    path("bookings/<int:booking_id>", apis.BookingDetailApi.as_view(), name="booking-detail"),
    path("bookings/<int:booking_id>/pay", apis.BookingPayApi.as_view(), name="booking-pay"),
    path("bookings/<int:booking_id>/cancel", apis.BookingCancelApi.as_view(), name="booking-cancel"),
]
