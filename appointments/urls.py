from django.urls import path

from appointments import apis

urlpatterns = [
    path("public-services", apis.PublicServiceListApi.as_view(), name="public-service-list"),
    path("public-services/<int:service_id>/slots", apis.AppointmentSlotListApi.as_view(),
         name="public-service-slots"),
    path("appointments", apis.AppointmentListApi.as_view(), name="appointment-list"),
    path("appointments/<int:appointment_id>", apis.AppointmentDetailApi.as_view(),
         name="appointment-detail"),
    path("appointments/<int:appointment_id>/cancel", apis.AppointmentCancelApi.as_view(),
         name="appointment-cancel"),
]
