"""Thin views for public-service appointments: catalogue, slots, book (fee through the wallet), mine, cancel."""

from datetime import datetime, time, timedelta

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from appointments import selectors
from appointments import serializers as s
from appointments import services as appointments
from appointments.models import PublicService
from merchants import selectors as merchant_selectors
from merchants.selectors import tz_for
from superapp.api import CURSOR_PAGE_PARAMETERS, IDEMPOTENCY_KEY_PARAMETER, DefaultCursorPagination, cursor_page
from superapp.exceptions import NotFound
from superapp.idempotency import idempotent

TAGS = ["appointments"]


def _params(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class PublicServiceListApi(APIView):
    @extend_schema(parameters=[s.PublicServiceListParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedPublicServiceList}, tags=TAGS,
                   summary="Public services bookable by appointment in a city",
                   description="Offices (town hall, exit-entry bureau, ...) and what they do by appointment, with "
                               "the fee paid through the wallet when booking (0 = free).")
    def get(self, request):
        wanted = _params(s.PublicServiceListParamsSerializer, request).get("city")
        city = merchant_selectors.city_resolve(wanted) if wanted else merchant_selectors.user_current_city(request.user)
        services = PublicService.objects.none() if city is None else selectors.public_services_for_city(city=city)
        return cursor_page(self, request, services, s.PublicServiceSerializer, ordering="pk")


class AppointmentSlotListApi(APIView):
    @extend_schema(parameters=[s.AppointmentSlotParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedAppointmentSlotList}, tags=TAGS,
                   summary="Appointment times of a service",
                   description="Slots starting from now within `days` office-local days from `date`, full ones "
                               "included (`available` is 0).")
    def get(self, request, service_id: int):
        params = _params(s.AppointmentSlotParamsSerializer, request)
        service = (PublicService.objects.select_related("office__merchant")
                   .filter(pk=service_id, is_active=True, office__is_active=True).first())
        if service is None:
            raise NotFound("Public service not found.", code="public_service_not_found")
        zone = tz_for(service.office.merchant.time_zone)
        now = datetime.now(tz=zone)
        first = params.get("date") or now.date()
        starts = max(now, datetime.combine(first, time(0), tzinfo=zone))
        try:
            ends = datetime.combine(first + timedelta(days=params["days"]), time(0), tzinfo=zone)
        except OverflowError:  # a date near 9999-12-31
            ends = datetime.max.replace(tzinfo=zone)
        slots = selectors.appointment_slots_between(service=service, starts=starts, ends=ends)
        return cursor_page(self, request, slots, s.AppointmentSlotSerializer, ordering="starts_at",
                           context={"duration_minutes": service.duration_minutes})


class AppointmentListApi(APIView):
    @extend_schema(parameters=[s.AppointmentListParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedAppointmentList}, operation_id="appointments_list", tags=TAGS,
                   summary="My appointments (newest first)")
    def get(self, request):
        params = _params(s.AppointmentListParamsSerializer, request)
        queryset = selectors.appointments_for_user(user=request.user, status=params.get("status"))
        paginator = DefaultCursorPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(s.AppointmentSerializer(page, many=True).data)

    @extend_schema(request=s.AppointmentBookSerializer, responses={201: s.AppointmentSerializer}, tags=TAGS,
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Book an appointment",
                   description="Takes a place in the slot; a service with a fee is paid from the wallet to the "
                               "office. Errors: `appointment_slot_not_found` (404), `appointment_in_past`, "
                               "`appointment_exists` (409), `appointment_slot_full` (409), `insufficient_funds`.")
    @idempotent
    def post(self, request):
        serializer = s.AppointmentBookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        appointment = appointments.appointment_book(user=request.user, slot_id=serializer.validated_data["slot_id"])
        appointment = selectors.appointments_for_user(user=request.user).get(pk=appointment.pk)
        return Response(s.AppointmentSerializer(appointment).data, status=status.HTTP_201_CREATED)


class AppointmentDetailApi(APIView):
    @extend_schema(responses={200: s.AppointmentSerializer}, tags=TAGS, summary="An appointment of mine")
    def get(self, request, appointment_id: int):
        appointment = selectors.appointments_for_user(user=request.user).filter(pk=appointment_id).first()
        if appointment is None:
            raise NotFound("Appointment not found.", code="appointment_not_found")
        return Response(s.AppointmentSerializer(appointment).data)


class AppointmentCancelApi(APIView):
    @extend_schema(request=None, responses={200: s.AppointmentSerializer}, tags=TAGS,
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Cancel an appointment",
                   description="Frees the place; a paid fee is refunded in full through the wallet. Only before "
                               "the start (`appointment_already_started`, 409); twice is `appointment_state_conflict`.")
    @idempotent
    def post(self, request, appointment_id: int):
        appointments.appointment_cancel(user=request.user, appointment_id=appointment_id)
        appointment = selectors.appointments_for_user(user=request.user).get(pk=appointment_id)
        return Response(s.AppointmentSerializer(appointment).data)
