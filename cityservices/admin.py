from django.contrib import admin

from cityservices.models import (
    Bill,
    BillAccount,
    Notification,
    ParkingSession,
    ServiceProvider,
    TransitCard,
    TransitTopUp,
)


@admin.register(ServiceProvider)
class ServiceProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "kind", "city", "merchant", "backend", "is_active"]
    list_filter = ["kind", "city", "is_active"]
    search_fields = ["name", "code"]
    raw_id_fields = ["merchant"]


@admin.register(BillAccount)
class BillAccountAdmin(admin.ModelAdmin):
    list_display = ["user", "provider", "customer_number", "nickname", "created_at"]
    list_filter = ["provider__kind"]
    search_fields = ["user__username", "customer_number"]
    raw_id_fields = ["user"]


@admin.register(Bill)
class BillAdmin(admin.ModelAdmin):
    list_display = ["reference", "account", "period", "amount", "currency", "due_on", "status", "paid_at",
                    "receipt_number"]
    list_filter = ["status", "due_on"]
    search_fields = ["reference", "account__customer_number", "account__user__username"]
    raw_id_fields = ["account", "payment"]


@admin.register(TransitCard)
class TransitCardAdmin(admin.ModelAdmin):
    list_display = ["card_number", "user", "provider", "balance", "currency"]
    list_filter = ["provider"]
    search_fields = ["card_number", "user__username"]
    raw_id_fields = ["user"]


@admin.register(TransitTopUp)
class TransitTopUpAdmin(admin.ModelAdmin):
    list_display = ["card", "amount", "balance_after", "payment_id", "created_at"]
    search_fields = ["card__card_number"]
    raw_id_fields = ["card", "payment"]


@admin.register(ParkingSession)
class ParkingSessionAdmin(admin.ModelAdmin):
    list_display = ["plate", "user", "provider", "starts_at", "ends_at", "amount", "currency"]
    list_filter = ["provider"]
    search_fields = ["plate", "user__username"]
    raw_id_fields = ["user", "payment"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "title", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["user__username", "title"]
    raw_id_fields = ["user"]
