from django.urls import path

from cityservices import apis

urlpatterns = [
    path("city-services", apis.CityServicesApi.as_view(), name="city-services"),
    path("bill-accounts", apis.BillAccountListApi.as_view(), name="bill-account-list"),
    path("bill-accounts/<int:account_id>/refresh", apis.BillAccountRefreshApi.as_view(),
         name="bill-account-refresh"),
    path("bills", apis.BillListApi.as_view(), name="bill-list"),
    path("bills/<int:bill_id>", apis.BillDetailApi.as_view(), name="bill-detail"),
    path("bills/<int:bill_id>/pay", apis.BillPayApi.as_view(), name="bill-pay"),
    path("transit-cards", apis.TransitCardListApi.as_view(), name="transit-card-list"),
    path("transit-cards/<int:card_id>/top-up", apis.TransitTopUpApi.as_view(), name="transit-card-top-up"),
    path("parking-sessions", apis.ParkingSessionListApi.as_view(), name="parking-session-list"),
    path("notifications", apis.NotificationListApi.as_view(), name="notification-list"),
    path("notifications/read-all", apis.NotificationReadAllApi.as_view(), name="notification-read-all"),
    path("notifications/<int:notification_id>/read", apis.NotificationReadApi.as_view(),
         name="notification-read"),
]
