"""Wallet, double-entry ledger, payments, refunds, transfers, FX, coupons and tax-free VAT claims.

Ledger invariants (verified by `manage.py ledger_check`):
- every `LedgerTransaction` has two or more `LedgerEntry` rows whose amounts sum to zero per currency;
- `Account.balance` (a cache) equals the sum of the account's entries; it is updated in the same database
  transaction as the entries, with the account rows locked (`select_for_update`, primary-key order);
- accounts with `allow_negative=False` (users, merchants, suspense) never go below zero;
- entries are append-only: a correction is a new reversing transaction.

Amounts are signed integers in the currency's minor unit; a positive entry increases the balance.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from superapp.money import Money


class AccountKind(models.TextChoices):
    USER = "user", "User wallet"
    MERCHANT = "merchant", "Merchant"
    SYSTEM = "system", "System"
    CAMPAIGN = "campaign", "Campaign budget"


class SystemAccount(models.TextChoices):
    FUNDING = "funding", "Funding sources (money entering/leaving via cards and banks)"
    FEES = "fees", "Platform fees"
    FX = "fx", "FX position (conversions and spread)"
    MARKETING = "marketing", "Platform coupon budget"
    VAT = "vat", "VAT refunds"
    SUSPENSE = "suspense", "Suspense (held money, e.g. pending payments)"


class Account(models.Model):
    kind = models.CharField(max_length=10, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="wallet_accounts")
    merchant = models.ForeignKey("services.Merchant", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="wallet_accounts")
    system_code = models.CharField(max_length=12, choices=SystemAccount.choices, blank=True)
    shard = models.PositiveSmallIntegerField(default=0, help_text="Hot system accounts are split into shards.")
    balance = models.BigIntegerField(default=0, help_text="Cached sum of entries, minor units.")
    allow_negative = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "currency"], condition=Q(kind="user"), name="account_user_ccy"),
            models.UniqueConstraint(fields=["merchant", "currency"], condition=Q(kind="merchant"),
                                    name="account_merchant_ccy"),
            models.UniqueConstraint(fields=["system_code", "currency", "shard"], condition=Q(kind="system"),
                                    name="account_system_ccy_shard"),
            models.CheckConstraint(condition=Q(allow_negative=True) | Q(balance__gte=0),
                                   name="account_no_overdraft"),
        ]

    def __str__(self) -> str:
        owner = self.user_id or self.merchant_id or f"{self.system_code}#{self.shard}"
        return f"{self.kind}:{owner} {self.currency}"


class TransactionKind(models.TextChoices):
    TOP_UP = "top_up", "Top-up"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    PAYMENT = "payment", "Payment"
    PAYMENT_CAPTURE = "payment_capture", "Payment confirmed by the merchant"
    REFUND = "refund", "Refund"
    TRANSFER = "transfer", "Transfer"
    CAMPAIGN_FUNDING = "campaign_funding", "Campaign funding"
    VAT_REFUND = "vat_refund", "VAT refund"
    REVERSAL = "reversal", "Reversal"


class LedgerTransaction(models.Model):
    # Indexed by `Meta.indexes` (one plain btree: `db_index` would add a second, LIKE-only one).
    kind = models.CharField(max_length=20, choices=TransactionKind.choices)
    description = models.CharField(max_length=255, blank=True)
    # Denormalised for statement filters (kind, merchant) without joins to every operation table.
    merchant = models.ForeignKey("services.Merchant", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="reversed_by")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["kind"], name="ledger_transaction_kind")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class AppendOnlyError(RuntimeError):
    pass


class LedgerEntry(models.Model):
    """One leg of a ledger transaction. Never updated or deleted."""

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    # Looked up through `entry_account_recent` (account first): no second index to write on every entry.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    amount = models.BigIntegerField(help_text="Signed minor units; positive increases the balance.")
    currency = models.CharField(max_length=3)
    balance_after = models.BigIntegerField(help_text="The account's balance right after this entry.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "-id"], name="entry_account_recent")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+d} {self.currency}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("Ledger entries are append-only; post a reversing transaction instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Ledger entries are append-only; post a reversing transaction instead.")

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


class FundingKind(models.TextChoices):
    CARD = "card", "Card"
    BANK = "bank", "Bank account"


class FundingSource(models.Model):
    """A user's linked card or bank account, represented at the provider by an opaque token."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="funding_sources")
    kind = models.CharField(max_length=8, choices=FundingKind.choices, default=FundingKind.CARD)
    provider = models.CharField(max_length=32, default="simulated")
    provider_reference = models.CharField(max_length=128, help_text="The provider's token for this source.")
    label = models.CharField(max_length=64, help_text="What the user sees, e.g. 'Visa •••• 4242'.")
    currency = models.CharField(max_length=3)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.label} ({self.user_id})"


