from django.contrib import admin

from superapp.admin_lists import use_for_every_admin
from superapp.models import AttemptCounter, IdempotencyKey

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


@admin.register(AttemptCounter)
class AttemptCounterAdmin(admin.ModelAdmin):
    """Log-in, sign-up and bill-proof counters (superapp.attempts). Deleting a row lifts that lock-out now."""

    list_display = ["key", "count", "window_ends"]
    search_fields = ["key"]
    readonly_fields = ["key", "count", "window_ends"]
    ordering = ["-window_ends"]

    def has_add_permission(self, request) -> bool:
        return False
