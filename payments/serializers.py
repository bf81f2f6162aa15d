"""Wallet API shapes. Money goes out as {"amount": "12.34", "currency": "CNY"} (major units, a decimal
string) and comes in as an `amount` decimal string plus a `currency`."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from payments.models import (
    Account,
    Campaign,
    Coupon,
    CouponReadStatus,
    FundingKind,
    FundingSource,
    LedgerEntry,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Refund,
    TopUp,
    TransactionKind,
    Transfer,
    VatClaim,
    Withdrawal,
)
from payments.selectors import coupon_status
from payments.services import money_from_input
from superapp.api import AmountField, MoneySerializer, PreparedFieldsMixin, paginated
from superapp.exceptions import ValidationFailed
from superapp.money import CURRENCY_EXPONENTS

CURRENCIES = sorted(CURRENCY_EXPONENTS)
MAX_ID = 2**63 - 1  # database bigint: larger ids cannot exist (and would overflow the driver)
AMOUNT_HELP = 'Decimal string in major units, e.g. "12.34" (at most the currency\'s decimals).'


@extend_schema_field(MoneySerializer)
class MoneyField(serializers.Field):
    """Read-only: renders (amount_attr, currency_attr) of the instance as a Money object."""

    def __init__(self, amount_attr: str, currency_attr: str = "currency", **kwargs):
        self.amount_attr, self.currency_attr = amount_attr, currency_attr
        kwargs["read_only"] = True
        kwargs["source"] = "*"
        super().__init__(**kwargs)

    def to_representation(self, instance):
        return MoneySerializer.of(getattr(instance, self.amount_attr), getattr(instance, self.currency_attr))


def amount_field(**kwargs) -> AmountField:
    kwargs.setdefault("help_text", AMOUNT_HELP)
    return AmountField(**kwargs)


def currency_field(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=CURRENCIES, **kwargs)


class MerchantRefSerializer(PreparedFieldsMixin, serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


@extend_schema_field(MerchantRefSerializer)
class MerchantRefField(serializers.Field):
    """A merchant as `MerchantRefSerializer` renders it, for the payment receipt (on every payment): a nested
    serializer is deep-copied for every instance it renders, about 2 % of a payment's CPU.
    `tests/payments/test_serializers.py` holds the two equal. Output only, declared like the nested serializer
    it replaces (not read-only), so the schema is unchanged."""

    def to_representation(self, merchant):
        return {"id": int(merchant.pk), "name": str(merchant.name)}


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()


# --- Balances and statement ---------------------------------------------------------------------------


class BalanceSerializer(serializers.ModelSerializer):
    balance = MoneyField("balance")

    class Meta:
        model = Account
        fields = ["currency", "balance"]


# What a ledger transaction was, by the operation row pointing at it (reverse one-to-ones, joined by
# `selectors.statement_entries`). A reversal points at the transaction it reverses instead.
STATEMENT_OBJECTS = ("payment", "refund", "transfer", "top_up", "withdrawal", "vat_claim")


def _statement_object(txn) -> tuple[str, Any] | None:
    for name in STATEMENT_OBJECTS:
        try:
            return name, getattr(txn, name)
        except ObjectDoesNotExist:
            continue
    return None


class StatementObjectSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[*STATEMENT_OBJECTS, "reversal"])
    id = serializers.IntegerField()


class StatementEntrySerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField()
    object = serializers.SerializerMethodField(help_text="The operation this line belongs to (type and id).")
    counterparty = serializers.SerializerMethodField(
        help_text="The other person of a transfer: the recipient on the sender's line, the sender on the "
                  "recipient's.")
    kind = serializers.ChoiceField(source="transaction.kind", choices=TransactionKind.choices)
    description = serializers.CharField(source="transaction.description")
    amount = MoneyField("amount", help_text="Signed: negative leaves the wallet.")
    balance_after = MoneyField("balance_after")
    merchant = MerchantRefSerializer(source="transaction.merchant", allow_null=True)

    class Meta:
        model = LedgerEntry
        fields = ["id", "transaction_id", "kind", "object", "counterparty", "description", "amount", "balance_after",
                  "merchant", "created_at"]

    @extend_schema_field(StatementObjectSerializer(allow_null=True))
    def get_object(self, entry):
        if entry.transaction.reverses_id:
            return {"type": "reversal", "id": entry.transaction.reverses_id}
        found = _statement_object(entry.transaction)
        return {"type": found[0], "id": found[1].pk} if found else None

    @extend_schema_field(UserRefSerializer(allow_null=True))
    def get_counterparty(self, entry):
        found = _statement_object(entry.transaction)
        if found is None or found[0] != "transfer":
            return None
        transfer = found[1]
        other = transfer.recipient if entry.amount < 0 else transfer.sender
        return UserRefSerializer(other).data


# --- Funding sources, top-ups, withdrawals -------------------------------------------------------------


class FundingSourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = FundingSource
        fields = ["id", "kind", "label", "currency", "provider", "created_at"]


class FundingSourceCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FundingKind.choices, default=FundingKind.CARD)
    label = serializers.CharField(
        max_length=64,
        help_text="e.g. 'Visa 4242'. A label containing 'decline' makes the simulated provider decline charges.",
    )
    currency = currency_field()


class FundsMoveRequestSerializer(serializers.Serializer):
    funding_source_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    amount = amount_field()
    currency = currency_field()

    def validate(self, attrs):
        attrs["amount"] = money_from_input(attrs["amount"], attrs["currency"])  # validated: Money
        return attrs


class TopUpSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(source="ledger_transaction_id", allow_null=True, read_only=True,
                                              help_text="The ledger transaction (as in the statement).")
    amount = MoneyField("amount")
    funding_source = FundingSourceSerializer()

    class Meta:
        model = TopUp
        fields = ["id", "transaction_id", "amount", "status", "funding_source", "created_at"]


class WithdrawalSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(source="ledger_transaction_id", allow_null=True, read_only=True,
                                              help_text="The ledger transaction (as in the statement).")
    amount = MoneyField("amount")
    funding_source = FundingSourceSerializer()

    class Meta:
        model = Withdrawal
        fields = ["id", "transaction_id", "amount", "status", "funding_source", "created_at"]


# --- Payments -----------------------------------------------------------------------------------------


@extend_schema_serializer(deprecate_fields=["qr"])
class PaymentCreateSerializer(PreparedFieldsMixin, serializers.Serializer):
    merchant_id = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Pay by merchant id, or ..."
    )
    qr_payload = serializers.CharField(
        required=False, max_length=1024,
        help_text="... by the merchant's signed QR payload (`qr_payload` of `GET wallet/merchants/{merchant_id}/qr`).")
    qr = serializers.CharField(required=False, max_length=1024,
                               help_text="Deprecated: the old name of `qr_payload`, accepted until 0.3.0.")
    amount = amount_field(required=False, help_text="In the merchant's currency; optional when the QR fixes it.")
    currency = currency_field(required=False, help_text="Defaults to the merchant's currency.")
    tip = amount_field(required=False)
    coupon_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, allow_null=True)
    tax_free = serializers.BooleanField(default=False)
    pay_currency = currency_field(
        required=False,
        help_text="Which wallet pays (default: the merchant's currency if you hold it, else your home currency).",
    )
    reference = serializers.CharField(required=False, max_length=64, default="", allow_blank=True)
    description = serializers.CharField(required=False, max_length=255, default="", allow_blank=True)

    def validate(self, attrs):
        if "qr" in attrs:
            if "qr_payload" in attrs:
                raise serializers.ValidationError({"qr": ["`qr` is the old name of `qr_payload`: give only one."]})
            attrs["qr_payload"] = attrs.pop("qr")
        if ("merchant_id" in attrs) == ("qr_payload" in attrs):
            raise serializers.ValidationError({"merchant_id": ["Give exactly one of merchant_id and qr_payload."]})
        return attrs


PAYMENT_DISPLAY_STATUSES = [*PaymentStatus.values, "partially_refunded", "refunded"]


@extend_schema_serializer(deprecate_fields=["total"])
class PaymentSerializer(PreparedFieldsMixin, serializers.ModelSerializer):
    """A payment receipt: both amounts and the rate when currencies differ."""

    status = serializers.SerializerMethodField(
        help_text="pending, succeeded, failed; a succeeded payment with refunds shows partially_refunded or "
                  "refunded (the `status` filter still takes the stored pending/succeeded/failed).")

    merchant = MerchantRefField()
    amount = MoneyField("amount")
    tip = MoneyField("tip")
    discount = MoneyField("discount")
    gross = MoneyField("gross", help_text="amount + tip, before the discount.")
    paid = MoneyField("paid", help_text="What you paid, in the merchant's currency (gross - discount).")
    total = MoneyField("gross", help_text="Deprecated: the old name of `gross` (before the discount), sent until "
                                          "0.3.0.")
    charged = MoneyField("payer_amount", "payer_currency", help_text="What your wallet was charged.")
    refunded = MoneyField("refunded")
    vat = MoneyField("vat_amount")
    fx_rate = serializers.DecimalField(
        max_digits=20,
        decimal_places=10,
        allow_null=True,
        help_text="Applied rate incl. spread: charged currency per merchant unit.",
    )
    fx_mid_rate = serializers.DecimalField(max_digits=20, decimal_places=10, allow_null=True)
    transaction_id = serializers.IntegerField(source="ledger_transaction_id", allow_null=True, read_only=True,
                                              help_text="The ledger transaction (as in the statement).")

    class Meta:
        model = Payment
        fields = [
            "id",
            "transaction_id",
            "status",
            "merchant",
            "amount",
            "tip",
            "discount",
            "gross",
            "paid",
            "charged",
            "refunded",
            "fx_rate",
            "fx_mid_rate",
            "coupon_id",
            "tax_free",
            "vat",
            "reference",
            "description",
            "failure_reason",
            "created_at",
            "completed_at",
            "total",
        ]


    @extend_schema_field(serializers.ChoiceField(choices=PAYMENT_DISPLAY_STATUSES))
    def get_status(self, obj) -> str:
        if obj.status == PaymentStatus.SUCCEEDED and obj.refunded > 0:
            return "refunded" if obj.refunded >= obj.paid else "partially_refunded"
        return obj.status


@functools.cache
def _receipt_fields() -> dict[str, serializers.Field]:
    # PaymentSerializer's fields bound once (their to_representation reads no state of the instance being built).
    return dict(PaymentSerializer().fields)


def payment_receipt(payment: Payment) -> dict:
    """`PaymentSerializer(payment).data` (the schema), built directly: the receipt of every payment, where DRF's
    per-instance field binding cost ~0.3 ms. `tests/payments/test_serializers.py` holds the two equal (FX, coupon,
    tax-free, pending, refunded, failed) and the field lists the same; the rendering rules stay the serializer's
    (`MoneySerializer.of`, its decimal and date-time fields, `MerchantRefField`, `get_status`)."""
    fields, currency, money = _receipt_fields(), payment.currency, MoneySerializer.of
    gross = payment.gross
    return {
        "id": payment.pk,
        "transaction_id": payment.ledger_transaction_id,
        "status": fields["status"].parent.get_status(payment),
        "merchant": fields["merchant"].to_representation(payment.merchant),
        "amount": money(payment.amount, currency),
        "tip": money(payment.tip, currency),
        "discount": money(payment.discount, currency),
        "gross": money(gross, currency),
        "paid": money(payment.paid, currency),
        "charged": money(payment.payer_amount, payment.payer_currency),
        "refunded": money(payment.refunded, currency),
        "fx_rate": None if payment.fx_rate is None else fields["fx_rate"].to_representation(payment.fx_rate),
        "fx_mid_rate": (None if payment.fx_mid_rate is None
                        else fields["fx_mid_rate"].to_representation(payment.fx_mid_rate)),
        "coupon_id": payment.coupon_id,
        "tax_free": payment.tax_free,
        "vat": money(payment.vat_amount, currency),
        "reference": payment.reference,
        "description": payment.description,
        "failure_reason": payment.failure_reason,
        "created_at": fields["created_at"].to_representation(payment.created_at),
        "completed_at": (None if payment.completed_at is None
                         else fields["completed_at"].to_representation(payment.completed_at)),
        "total": money(gross, currency),
    }


class MerchantPaymentSerializer(PaymentSerializer):
    payer = UserRefSerializer()
    fee = MoneyField("fee")

    class Meta(PaymentSerializer.Meta):
        fields = [*PaymentSerializer.Meta.fields, "payer", "fee"]


class RefundCreateSerializer(serializers.Serializer):
    # context: `currency`, the payment's (a comment: the schema would show a docstring)
    amount = amount_field(required=False, allow_null=True, help_text="Omit to refund all that remains.")
    reason = serializers.CharField(required=False, max_length=255, default="", allow_blank=True)

    def validate(self, attrs):
        if attrs.get("amount") is not None:
            attrs["amount"] = money_from_input(attrs["amount"], self.context["currency"])  # validated: Money
        return attrs


class RefundSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(source="ledger_transaction_id", allow_null=True, read_only=True,
                                              help_text="The ledger transaction (as in the statement).")
    amount = MoneyField("amount")
    payment_id = serializers.IntegerField()

    class Meta:
        model = Refund
        fields = ["id", "transaction_id", "payment_id", "amount", "reason", "created_at"]


@extend_schema_serializer(deprecate_fields=["payload"])
class QrSerializer(serializers.Serializer):
    qr_payload = serializers.CharField(help_text="What the QR code encodes; pay with it as `qr_payload`.")
    payload = serializers.CharField(help_text="Deprecated: the old name of `qr_payload`, sent until 0.3.0.")
    merchant = MerchantRefSerializer()
    amount = MoneySerializer(allow_null=True)


class QrQuerySerializer(serializers.Serializer):
    # context: `currency`, the merchant's
    amount = amount_field(required=False)

    def validate(self, attrs):
        # validated: Money, or None without an amount
        attrs["amount"] = money_from_input(attrs["amount"], self.context["currency"]) if attrs.get("amount") else None
        return attrs


class SettlementDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    currency = serializers.CharField()
    count = serializers.IntegerField()
    gross = MoneySerializer()
    discounts = MoneySerializer()
    fees = MoneySerializer()
    refunds = MoneySerializer()
    refund_count = serializers.IntegerField()
    net = MoneySerializer()


class SettlementQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def validate(self, attrs):
        """Both dates filled in (default: the last 30 days up to today), the range at most 366 days."""
        date_to = attrs.get("date_to") or timezone.now().date()
        date_from = attrs.get("date_from") or date_to - timedelta(days=29)
        if date_from > date_to or (date_to - date_from).days > 366:
            raise ValidationFailed("date_from must be before date_to and the range at most 366 days.",
                                   details={"date_from": ["invalid range"]})
        return {"date_from": date_from, "date_to": date_to}


# --- Transfers and payment requests ---------------------------------------------------------------------


class TransferCreateSerializer(serializers.Serializer):
    recipient_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    recipient_username = serializers.CharField(required=False, max_length=150)
    amount = amount_field()
    currency = currency_field()
    message = serializers.CharField(required=False, max_length=140, default="", allow_blank=True)

    def validate(self, attrs):
        if ("recipient_id" in attrs) == ("recipient_username" in attrs):
            raise serializers.ValidationError(
                {"recipient_id": ["Give exactly one of recipient_id and recipient_username."]}
            )
        attrs["amount"] = money_from_input(attrs["amount"], attrs["currency"])  # validated: Money
        return attrs


class TransferSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(source="ledger_transaction_id", allow_null=True, read_only=True,
                                              help_text="The ledger transaction (as in the statement).")
    amount = MoneyField("amount")
    sender = UserRefSerializer()
    recipient = UserRefSerializer()

    direction = serializers.SerializerMethodField(help_text="`sent` or `received`, seen by the requesting user.")

    class Meta:
        model = Transfer
        fields = ["id", "transaction_id", "direction", "sender", "recipient", "amount", "message", "created_at"]

    @extend_schema_field(serializers.ChoiceField(choices=["sent", "received"]))
    def get_direction(self, obj) -> str:
        request = self.context.get("request")
        return "received" if request is not None and request.user.pk == obj.recipient_id else "sent"


class PaymentRequestCreateSerializer(serializers.Serializer):
    payer_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=20
    )
    total = amount_field(help_text="The bill to split equally. " + AMOUNT_HELP)
    currency = currency_field()
    include_me = serializers.BooleanField(default=True, help_text="Whether you pay a share yourself.")
    message = serializers.CharField(required=False, max_length=140, default="", allow_blank=True)

    def validate(self, attrs):
        attrs["total"] = money_from_input(attrs["total"], attrs["currency"], field="total")  # validated: Money
        return attrs


class PaymentRequestSerializer(serializers.ModelSerializer):
    amount = MoneyField("amount")
    requester = UserRefSerializer()
    payer = UserRefSerializer()
    transfer_id = serializers.IntegerField(allow_null=True)
    transaction_id = serializers.IntegerField(source="transfer.ledger_transaction_id", allow_null=True,
                                              read_only=True, default=None,
                                              help_text="The accepting transfer's ledger transaction.")

    class Meta:
        model = PaymentRequest
        fields = [
            "id",
            "requester",
            "payer",
            "amount",
            "message",
            "group",
            "status",
            "transfer_id",
            "transaction_id",
            "created_at",
            "answered_at",
        ]


class PaymentRequestSplitSerializer(serializers.Serializer):
    """What `POST wallet/payment-requests` creates: one bill split, a request to each payer."""

    group = serializers.CharField(help_text="The split's id; every request of it carries the same `group`.")
    requests = PaymentRequestSerializer(many=True, help_text="One request per payer, in the order asked.")


# --- Coupons -------------------------------------------------------------------------------------------


class CampaignSerializer(serializers.ModelSerializer):
    fixed_off = MoneyField("fixed_off")
    max_discount = serializers.SerializerMethodField()
    min_spend = MoneyField("min_spend")
    funded_by_merchant = MerchantRefSerializer(allow_null=True)
    merchant_ids = serializers.SerializerMethodField()
    city_ids = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "description",
            "currency",
            "discount_kind",
            "percent_off",
            "fixed_off",
            "max_discount",
            "min_spend",
            "per_user_limit",
            "starts_at",
            "ends_at",
            "funded_by_merchant",
            "verticals",
            "merchant_ids",
            "city_ids",
            "new_users_only",
            "travellers_only",
        ]

    @extend_schema_field(MoneySerializer(allow_null=True))
    def get_max_discount(self, obj):
        return None if obj.max_discount is None else MoneySerializer.of(obj.max_discount, obj.currency)

    def get_merchant_ids(self, obj) -> list[int]:
        return [m.pk for m in obj.merchants.all()]

    def get_city_ids(self, obj) -> list[int]:
        return [c.pk for c in obj.cities.all()]


class CouponSerializer(serializers.ModelSerializer):
    campaign = CampaignSerializer()
    status = serializers.SerializerMethodField(help_text="As of now: an unused coupon reads `expired` once its "
                                                         "campaign has ended or was withdrawn")

    class Meta:
        model = Coupon
        fields = ["id", "status", "campaign", "collected_at", "redeemed_at"]

    @extend_schema_field(serializers.ChoiceField(choices=CouponReadStatus.choices))
    def get_status(self, coupon: Coupon) -> str:
        return coupon_status(coupon)


class CouponQuerySerializer(serializers.Serializer):
    merchant = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only coupons usable at this merchant now."
    )
    status = serializers.ChoiceField(choices=CouponReadStatus.choices, required=False,
                                     help_text="As of now: `expired` once the campaign has ended or was withdrawn")


class CampaignQuerySerializer(serializers.Serializer):
    merchant = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)


# --- VAT -----------------------------------------------------------------------------------------------


class VatClaimCreateSerializer(serializers.Serializer):
    payment_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=50
    )


class VatClaimItemSerializer(serializers.Serializer):
    payment_id = serializers.IntegerField()
    vat = MoneySerializer(help_text="VAT in the purchase currency.")
    refund = MoneySerializer(help_text="Converted to your home currency, before the service fee.")


class VatClaimSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(source="ledger_transaction_id", allow_null=True, read_only=True,
                                              help_text="The payout's ledger transaction (once paid).")
    items = serializers.SerializerMethodField()
    refund_gross = MoneyField("refund_gross", "refund_currency")
    service_fee = MoneyField("service_fee", "refund_currency")
    refund_net = MoneyField("refund_net", "refund_currency")

    class Meta:
        model = VatClaim
        fields = [
            "id",
            "status",
            "items",
            "refund_gross",
            "service_fee",
            "refund_net",
            "transaction_id",
            "operator_note",
            "created_at",
            "validated_at",
            "paid_at",
        ]

    @extend_schema_field(VatClaimItemSerializer(many=True))
    def get_items(self, obj):
        return [
            {
                "payment_id": item.payment_id,
                "vat": MoneySerializer.of(item.vat_amount, item.currency),
                "refund": MoneySerializer.of(item.home_amount, obj.refund_currency),
            }
            for item in obj.items.all()
        ]


class VatClaimDecisionSerializer(serializers.Serializer):
    approved = serializers.BooleanField()
    note = serializers.CharField(required=False, max_length=255, default="", allow_blank=True)


PaginatedBalanceList = paginated(BalanceSerializer, "PaginatedBalanceList")
PaginatedCampaignList = paginated(CampaignSerializer, "PaginatedCampaignList")
PaginatedCouponList = paginated(CouponSerializer, "PaginatedCouponList")
PaginatedSettlementDayList = paginated(SettlementDaySerializer, "PaginatedSettlementDayList")
