from datetime import datetime, timedelta

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from appointments.models import Appointment, AppointmentReadStatus, AppointmentSlot, PublicService
from appointments.selectors import appointment_status
from superapp.api import MoneySerializer, paginated


# Cursor-paginated envelopes for the hand-paginated list views.
# --- Public-service appointments ----------------------------------------------------------------
class PublicServiceSerializer(serializers.ModelSerializer):
    fee = serializers.SerializerMethodField()
    office = serializers.SerializerMethodField()

    class Meta:
        model = PublicService
        fields = ["id", "code", "name", "description", "fee", "duration_minutes", "office"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_fee(self, service: PublicService) -> dict:
        return MoneySerializer.of(service.fee, service.office.merchant.currency)

    @extend_schema_field(serializers.DictField())
    def get_office(self, service: PublicService) -> dict:
        office = service.office
        return {"id": office.pk, "name": office.name, "merchant_id": office.merchant_id,
                "address": office.merchant.address, "city": office.city.slug, "time_zone": office.merchant.time_zone}


class PublicServiceListParamsSerializer(serializers.Serializer):
    city = serializers.CharField(required=False, max_length=100, help_text="City id or slug; default: where you are")


class AppointmentSlotParamsSerializer(serializers.Serializer):
    date = serializers.DateField(required=False, help_text="First local date (default: today at the office)")
    days = serializers.IntegerField(required=False, default=7, min_value=1, max_value=31)


class AppointmentSlotSerializer(serializers.ModelSerializer):
    ends_at = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()

    class Meta:
        model = AppointmentSlot
        fields = ["id", "starts_at", "ends_at", "capacity", "available"]
        read_only_fields = fields

    def get_ends_at(self, slot: AppointmentSlot) -> datetime:
        return slot.starts_at + timedelta(minutes=self.context["duration_minutes"])

    def get_available(self, slot: AppointmentSlot) -> int:
        return max(0, slot.capacity - slot.booked)


class AppointmentBookSerializer(serializers.Serializer):
    slot_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class AppointmentListParamsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AppointmentReadStatus.choices, required=False,
                                     help_text="As of now: `in_progress` during the appointment, `completed` after")


class AppointmentSerializer(serializers.ModelSerializer):
    service = serializers.SerializerMethodField()
    office = serializers.SerializerMethodField()
    starts_at = serializers.DateTimeField(source="slot.starts_at", read_only=True)
    ends_at = serializers.SerializerMethodField()
    fee = serializers.SerializerMethodField()
    payment_id = serializers.IntegerField(read_only=True, allow_null=True)
    refund_id = serializers.IntegerField(read_only=True, allow_null=True)
    status = serializers.SerializerMethodField(help_text="As of now: `in_progress` from the start for the "
                                                         "service's duration, `completed` after")

    class Meta:
        model = Appointment
        fields = ["id", "status", "service", "office", "slot_id", "starts_at", "ends_at", "fee", "payment_id",
                  "refund_id", "created_at", "cancelled_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_service(self, appointment: Appointment) -> dict:
        service = appointment.slot.service
        return {"id": service.pk, "code": service.code, "name": service.name}

    @extend_schema_field(serializers.DictField())
    def get_office(self, appointment: Appointment) -> dict:
        office = appointment.slot.service.office
        return {"id": office.pk, "name": office.name, "merchant_id": office.merchant_id,
                "address": office.merchant.address, "time_zone": office.merchant.time_zone}

    def get_ends_at(self, appointment: Appointment) -> datetime:
        return appointment.slot.starts_at + timedelta(minutes=appointment.slot.service.duration_minutes)

    @extend_schema_field(serializers.ChoiceField(choices=AppointmentReadStatus.choices))
    def get_status(self, appointment: Appointment) -> str:
        return appointment_status(appointment)

    @extend_schema_field(MoneySerializer)
    def get_fee(self, appointment: Appointment) -> dict:
        return MoneySerializer.of(appointment.fee, appointment.currency)


PaginatedAppointmentList = paginated(AppointmentSerializer, "PaginatedAppointmentList")
PaginatedPublicServiceList = paginated(PublicServiceSerializer, "PaginatedPublicServiceList")
PaginatedAppointmentSlotList = paginated(AppointmentSlotSerializer, "PaginatedAppointmentSlotList")
