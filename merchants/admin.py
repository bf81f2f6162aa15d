from django.contrib import admin

from merchants.models import (
    Category,
    City,
    Merchant,
    MerchantStaff,
    OpeningException,
    OpeningHours,
    SavedMerchant,
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
