from django.contrib import admin

from appointments.models import Appointment, AppointmentSlot, PublicService


@admin.register(PublicService)
class PublicServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "office", "fee", "duration_minutes", "capacity_per_slot", "is_active"]
    list_filter = ["is_active", "office__city"]
    search_fields = ["name", "code", "office__name"]
    raw_id_fields = ["office"]
    list_select_related = ["office"]


@admin.register(AppointmentSlot)
class AppointmentSlotAdmin(admin.ModelAdmin):
    list_display = ["service", "starts_at", "capacity", "booked"]
    list_filter = ["service__office__city", "starts_at"]
    search_fields = ["service__name", "service__office__name"]
    raw_id_fields = ["service"]
    list_select_related = ["service"]


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = ["pk", "user", "slot", "status", "fee", "currency", "payment_id", "created_at"]
    list_filter = ["status"]
    search_fields = ["user__username", "slot__service__name"]
    raw_id_fields = ["user", "slot", "payment", "refund"]
    list_select_related = ["user", "slot__service"]
