from django.contrib import admin

from services.models import Category, City, Merchant, MerchantStaff


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


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["name", "vertical", "city", "accepts_wallet", "tax_free", "rating_count", "is_active",
                    "is_placeholder"]
    list_filter = ["vertical", "city", "accepts_wallet", "tax_free", "is_active", "is_placeholder"]
    search_fields = ["name", "external_id", "address"]
    list_select_related = ["city"]
    filter_horizontal = ["categories"]


@admin.register(MerchantStaff)
class MerchantStaffAdmin(admin.ModelAdmin):
    list_display = ["merchant", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["merchant__name", "user__username"]
    raw_id_fields = ["merchant", "user"]
