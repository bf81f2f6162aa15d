from django.contrib import admin, messages
from django.db.models import QuerySet

from payments import models as m
from payments import selectors, services
from superapp.charts import ChangeListChartMixin
from superapp.exceptions import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money rows change only through services (balanced ledger postings), never by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(admin.TabularInline):
    model = m.LedgerEntry
    fields = ["account", "amount", "currency", "balance_after"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(m.Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "user", "merchant", "system_code", "shard", "currency", "balance",
                    "allow_negative"]
    list_filter = ["kind", "currency", "system_code"]
    search_fields = ["user__username", "merchant__name"]
    list_select_related = ["user", "merchant"]
    raw_id_fields = ["user", "merchant"]


@admin.register(m.LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "description", "merchant", "reverses", "created_at"]
    list_filter = ["kind", "created_at"]  # not date_hierarchy: it scans the table (superapp/admin_lists.py)
    search_fields = ["description", "=id"]
    list_select_related = ["merchant"]
    inlines = [LedgerEntryInline]


@admin.register(m.LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "transaction", "account", "amount", "currency", "balance_after", "created_at"]
    list_filter = ["currency"]
    search_fields = ["=transaction__id", "=account__id"]
    list_select_related = ["transaction", "account"]


@admin.register(m.FundingSource)
class FundingSourceAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "kind", "label", "currency", "provider", "is_active", "created_at"]
    list_filter = ["kind", "provider", "is_active", "currency"]
    search_fields = ["user__username", "label"]
    raw_id_fields = ["user"]
    readonly_fields = ["provider_reference"]


@admin.register(m.TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "amount", "currency", "status", "funding_source", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["user__username", "provider_reference"]
    list_select_related = ["user", "funding_source"]


@admin.register(m.Withdrawal)
class WithdrawalAdmin(TopUpAdmin):
    pass


@admin.register(m.FxRate)
class FxRateAdmin(admin.ModelAdmin):
    list_display = ["id", "base", "quote", "rate", "as_of", "source"]
    list_filter = ["base", "quote", "source"]
    search_fields = ["base", "quote"]


@admin.register(m.Payment)
class PaymentAdmin(ChangeListChartMixin, ReadOnlyAdmin):
    list_display = ["id", "payer", "merchant", "status", "amount", "tip", "discount", "fee", "refunded", "currency",
                    "payer_amount", "payer_currency", "tax_free", "created_at"]
    list_filter = ["status", "currency", "tax_free", "created_at"]  # not date_hierarchy: superapp/admin_lists.py
    search_fields = ["=id", "payer__username", "merchant__name", "reference"]
    list_select_related = ["payer", "merchant"]
    actions = ["confirm_pending", "fail_pending"]
    chart_days = 30
    chart_alt = "Payment volume per day and currency, last 30 days"

    def chart_png(self, request) -> bytes:
        from payments.charts import payment_volume_png  # matplotlib only when a chart is drawn (superapp.charts)

        return payment_volume_png(selectors.payment_volume_by_day(days=self.chart_days), days=self.chart_days)

    @admin.action(description="Confirm selected pending payments")
    def confirm_pending(self, request, queryset: QuerySet):
        self._each(request, queryset, lambda p: services.payment_confirm(payment=p))

    @admin.action(description="Fail selected pending payments (money back to the payer)")
    def fail_pending(self, request, queryset: QuerySet):
        self._each(request, queryset, lambda p: services.payment_fail(payment=p, reason="failed_by_operator"))

    def _each(self, request, queryset, fn):
        done = 0
        for payment in queryset:
            try:
                fn(payment)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{payment.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} payment(s) updated.")


@admin.register(m.Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["id", "payment", "amount", "currency", "payer_amount", "discount_returned", "actor", "created_at"]
    list_filter = ["currency"]
    search_fields = ["=payment__id", "reason"]
    list_select_related = ["payment", "actor"]


@admin.register(m.Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "sender", "recipient", "amount", "currency", "message", "created_at"]
    list_filter = ["currency"]
    search_fields = ["sender__username", "recipient__username", "message"]
    list_select_related = ["sender", "recipient"]


@admin.register(m.PaymentRequest)
class PaymentRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "requester", "payer", "amount", "currency", "status", "group", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["requester__username", "payer__username", "group"]
    list_select_related = ["requester", "payer"]


@admin.register(m.Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "funded_by_merchant", "currency", "discount_kind", "budget_total",
                    "redemptions", "max_redemptions", "starts_at", "ends_at", "is_active"]
    list_filter = ["is_active", "discount_kind", "currency", "new_users_only", "travellers_only"]
    search_fields = ["name", "description"]
    list_select_related = ["funded_by_merchant"]
    raw_id_fields = ["funded_by_merchant", "merchants"]
    filter_horizontal = ["cities"]
    # Money fields move only through campaign_create / campaign_fund (ledger postings).
    readonly_fields = ["budget_account", "budget_total", "redemptions", "currency"]

    def has_add_permission(self, request):
        return False  # needs a funded budget account: use payments.services.campaign_create


@admin.register(m.Coupon)
class CouponAdmin(ReadOnlyAdmin):
    list_display = ["id", "campaign", "user", "status", "collected_at", "redeemed_at"]
    list_filter = ["status"]
    search_fields = ["user__username", "campaign__name"]
    list_select_related = ["campaign", "user"]


class VatClaimItemInline(admin.TabularInline):
    model = m.VatClaimItem
    fields = ["payment", "vat_amount", "currency", "home_amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(m.VatClaim)
class VatClaimAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "status", "refund_gross", "service_fee", "refund_net", "refund_currency",
                    "created_at", "validated_at", "paid_at"]
    list_filter = ["status", "refund_currency"]
    search_fields = ["=id", "user__username"]
    list_select_related = ["user"]
    inlines = [VatClaimItemInline]
    actions = ["approve", "reject"]

    @admin.action(description="Customs: approve selected claims (then they are paid)")
    def approve(self, request, queryset):
        self._decide(request, queryset, approved=True)

    @admin.action(description="Customs: reject selected claims")
    def reject(self, request, queryset):
        self._decide(request, queryset, approved=False)

    def _decide(self, request, queryset, *, approved: bool):
        done = 0
        for claim in queryset:
            try:
                services.vat_claim_validate(claim=claim, operator=request.user, approved=approved,
                                            note="admin action")
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{claim.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} claim(s) {'approved' if approved else 'rejected'}.")


@admin.register(m.VatClaimItem)
class VatClaimItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "claim", "payment", "vat_amount", "currency", "home_amount"]
    list_filter = ["currency"]
    search_fields = ["=claim__id", "=payment__id"]
    list_select_related = ["claim", "payment"]
