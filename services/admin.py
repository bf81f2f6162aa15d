from django.contrib import admin

from services.models import (
    Appointment,
    AppointmentSlot,
    Bill,
    BillAccount,
    Booking,
    BookingSlot,
    Category,
    City,
    InventorySlot,
    Merchant,
    MerchantStaff,
    Notification,
    OpeningException,
    OpeningHours,
    ParkingSession,
    Product,
    PublicService,
    SavedMerchant,
    ServiceProvider,
    TransitCard,
    TransitTopUp,
    Trip,
)


@admin.register(City)
class CityAdmin(admin.ModelAdmin):
    list_display = ["name", "country_code", "currency", "time_zone", "vat_rate"]
    search_fields = ["name", "slug", "country_code"]
    list_filter = ["country_code", "currency"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "vertical", "parent"]
    list_filter = ["vertical"]
    search_fields = ["slug", "name"]


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0


class OpeningExceptionInline(admin.TabularInline):
    model = OpeningException
    extra = 0


class MerchantStaffInline(admin.TabularInline):
    model = MerchantStaff
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["name", "vertical", "city", "accepts_wallet", "tax_free", "rating_count", "is_active",
                    "is_placeholder"]
    list_filter = ["vertical", "city", "accepts_wallet", "tax_free", "is_active", "is_placeholder"]
    search_fields = ["name", "external_id", "address"]
    list_select_related = ["city"]
    filter_horizontal = ["categories"]
    inlines = [OpeningHoursInline, OpeningExceptionInline, MerchantStaffInline]


@admin.register(MerchantStaff)
class MerchantStaffAdmin(admin.ModelAdmin):
    list_display = ["merchant", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["merchant__name", "user__username"]
    raw_id_fields = ["merchant", "user"]


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ["merchant", "weekday", "opens", "closes"]
    list_filter = ["weekday"]
    search_fields = ["merchant__name"]
    raw_id_fields = ["merchant"]


@admin.register(OpeningException)
class OpeningExceptionAdmin(admin.ModelAdmin):
    list_display = ["merchant", "date", "opens", "closes", "note"]
    list_filter = ["date"]
    search_fields = ["merchant__name", "note"]
    raw_id_fields = ["merchant"]


@admin.register(SavedMerchant)
class SavedMerchantAdmin(admin.ModelAdmin):
    list_display = ["user", "merchant", "created_at"]
    search_fields = ["user__username", "merchant__name"]
    raw_id_fields = ["user", "merchant"]


@admin.register(Trip)
class TripAdmin(admin.ModelAdmin):
    list_display = ["user", "destination", "starts_on", "ends_on", "status", "title"]
    list_filter = ["status", "destination"]
    search_fields = ["user__username", "title"]
    raw_id_fields = ["user"]
    list_select_related = ["user", "destination"]


class InventorySlotInline(admin.TabularInline):
    model = InventorySlot
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "merchant", "kind", "price_amount", "currency", "max_party_size",
                    "free_cancellation_hours", "cancellation_fee_percent", "is_active"]
    list_filter = ["kind", "is_active", "currency"]
    search_fields = ["name", "merchant__name"]
    raw_id_fields = ["merchant"]
    inlines = [InventorySlotInline]


@admin.register(InventorySlot)
class InventorySlotAdmin(admin.ModelAdmin):
    list_display = ["product", "date", "start_time", "capacity", "reserved", "price_amount"]
    list_filter = ["date"]
    search_fields = ["product__name", "product__merchant__name"]
    raw_id_fields = ["product"]


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["pk", "user", "product", "status", "first_date", "last_date", "party_size", "amount", "currency",
                    "hold_expires_at", "payment_id"]
    list_filter = ["status", "product__kind"]
    search_fields = ["user__username", "product__name", "product__merchant__name"]
    raw_id_fields = ["user", "product", "payment", "refund"]
    list_select_related = ["user", "product"]


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


@admin.register(BookingSlot)
class BookingSlotAdmin(admin.ModelAdmin):
    list_display = ["booking", "slot", "units"]
    search_fields = ["booking__user__username"]
    raw_id_fields = ["booking", "slot"]


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