class OperationStatus(models.TextChoices):
    PENDING = "pending", "Pending: the provider call has not settled"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class TopUp(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="top_ups")
    funding_source = models.ForeignKey(FundingSource, on_delete=models.PROTECT, related_name="top_ups")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=OperationStatus.choices, default=OperationStatus.SUCCEEDED)
    provider_reference = models.CharField(max_length=128, blank=True)
    ledger_transaction = models.OneToOneField(LedgerTransaction, null=True, on_delete=models.PROTECT,
                                              related_name="top_up")
    request_key = models.CharField(max_length=255, blank=True,
                                   help_text="The client's Idempotency-Key: a retry resumes this operation.")
    failure_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "request_key"], condition=~Q(request_key=""),
                                               name="top_up_request_key_unique")]
        indexes = [models.Index(fields=["status", "created_at"], name="top_up_status_created")]

    def __str__(self) -> str:
        return f"top-up #{self.pk} {Money(self.amount, self.currency)}"


class Withdrawal(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals")
    funding_source = models.ForeignKey(FundingSource, on_delete=models.PROTECT, related_name="withdrawals")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=OperationStatus.choices, default=OperationStatus.SUCCEEDED)
    provider_reference = models.CharField(max_length=128, blank=True)
    ledger_transaction = models.OneToOneField(LedgerTransaction, null=True, on_delete=models.PROTECT,
                                              related_name="withdrawal")
    request_key = models.CharField(max_length=255, blank=True,
                                   help_text="The client's Idempotency-Key: a retry resumes this operation.")
    failure_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "request_key"], condition=~Q(request_key=""),
                                               name="withdrawal_request_key_unique")]
        indexes = [models.Index(fields=["status", "created_at"], name="withdrawal_status_created")]

    def __str__(self) -> str:
        return f"withdrawal #{self.pk} {Money(self.amount, self.currency)}"


