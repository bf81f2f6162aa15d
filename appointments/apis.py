"""Thin views for public-service appointments: catalogue, slots, book (fee through the wallet), mine, cancel."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from appointments import selectors
from appointments import serializers as s
from appointments import services as appointments
from cityservices import selectors as city_selectors
from superapp.api import CURSOR_PAGE_PARAMETERS, IDEMPOTENCY_KEY_PARAMETER, cursor_page, validated
from superapp.idempotency import idempotent

TAGS = ["appointments"]


def _rendered(user, appointment_id: int) -> dict:
    return s.AppointmentSerializer(selectors.appointment_of_user(user=user, appointment_id=appointment_id)).data


class PublicServiceListApi(APIView):
    @extend_schema(parameters=[s.PublicServiceListParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedPublicServiceList}, tags=TAGS,
                   summary="Public services bookable by appointment in a city",
                   description="Offices (town hall, exit-entry bureau, ...) and what they do by appointment, with "
                               "the fee paid through the wallet when booking (0 = free).")
    def get(self, request):
        wanted = validated(s.PublicServiceListParamsSerializer, request.query_params.dict()).get("city")
        city = city_selectors.city_asked_or_current(user=request.user, wanted=wanted)
        return cursor_page(self, request, selectors.public_services_for_city(city=city), s.PublicServiceSerializer,
                           ordering="pk")


class AppointmentSlotListApi(APIView):
    @extend_schema(parameters=[s.AppointmentSlotParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedAppointmentSlotList}, tags=TAGS,
                   summary="Appointment times of a service",
                   description="Slots starting from now within `days` office-local days from `date`, full ones "
                               "included (`available` is 0).")
    def get(self, request, service_id: int):
        params = validated(s.AppointmentSlotParamsSerializer, request.query_params.dict())
        service = selectors.public_service_bookable(service_id=service_id)
        slots = selectors.appointment_slots_for_days(service=service, first=params.get("date"), days=params["days"])
        return cursor_page(self, request, slots, s.AppointmentSlotSerializer, ordering="starts_at",
                           context={"duration_minutes": service.duration_minutes})


class AppointmentListApi(APIView):
    @extend_schema(parameters=[s.AppointmentListParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedAppointmentList}, operation_id="appointments_list", tags=TAGS,
                   summary="My appointments (newest first)")
    def get(self, request):
        wanted = validated(s.AppointmentListParamsSerializer, request.query_params.dict()).get("status")
        return cursor_page(self, request, selectors.appointments_for_user(user=request.user, status=wanted),
                           s.AppointmentSerializer)

    @extend_schema(request=s.AppointmentBookSerializer, responses={201: s.AppointmentSerializer}, tags=TAGS,
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Book an appointment",
                   description="Takes a place in the slot; a service with a fee is paid from the wallet to the "
                               "office. Errors: `appointment_slot_not_found` (404), `appointment_in_past`, "
                               "`appointment_exists` (409), `appointment_slot_full` (409), `insufficient_funds`.")
    @idempotent
    def post(self, request):
        slot_id = validated(s.AppointmentBookSerializer, request.data)["slot_id"]
        appointment = appointments.appointment_book(user=request.user, slot_id=slot_id)
        return Response(_rendered(request.user, appointment.pk), status=status.HTTP_201_CREATED)


class AppointmentDetailApi(APIView):
    @extend_schema(responses={200: s.AppointmentSerializer}, tags=TAGS, summary="An appointment of mine")
    def get(self, request, appointment_id: int):
        return Response(_rendered(request.user, appointment_id))


class AppointmentCancelApi(APIView):
    @extend_schema(request=None, responses={200: s.AppointmentSerializer}, tags=TAGS,
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Cancel an appointment",
                   description="Frees the place; a paid fee is refunded in full through the wallet. Only before "
                               "the start (`appointment_already_started`, 409); twice is `appointment_state_conflict`.")
    @idempotent
    def post(self, request, appointment_id: int):
        appointments.appointment_cancel(user=request.user, appointment_id=appointment_id)
        return Response(_rendered(request.user, appointment_id))
