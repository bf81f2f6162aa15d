from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from superapp.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "display_name", "email", "home_city", "current_city", "home_currency",
                    "is_imported", "is_staff", "date_joined"]
    list_filter = ["is_imported", "is_staff", "is_active", "home_city", "language", "verified_country"]
    search_fields = ["username", "display_name", "email", "external_id"]
    list_select_related = ["home_city", "current_city"]
    autocomplete_fields = ["home_city", "current_city"]
    fieldsets = (*BaseUserAdmin.fieldsets, ("Profile", {"fields": (
        "display_name", "avatar_url", "language", "home_city", "current_city", "home_currency", "preferences",
        "is_imported", "external_id")}),
        ("Verified residence (operator)", {"fields": ("verified_country", "verified_country_at")}))