class FxRate(models.Model):
    """Mid-market rate: 1 unit of `base` = `rate` units of `quote`. The newest row per pair is used."""

    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=20, decimal_places=10)
    as_of = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=64, default="demo")

    class Meta:
        indexes = [models.Index(fields=["base", "quote", "-as_of"], name="fxrate_pair_recent")]
        constraints = [models.CheckConstraint(condition=Q(rate__gt=0), name="fxrate_positive")]

    def __str__(self) -> str:
        return f"{self.base}/{self.quote} {self.rate} @ {self.as_of:%Y-%m-%d %H:%M}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending merchant confirmation"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Payment(models.Model):
    """A wallet payment to a merchant. Amounts in the merchant's currency unless prefixed `payer_`.

    gross = amount + tip; the payer is charged gross - discount (converted into the payer's currency
    when they differ); the merchant receives gross - fee; the campaign budget pays the discount.
    """

    # Every index is written by every payment, so only those a query uses (`Meta.indexes`): payer and merchant
    # are the first columns of the "recent" indexes, and status and created_at are only searched for pending
    # payments (the expiry job), a partial index that a succeeded payment never enters.
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments",
                              db_index=False)
    merchant = models.ForeignKey("services.Merchant", on_delete=models.PROTECT, related_name="wallet_payments",
                                 db_index=False)
    status = models.CharField(max_length=10, choices=PaymentStatus.choices)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    tip = models.BigIntegerField(default=0)
    discount = models.BigIntegerField(default=0)
    fee = models.BigIntegerField(default=0)
    refunded = models.BigIntegerField(default=0, help_text="Refunded so far, of gross - discount.")
    payer_currency = models.CharField(max_length=3)
    payer_amount = models.BigIntegerField(help_text="Charged to the payer's wallet, in payer_currency.")
    payer_refunded = models.BigIntegerField(default=0)
    fx_rate = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True,
                                  help_text="Applied rate: payer currency units per merchant currency unit, "
                                            "spread included.")
    fx_mid_rate = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    coupon = models.ForeignKey("Coupon", null=True, blank=True, on_delete=models.PROTECT, db_index=False,
                               related_name="payments", help_text="Released again if the payment fails.")
    tax_free = models.BooleanField(default=False)
    vat_amount = models.BigIntegerField(default=0, help_text="VAT included in the amount (tax-free purchases).")
    reference = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=255, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    ledger_transaction = models.OneToOneField(LedgerTransaction, null=True, on_delete=models.PROTECT,
                                              related_name="payment")
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["payer", "-id"], name="payment_payer_recent"),
            models.Index(fields=["merchant", "-id"], name="payment_merchant_recent"),
            models.Index(fields=["merchant", "status", "created_at"], name="payment_merchant_day"),
            models.Index(fields=["created_at"], condition=Q(status="pending"), name="payment_pending_since"),
            models.Index(fields=["coupon"], condition=Q(coupon__isnull=False), name="payment_coupon"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(tip__gte=0) & Q(discount__gte=0),
                                   name="payment_amounts_positive"),
            models.CheckConstraint(condition=Q(refunded__gte=0) & Q(refunded__lte=models.F("amount")
                                                                     + models.F("tip") - models.F("discount")),
                                   name="payment_refund_within_paid"),
        ]

    def __str__(self) -> str:
        return f"payment #{self.pk} {Money(self.gross, self.currency)} {self.status}"

    @property
    def gross(self) -> int:
        return self.amount + self.tip

    @property
    def paid(self) -> int:
        """What the payer paid, in the merchant's currency (the refundable total)."""
        return self.amount + self.tip - self.discount


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField(help_text="Merchant currency, out of what the payer paid.")
    currency = models.CharField(max_length=3)
    payer_amount = models.BigIntegerField(help_text="Credited to the payer, in the payment's payer currency.")
    discount_returned = models.BigIntegerField(default=0, help_text="Returned to the campaign budget.")
    fee_returned = models.BigIntegerField(default=0, help_text="Share of the merchant fee given back.")
    reason = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    ledger_transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="refund")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_positive")]

    def __str__(self) -> str:
        return f"refund #{self.pk} {Money(self.amount, self.currency)} of payment {self.payment_id}"


class Transfer(models.Model):
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transfers_sent")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="transfers_received")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    message = models.CharField(max_length=140, blank=True)
    ledger_transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="transfer")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_positive")]

    def __str__(self) -> str:
        return f"transfer #{self.pk} {Money(self.amount, self.currency)}"


class PaymentRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted (paid)"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled by the requester"


class PaymentRequest(models.Model):
    """'Split the bill': the requester asks `payer` for money; accepting pays it as a transfer."""

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="payment_requests_sent")
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="payment_requests_received")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    message = models.CharField(max_length=140, blank=True)
    group = models.CharField(max_length=32, blank=True, help_text="Requests created together for one bill.")
    status = models.CharField(max_length=10, choices=PaymentRequestStatus.choices,
                              default=PaymentRequestStatus.PENDING, db_index=True)
    transfer = models.OneToOneField(Transfer, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="payment_request")
    created_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payment_request_positive")]

    def __str__(self) -> str:
        return f"request #{self.pk} {Money(self.amount, self.currency)} {self.status}"


class DiscountKind(models.TextChoices):
    PERCENT = "percent", "Percentage"
    FIXED = "fixed", "Fixed amount"


