from django.contrib import admin

from recommender.models import Interaction


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["user", "merchant", "kind", "value", "occurred_at", "source"]
    list_filter = ["kind"]
    search_fields = ["user__username", "merchant__name", "source", "client_event_id"]
    list_select_related = ["user", "merchant"]
    raw_id_fields = ["user", "merchant"]
    date_hierarchy = "occurred_at"
