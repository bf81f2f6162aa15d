from django.contrib import admin

from bookings.models import Booking, BookingSlot, InventorySlot, Product


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


@admin.register(BookingSlot)
class BookingSlotAdmin(admin.ModelAdmin):
    list_display = ["booking", "slot", "units"]
    search_fields = ["booking__user__username"]
    raw_id_fields = ["booking", "slot"]