class Campaign(models.Model):
    """A coupon campaign, funded by the platform or a merchant. Its budget lives in its own ledger
    account: every discount is an entry out of that account, so the budget cannot be overspent."""

    name = models.CharField(max_length=120)
    description = models.CharField(max_length=255, blank=True)
    funded_by_merchant = models.ForeignKey("services.Merchant", null=True, blank=True, on_delete=models.PROTECT,
                                           related_name="funded_campaigns",
                                           help_text="Empty: funded by the platform.")
    currency = models.CharField(max_length=3)
    budget_account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="campaign")
    budget_total = models.BigIntegerField(default=0, help_text="Funded so far, minor units.")
    discount_kind = models.CharField(max_length=8, choices=DiscountKind.choices)
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, default=0, help_text="e.g. 15.00 (%)")
    fixed_off = models.BigIntegerField(default=0)
    max_discount = models.BigIntegerField(null=True, blank=True, help_text="Cap per redemption.")
    min_spend = models.BigIntegerField(default=0)
    per_user_limit = models.PositiveIntegerField(default=1)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True)
    redemptions = models.PositiveIntegerField(default=0)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    cities = models.ManyToManyField("services.City", blank=True, related_name="+")
    verticals = models.JSONField(default=list, blank=True)
    merchants = models.ManyToManyField("services.Merchant", blank=True, related_name="campaigns")
    new_users_only = models.BooleanField(default=False)
    travellers_only = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(max_redemptions__isnull=True)
                                   | Q(redemptions__lte=models.F("max_redemptions")),
                                   name="campaign_redemptions_within_limit"),
        ]

    def __str__(self) -> str:
        return self.name


class CouponStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    REDEEMED = "redeemed", "Redeemed"


class CouponReadStatus(models.TextChoices):
    """What a coupon is as of now (`selectors.coupon_status`): a stored `available` coupon whose campaign is no
    longer running (ended, or withdrawn by the operator) reads `expired`, with no job writing it."""

    AVAILABLE = "available", "Available"
    REDEEMED = "redeemed", "Redeemed"
    EXPIRED = "expired", "Expired"


class Coupon(models.Model):
    """A campaign coupon collected by a user."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="coupons")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coupons")
    status = models.CharField(max_length=10, choices=CouponStatus.choices, default=CouponStatus.AVAILABLE)
    collected_at = models.DateTimeField(default=timezone.now)
    redeemed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "status"], name="coupon_user_status")]

    def __str__(self) -> str:
        return f"coupon #{self.pk} {self.campaign_id} for {self.user_id}"


class VatClaimStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted (awaiting customs)"
    APPROVED = "approved", "Approved by customs"
    REJECTED = "rejected", "Rejected by customs"
    PAID = "paid", "Paid"


class VatClaim(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vat_claims")
    status = models.CharField(max_length=10, choices=VatClaimStatus.choices, default=VatClaimStatus.SUBMITTED,
                              db_index=True)
    refund_currency = models.CharField(max_length=3, help_text="The user's home currency.")
    refund_gross = models.BigIntegerField(default=0, help_text="VAT converted to the home currency.")
    service_fee = models.BigIntegerField(default=0)
    refund_net = models.BigIntegerField(default=0)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    operator_note = models.CharField(max_length=255, blank=True)
    ledger_transaction = models.OneToOneField(LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT,
                                              related_name="vat_claim")
    created_at = models.DateTimeField(default=timezone.now)
    validated_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("validate_vatclaim", "Can validate VAT claims as a customs operator")]

    def __str__(self) -> str:
        return f"VAT claim #{self.pk} {self.status}"


class VatClaimItem(models.Model):
    claim = models.ForeignKey(VatClaim, on_delete=models.CASCADE, related_name="items")
    # One claim per payment, ever: the unique constraint is what stops double claims.
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="vat_claim_item")
    vat_amount = models.BigIntegerField(help_text="In the payment's currency.")
    currency = models.CharField(max_length=3)
    home_amount = models.BigIntegerField(help_text="The VAT converted to the claim's refund currency.")

    def __str__(self) -> str:
        return f"{self.claim_id}: payment {self.payment_id}"
