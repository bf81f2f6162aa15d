from django.contrib import admin, messages
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import reverse

from recommender import selectors, services
from recommender.exceptions import ModelVersionNotActivatable
from recommender.models import Interaction, InteractionKind, ModelStatus, ModelVersion, TrainingConfig, TrainingLock
from recommender.tasks import retrain
from services.models import Merchant
from superapp.accounts.models import User
from superapp.admin_lists import LargeTableAdmin
from superapp.charts import ChangeListChartMixin


@admin.register(Interaction)
class InteractionAdmin(LargeTableAdmin, admin.ModelAdmin):
    list_display = ["user", "merchant", "kind", "value", "occurred_at", "source"]
    list_filter = ["kind", "occurred_at"]
    search_fields = ["user__username", "merchant__name", "source"]  # searched by get_search_results
    search_help_text = "A username (whole), a merchant's name (part of it) or a source (whole, e.g. payment:123)."
    list_select_related = ["user", "merchant"]
    raw_id_fields = ["user", "merchant"]
    # Millions of rows: no date_hierarchy (it scans the table), capped counts (superapp/admin_lists.py).

    def get_search_results(self, request, queryset, search_term):
        """Three index lookups OR-ed (user, merchant, (kind, source)): the user and merchant ids first."""
        term = search_term.strip()
        if not term:
            return queryset, False
        users = list(User.objects.filter(username=term).values_list("pk", flat=True))
        merchants = self.capped_ids(request, Merchant.objects.filter(name__icontains=term), "merchants")
        kinds = [kind for kind, _ in InteractionKind.choices]
        return queryset.filter(Q(user_id__in=users) | Q(merchant_id__in=merchants) |
                               Q(kind__in=kinds, source=term)), False


@admin.register(TrainingConfig)
class TrainingConfigAdmin(admin.ModelAdmin):
    list_display = ["name", "algorithm", "is_active", "params", "k", "split", "eval_users", "data_window_days",
                    "updated_at"]
    list_filter = ["algorithm", "is_active", "split"]
    search_fields = ["name", "notes"]
    readonly_fields = ["is_active", "created_at", "updated_at"]
    actions = ["train_now", "make_active"]

    @admin.action(description="Train now with the selected configuration (background job)")
    def train_now(self, request, queryset):
        for config in queryset[:1]:
            # on_commit: the worker must see the committed admin state; eager mode runs it in-process.
            retrain.delay_on_commit(config_id=config.pk, triggered_by=f"admin:{request.user.username}")
            self.message_user(request, f"Training with “{config.name}” was queued; see Model versions.")

    @admin.action(description="Make the selected configuration the one scheduled retraining uses")
    def make_active(self, request, queryset):
        config = queryset.first()
        if config:
            services.training_config_activate(config=config)
            self.message_user(request, f"“{config.name}” is now the active training configuration.")


@admin.register(ModelVersion)
class ModelVersionAdmin(ChangeListChartMixin, admin.ModelAdmin):
    list_display = ["id", "algorithm", "status", "ndcg_display", "baseline_display", "lift_display", "n_users",
                    "n_items", "nnz", "train_seconds", "triggered_by", "created_at", "reason"]
    list_filter = ["status", "algorithm", "triggered_by"]
    search_fields = ["reason", "artifact_path"]
    list_select_related = ["config"]
    actions = ["activate", "rollback"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]

    def has_add_permission(self, request):
        return False  # versions come from training runs only

    chart_alt = "Metrics of the model versions over time"

    change_form_template = "admin/recommender/modelversion_change_form.html"  # the chart, this version marked

    def chart_png(self, request) -> bytes:
        from recommender.charts import metrics_chart_png  # matplotlib only when a chart is drawn (superapp.charts)

        highlight = request.GET.get("highlight", "")
        return metrics_chart_png(ModelVersion.objects.order_by("created_at", "pk")[:200],
                                 highlight=int(highlight) if highlight.isdigit() and len(highlight) < 19 else None)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "chart_url": reverse(f"admin:{self._chart_url_name()}"),
                         "chart_alt": f"Metrics of the model versions, v{object_id} marked"}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    @admin.display(description="nDCG")
    def ndcg_display(self, obj):
        return obj.metrics.get("ndcg")

    @admin.display(description="popularity nDCG")
    def baseline_display(self, obj):
        return obj.baseline_metrics.get("ndcg")

    @admin.display(description="lift")
    def lift_display(self, obj):
        ndcg, base = obj.metrics.get("ndcg"), obj.baseline_metrics.get("ndcg")
        return f"×{ndcg / base:.2f}" if ndcg is not None and base else "—"

    @admin.display(description="train s")
    def train_seconds(self, obj):
        return round(sum(obj.stage_timings.values()), 1) if obj.stage_timings else None

    @admin.action(description="Activate the selected version (serve it now)")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return None
        version = queryset.get()
        override = version.status == ModelStatus.REJECTED and request.POST.get("confirm_rejected") == "yes"
        if version.status == ModelStatus.REJECTED and not override:
            # An intermediate page, like Django's delete confirmation: say why it was rejected, ask again.
            return TemplateResponse(request, "admin/recommender/activate_rejected.html", {
                **self.admin_site.each_context(request), "opts": self.opts, "version": version,
                "active": selectors.active_model_version(), "title": f"Activate rejected version v{version.pk}?",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME})
        reason = f"Activated by {request.user.username}" + (
            f" despite the quality gate's rejection ({version.reason})." if override else ".")
        try:
            version = services.model_version_activate(version=version, reason=reason, override_rejection=override)
        except ModelVersionNotActivatable as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        self.message_user(request, f"v{version.pk} is now active." + (
            " It had been rejected by the quality gate." if override else ""),
            messages.WARNING if override else messages.SUCCESS)
        return None

    @admin.action(description="Roll back to the previously active version")
    def rollback(self, request, queryset):
        try:
            version = services.model_version_rollback()
        except ModelVersionNotActivatable as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"Rolled back: v{version.pk} is active again.")


@admin.register(TrainingLock)
class TrainingLockAdmin(admin.ModelAdmin):
    list_display = ["name", "holder", "acquired_at", "expires_at"]
    search_fields = ["name", "holder"]
    list_filter = ["acquired_at"]
