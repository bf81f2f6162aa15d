from django.contrib import admin

from superapp.admin_lists import use_for_every_admin
from superapp.models import IdempotencyKey

# Every change list stays fast on tables with millions of rows (see superapp/admin_lists.py).
use_for_every_admin(admin.ModelAdmin)

admin.site.site_header = "superapp operations"
admin.site.site_title = "superapp admin"


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "endpoint", "user", "response_status", "created_at"]
    list_filter = ["response_status"]
    search_fields = ["key", "endpoint", "user__username"]
    readonly_fields = ["user", "endpoint", "key", "fingerprint", "response_status", "response_body", "created_at"]
    list_select_related = ["user"]
