"""Thin wallet views: validate with a serializer, call one service or selector, serialize the result.
Object lookups are scoped to the requesting user (or the merchants they staff): others' ids are 404."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from merchants.models import Merchant
from payments import selectors, services
from payments import serializers as s
from payments.exceptions import (
    CouponNotFound,
    FundingSourceNotFound,
    InvalidAmount,
    MerchantNotFound,
    NotMerchantStaff,
    NotOperator,
    PaymentNotFound,
    QrAmountMismatch,
    RecipientNotFound,
    StaffRoleTooLow,
    VatClaimNotFound,
)
from payments.models import (
    FundingSource,
    LedgerEntry,
    Payment,
    PaymentRequest,
    PaymentRequestStatus,
    PaymentStatus,
    Refund,
    TopUp,
    TransactionKind,
    Transfer,
    VatClaim,
    VatClaimStatus,
    Withdrawal,
)
from superapp.accounts.models import User
from superapp.api import (
    CURSOR_PAGE_PARAMETERS,
    IDEMPOTENCY_KEY_PARAMETER,
    DefaultCursorPagination,
    bounded_list,
    cursor_page,
    single_page,
)
from superapp.exceptions import NotFound, ValidationFailed
from superapp.idempotency import HEADER, idempotent, idempotent_outside_transaction
from superapp.money import Money, MoneyError

TAG = "wallet"
MERCHANT_TAG = "wallet: merchant"


def to_money(value, currency: str, field: str = "amount") -> Money:
    try:
        return Money.from_decimal(value, currency)
    except MoneyError as exc:
        raise InvalidAmount(str(exc), code=exc.code, details={field: [str(exc)]}) from None


def positive_money(value, currency: str, field: str = "amount") -> Money:
    result = to_money(value, currency, field)
    if result.amount <= 0:
        raise InvalidAmount(f"`{field}` must be greater than zero.", details={field: ["must be > 0"]})
    return result


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _own_funding_source(user, pk: int):
    source = selectors.funding_sources(user=user).filter(pk=pk).first()
    if source is None:
        raise FundingSourceNotFound()
    return source


# --- Balances and statement ------------------------------------------------------------------------

class BalancesApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS, responses={200: s.PaginatedBalanceList}, tags=[TAG],
                   summary="My wallet balances, by currency")
    def get(self, request):
        return cursor_page(self, request, selectors.wallet_balances(user=request.user), s.BalanceSerializer,
                           ordering="currency")


class StatementFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    date_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")
    kind = django_filters.ChoiceFilter(field_name="transaction__kind", choices=TransactionKind.choices)
    merchant = django_filters.NumberFilter(field_name="transaction__merchant_id", min_value=1, max_value=s.MAX_ID)
    currency = django_filters.CharFilter(field_name="currency", max_length=3)

    class Meta:
        model = LedgerEntry
        fields = ["date_from", "date_to", "kind", "merchant", "currency"]


class StatementApi(generics.ListAPIView):
    serializer_class = s.StatementEntrySerializer
    pagination_class = DefaultCursorPagination
    filterset_class = StatementFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerEntry.objects.none()
        return selectors.statement_entries(user=self.request.user)

    @extend_schema(tags=[TAG], summary="My statement: every wallet movement, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- Funding sources, top-up, withdraw ----------------------------------------------------------------

class FundingSourcesApi(generics.ListAPIView):
    serializer_class = s.FundingSourceSerializer
    pagination_class = DefaultCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FundingSource.objects.none()
        return selectors.funding_sources(user=self.request.user)

    @extend_schema(tags=[TAG], summary="My linked cards and bank accounts")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.FundingSourceCreateSerializer, responses={201: s.FundingSourceSerializer}, tags=[TAG],
                   summary="Link a card or bank account (simulated provider)")
    def post(self, request):
        data = _validated(s.FundingSourceCreateSerializer, request.data)
        source = services.funding_source_add(user=request.user, **data)
        return Response(s.FundingSourceSerializer(source).data, status=status.HTTP_201_CREATED)


class FundingSourceDetailApi(APIView):
    @extend_schema(responses={204: None}, tags=[TAG], summary="Unlink a card or bank account")
    def delete(self, request, funding_source_id: int):
        services.funding_source_remove(funding_source=_own_funding_source(request.user, funding_source_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TopUpApi(generics.ListAPIView):
    serializer_class = s.TopUpSerializer
    pagination_class = DefaultCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TopUp.objects.none()
        return selectors.top_ups_for(user=self.request.user)

    @extend_schema(tags=[TAG], summary="My top-ups (pending, succeeded, failed), newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.FundsMoveRequestSerializer, responses={201: s.TopUpSerializer}, tags=[TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Top up the wallet from a funding source")
    @idempotent_outside_transaction
    def post(self, request):
        data = _validated(s.FundsMoveRequestSerializer, request.data)
        amount = positive_money(data["amount"], data["currency"])
        top_up = services.wallet_top_up(user=request.user, amount=amount, request_key=request.headers[HEADER],
                                        funding_source=_own_funding_source(request.user, data["funding_source_id"]))
        return Response(s.TopUpSerializer(top_up).data, status=status.HTTP_201_CREATED)


class WithdrawApi(generics.ListAPIView):
    serializer_class = s.WithdrawalSerializer
    pagination_class = DefaultCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Withdrawal.objects.none()
        return selectors.withdrawals_for(user=self.request.user)

    @extend_schema(tags=[TAG], summary="My withdrawals (pending, succeeded, failed), newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.FundsMoveRequestSerializer, responses={201: s.WithdrawalSerializer}, tags=[TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Withdraw to a funding source")
    @idempotent_outside_transaction
    def post(self, request):
        data = _validated(s.FundsMoveRequestSerializer, request.data)
        amount = positive_money(data["amount"], data["currency"])
        source = _own_funding_source(request.user, data["funding_source_id"])
        withdrawal = services.wallet_withdraw(user=request.user, amount=amount, funding_source=source,
                                              request_key=request.headers[HEADER])
        return Response(s.WithdrawalSerializer(withdrawal).data, status=status.HTTP_201_CREATED)


# --- Payments -------------------------------------------------------------------------------------------

class PaymentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PaymentStatus.choices)
    merchant = django_filters.NumberFilter(field_name="merchant_id", min_value=1, max_value=s.MAX_ID)
    date_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    date_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Payment
        fields = ["status", "merchant", "date_from", "date_to"]


class PaymentsApi(generics.ListAPIView):
    serializer_class = s.PaymentSerializer
    pagination_class = DefaultCursorPagination
    filterset_class = PaymentFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payment.objects.none()
        return selectors.payments_for_payer(user=self.request.user)

    @extend_schema(tags=[TAG], summary="My payments")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.PaymentCreateSerializer, responses={201: s.PaymentSerializer}, tags=[TAG],
        parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Pay a merchant (by id or scanned QR payload)",
        description="201 with status `succeeded`, or `pending` when the merchant confirms payments. "
                    "Errors: insufficient_funds, merchant_inactive, merchant_not_accepting_wallet, fx_rate_missing, "
                    "qr_invalid, qr_amount_mismatch, too_many_decimals, invalid_amount, currency_mismatch, "
                    "coupon_* and tax_free_unavailable.",
    )
    @idempotent
    def post(self, request):
        data = _validated(s.PaymentCreateSerializer, request.data)
        fixed_amount = None
        if "qr_payload" in data:
            content = services.merchant_qr_decode(payload=data["qr_payload"])
            merchant_id, fixed_amount = content.merchant_id, content.amount
        else:
            merchant_id = data["merchant_id"]
        merchant = services.merchant_get_payable(merchant_id=merchant_id)
        currency = data.get("currency") or merchant.currency
        if "amount" in data:
            amount = positive_money(data["amount"], currency)
            if fixed_amount is not None and amount != fixed_amount:
                raise QrAmountMismatch(details={"amount": [f"The QR code says {fixed_amount}."]})
        elif fixed_amount is not None:
            amount = fixed_amount
        else:
            raise ValidationFailed("`amount` is required.", details={"amount": ["This field is required."]})
        tip = positive_money(data["tip"], currency, "tip") if "tip" in data else None  # "0"/"-0": omit it instead
        payment = services.payment_create(
            payer=request.user, merchant=merchant, amount=amount, tip=tip, coupon_id=data.get("coupon_id"),
            tax_free=data["tax_free"], reference=data["reference"], description=data["description"],
            pay_currency=data.get("pay_currency"),
        )
        return Response(s.PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


class PaymentRefundsApi(generics.ListAPIView):
    serializer_class = s.RefundSerializer
    pagination_class = DefaultCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Refund.objects.none()
        if not selectors.payments_for_payer(user=self.request.user).filter(pk=self.kwargs["payment_id"]).exists():
            raise PaymentNotFound()
        return Refund.objects.filter(payment_id=self.kwargs["payment_id"])

    @extend_schema(tags=[TAG], summary="The refunds of one of my payments, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class PaymentDetailApi(APIView):
    @extend_schema(responses={200: s.PaymentSerializer}, tags=[TAG], summary="A payment receipt")
    def get(self, request, payment_id: int):
        payment = selectors.payments_for_payer(user=request.user).filter(pk=payment_id).first()
        if payment is None:
            raise PaymentNotFound()
        return Response(s.PaymentSerializer(payment).data)


# --- Merchant side ----------------------------------------------------------------------------------------

def _staffed_merchant(user, merchant_id: int) -> tuple[Merchant, str]:
    role = selectors.staff_role(user=user, merchant_id=merchant_id)
    if role is None:
        raise NotMerchantStaff()
    return Merchant.objects.get(pk=merchant_id), role


def _merchant_payment(user, merchant_id: int, payment_id: int) -> tuple[Payment, str]:
    _, role = _staffed_merchant(user, merchant_id)
    payment = selectors.payments_for_merchant_staff(user=user, merchant_id=merchant_id).filter(pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound()
    return payment, role


class MerchantPaymentsApi(generics.ListAPIView):
    serializer_class = s.MerchantPaymentSerializer
    pagination_class = DefaultCursorPagination
    filterset_class = PaymentFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payment.objects.none()
        _staffed_merchant(self.request.user, self.kwargs["merchant_id"])
        return selectors.payments_for_merchant_staff(user=self.request.user, merchant_id=self.kwargs["merchant_id"])

    @extend_schema(tags=[MERCHANT_TAG], summary="Payments received by a merchant I work for (any staff role)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class MerchantPaymentDetailApi(APIView):
    @extend_schema(responses={200: s.MerchantPaymentSerializer}, tags=[MERCHANT_TAG], summary="One received payment")
    def get(self, request, merchant_id: int, payment_id: int):
        payment, _ = _merchant_payment(request.user, merchant_id, payment_id)
        return Response(s.MerchantPaymentSerializer(payment).data)


class MerchantPaymentConfirmApi(APIView):
    @extend_schema(request=None, responses={200: s.MerchantPaymentSerializer}, tags=[MERCHANT_TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Confirm a pending payment (any staff role)")
    @idempotent
    def post(self, request, merchant_id: int, payment_id: int):
        payment, _ = _merchant_payment(request.user, merchant_id, payment_id)
        payment = services.payment_confirm(payment=payment)
        return Response(s.MerchantPaymentSerializer(payment).data)


class MerchantPaymentRejectApi(APIView):
    @extend_schema(request=None, responses={200: s.MerchantPaymentSerializer}, tags=[MERCHANT_TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Reject a pending payment: the money goes back to the payer (any staff role)")
    @idempotent
    def post(self, request, merchant_id: int, payment_id: int):
        payment, _ = _merchant_payment(request.user, merchant_id, payment_id)
        payment = services.payment_fail(payment=payment, reason="rejected_by_merchant")
        return Response(s.MerchantPaymentSerializer(payment).data)


class MerchantRefundApi(APIView):
    @extend_schema(request=s.RefundCreateSerializer, responses={201: s.RefundSerializer}, tags=[MERCHANT_TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Refund a payment, fully or partly (owners and managers)",
                   description="Several partial refunds never exceed what the payer paid "
                               "(409 refund_exceeds_remaining). Cashiers get 403 staff_role_insufficient.")
    @idempotent
    def post(self, request, merchant_id: int, payment_id: int):
        payment, role = _merchant_payment(request.user, merchant_id, payment_id)
        if role not in selectors.REFUND_ROLES:
            raise StaffRoleTooLow()
        data = _validated(s.RefundCreateSerializer, request.data)
        amount = positive_money(data["amount"], payment.currency) if data.get("amount") is not None else None
        refund = services.payment_refund(payment=payment, amount=amount, reason=data["reason"], actor=request.user)
        return Response(s.RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class MerchantSettlementsApi(APIView):
    @extend_schema(parameters=[s.SettlementQuerySerializer], responses={200: s.PaginatedSettlementDayList},
                   tags=[MERCHANT_TAG], summary="Settlement totals per day (default: the last 30 days, max 366)",
                   extensions=bounded_list("One row per day and currency of a date range of at most 366 days."))
    def get(self, request, merchant_id: int):
        _staffed_merchant(request.user, merchant_id)
        query = _validated(s.SettlementQuerySerializer, request.query_params)
        date_to = query.get("date_to") or timezone.now().date()
        date_from = query.get("date_from") or date_to - timedelta(days=29)
        if date_from > date_to or (date_to - date_from).days > 366:
            raise ValidationFailed("date_from must be before date_to and the range at most 366 days.",
                                   details={"date_from": ["invalid range"]})
        rows = selectors.settlement_by_day(merchant_id=merchant_id, date_from=date_from, date_to=date_to)
        body = [{**row, **{k: s.MoneySerializer.of(row[k], row["currency"])
                           for k in ("gross", "discounts", "fees", "refunds", "net")}} for row in rows]
        return single_page(s.SettlementDaySerializer(body, many=True).data)


class MerchantBalanceApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS, responses={200: s.PaginatedBalanceList}, tags=[MERCHANT_TAG],
                   summary="The balance of a merchant I work for, per currency (any staff role)")
    def get(self, request, merchant_id: int):
        _staffed_merchant(request.user, merchant_id)
        return cursor_page(self, request, selectors.merchant_balances(merchant_id=merchant_id), s.BalanceSerializer,
                           ordering="currency")


class MerchantQrApi(APIView):
    @extend_schema(parameters=[s.QrQuerySerializer], responses={200: s.QrSerializer}, tags=[MERCHANT_TAG],
                   summary="The merchant's signed QR payload (optionally fixing an amount)")
    def get(self, request, merchant_id: int):
        merchant, _ = _staffed_merchant(request.user, merchant_id)
        query = _validated(s.QrQuerySerializer, request.query_params)
        amount = positive_money(query["amount"], merchant.currency) if query.get("amount") else None
        payload = services.merchant_qr_payload(merchant=merchant, amount=amount)
        return Response(s.QrSerializer({
            "qr_payload": payload, "payload": payload, "merchant": merchant,
            "amount": s.MoneySerializer.of(amount.amount, amount.currency) if amount else None,
        }).data)


# --- Transfers and payment requests ----------------------------------------------------------------------

class TransferFilter(django_filters.FilterSet):
    direction = django_filters.ChoiceFilter(choices=[("sent", "I sent"), ("received", "I received")],
                                            method="filter_direction")

    class Meta:
        model = Transfer
        fields = ["direction"]

    def filter_direction(self, queryset, name, value):
        user = self.request.user
        return queryset.filter(sender=user) if value == "sent" else queryset.filter(recipient=user)


class TransferApi(generics.ListAPIView):
    serializer_class = s.TransferSerializer
    pagination_class = DefaultCursorPagination
    filterset_class = TransferFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Transfer.objects.none()
        return selectors.transfers_for(user=self.request.user)

    @extend_schema(tags=[TAG], summary="Transfers I sent or received (with the other person), newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.TransferCreateSerializer, responses={201: s.TransferSerializer}, tags=[TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Send money to another user")
    @idempotent
    def post(self, request):
        data = _validated(s.TransferCreateSerializer, request.data)
        lookup = ({"pk": data["recipient_id"]} if "recipient_id" in data
                  else {"username": data["recipient_username"]})
        recipient = User.objects.filter(is_active=True, **lookup).first()
        if recipient is None:
            raise RecipientNotFound()
        transfer = services.transfer_create(sender=request.user, recipient=recipient, message=data["message"],
                                            amount=positive_money(data["amount"], data["currency"]))
        return Response(s.TransferSerializer(transfer, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class PaymentRequestFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PaymentRequestStatus.choices)
    role = django_filters.ChoiceFilter(choices=[("requester", "I asked"), ("payer", "I am asked")],
                                       method="filter_role")

    class Meta:
        model = PaymentRequest
        fields = ["status", "role"]

    def filter_role(self, queryset, name, value):
        user = self.request.user
        return queryset.filter(requester=user) if value == "requester" else queryset.filter(payer=user)


class PaymentRequestsApi(generics.ListAPIView):
    serializer_class = s.PaymentRequestSerializer
    pagination_class = DefaultCursorPagination
    filterset_class = PaymentRequestFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PaymentRequest.objects.none()
        return selectors.payment_requests_for(user=self.request.user)

    @extend_schema(tags=[TAG], summary="Payment requests I sent or received")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.PaymentRequestCreateSerializer, responses={201: s.PaymentRequestSplitSerializer},
                   tags=[TAG], summary="Split a bill: ask friends for their equal shares")
    def post(self, request):
        data = _validated(s.PaymentRequestCreateSerializer, request.data)
        created = services.payment_requests_create(
            requester=request.user, payer_ids=data["payer_ids"], total=positive_money(data["total"], data["currency"],
                                                                                       "total"),
            message=data["message"], include_requester=data["include_me"])
        return Response(s.PaymentRequestSplitSerializer({"group": created[0].group, "requests": created}).data,
                        status=status.HTTP_201_CREATED)


def _request_as(user, pk: int, role: str) -> PaymentRequest:
    qs = PaymentRequest.objects.filter(pk=pk, **{role: user}).select_related("requester", "payer")
    found = qs.first()
    if found is None:
        raise NotFound("Unknown payment request.", code="payment_request_not_found")
    return found


class PaymentRequestAcceptApi(APIView):
    @extend_schema(request=None, responses={200: s.PaymentRequestSerializer}, tags=[TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Accept (pay) a payment request addressed to me")
    @idempotent
    def post(self, request, payment_request_id: int):
        answered = services.payment_request_accept(
            payment_request=_request_as(request.user, payment_request_id, "payer"), user=request.user)
        return Response(s.PaymentRequestSerializer(answered).data)


class PaymentRequestDeclineApi(APIView):
    @extend_schema(request=None, responses={200: s.PaymentRequestSerializer}, tags=[TAG],
                   summary="Decline a payment request addressed to me")
    def post(self, request, payment_request_id: int):
        answered = services.payment_request_answer(
            payment_request=_request_as(request.user, payment_request_id, "payer"), user=request.user,
            status=PaymentRequestStatus.DECLINED)
        return Response(s.PaymentRequestSerializer(answered).data)


class PaymentRequestCancelApi(APIView):
    @extend_schema(request=None, responses={200: s.PaymentRequestSerializer}, tags=[TAG],
                   summary="Cancel a payment request I sent")
    def post(self, request, payment_request_id: int):
        answered = services.payment_request_answer(
            payment_request=_request_as(request.user, payment_request_id, "requester"), user=request.user,
            status=PaymentRequestStatus.CANCELLED)
        return Response(s.PaymentRequestSerializer(answered).data)


# --- Coupons ---------------------------------------------------------------------------------------------

def _merchant_or_404(pk: int | None) -> Merchant | None:
    if pk is None:
        return None
    merchant = Merchant.objects.filter(pk=pk).first()
    if merchant is None:
        raise MerchantNotFound()
    return merchant


class CampaignsApi(APIView):
    @extend_schema(parameters=[s.CampaignQuerySerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedCampaignList}, tags=[TAG],
                   summary="Running campaigns I can collect coupons from (optionally usable at a merchant)")
    def get(self, request):
        query = _validated(s.CampaignQuerySerializer, request.query_params)
        campaigns = selectors.campaigns_collectable(user=request.user, merchant=_merchant_or_404(query.get("merchant")))
        # The rules are checked in Python; the page is cut from the same rows again by id.
        queryset = selectors.campaigns_running().filter(pk__in=[c.pk for c in campaigns])
        return cursor_page(self, request, queryset, s.CampaignSerializer)


class CouponCollectApi(APIView):
    @extend_schema(request=None, responses={201: s.CouponSerializer}, tags=[TAG],
                   summary="Collect a coupon from a campaign")
    def post(self, request, campaign_id: int):
        coupon = services.coupon_collect(user=request.user, campaign_id=campaign_id)
        coupon = selectors.coupons_for_user(user=request.user).get(pk=coupon.pk)
        return Response(s.CouponSerializer(coupon).data, status=status.HTTP_201_CREATED)


class CouponsApi(APIView):
    @extend_schema(parameters=[s.CouponQuerySerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedCouponList}, tags=[TAG],
                   summary="My coupons; with ?merchant= only those that apply there now")
    def get(self, request):
        query = _validated(s.CouponQuerySerializer, request.query_params)
        merchant = _merchant_or_404(query.get("merchant"))
        coupons = selectors.coupons_for_user(user=request.user)
        if merchant is not None:
            # The rules are checked in Python; the page is cut from the same rows again by id.
            applicable = selectors.coupons_applicable(user=request.user, merchant=merchant)
            coupons = coupons.filter(pk__in=[c.pk for c in applicable])
        elif query.get("status"):
            coupons = selectors.coupons_with_status(coupons, query["status"])
        return cursor_page(self, request, coupons, s.CouponSerializer)


class CouponDetailApi(APIView):
    @extend_schema(responses={200: s.CouponSerializer}, tags=[TAG], summary="One of my coupons")
    def get(self, request, coupon_id: int):
        coupon = selectors.coupons_for_user(user=request.user).filter(pk=coupon_id).first()
        if coupon is None:
            raise CouponNotFound()
        return Response(s.CouponSerializer(coupon).data)


# --- Tax-free VAT claims ---------------------------------------------------------------------------------

class VatClaimsApi(generics.ListAPIView):
    serializer_class = s.VatClaimSerializer
    pagination_class = DefaultCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VatClaim.objects.none()
        return selectors.vat_claims_for(user=self.request.user)

    @extend_schema(tags=[TAG], summary="My tax-free VAT refund claims")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.VatClaimCreateSerializer, responses={201: s.VatClaimSerializer}, tags=[TAG],
                   summary="Claim the VAT of tax-free purchases",
                   description="Own succeeded tax-free payments, unrefunded, within the claim window, never claimed "
                               "before and at least the minimum purchase per merchant per day "
                               "(vat_claim_invalid / vat_minimum_not_met otherwise).")
    def post(self, request):
        data = _validated(s.VatClaimCreateSerializer, request.data)
        claim = services.vat_claim_create(user=request.user, payment_ids=data["payment_ids"])
        return Response(s.VatClaimSerializer(selectors.vat_claims_for(user=request.user).get(pk=claim.pk)).data,
                        status=status.HTTP_201_CREATED)


class VatClaimDetailApi(APIView):
    @extend_schema(responses={200: s.VatClaimSerializer}, tags=[TAG], summary="One of my VAT claims")
    def get(self, request, vat_claim_id: int):
        claim = selectors.vat_claims_for(user=request.user).filter(pk=vat_claim_id).first()
        if claim is None:
            raise VatClaimNotFound()
        return Response(s.VatClaimSerializer(claim).data)


def _require_operator(user) -> None:
    if not (user.is_staff or user.has_perm("payments.validate_vatclaim")):
        raise NotOperator()


class OperatorVatClaimsApi(generics.ListAPIView):
    serializer_class = s.VatClaimSerializer
    pagination_class = DefaultCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VatClaim.objects.none()
        _require_operator(self.request.user)
        return VatClaim.objects.filter(status=VatClaimStatus.SUBMITTED).prefetch_related("items")

    @extend_schema(tags=["customs"], summary="Customs operators: claims awaiting validation")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class OperatorVatClaimDecisionApi(APIView):
    @extend_schema(request=s.VatClaimDecisionSerializer, responses={200: s.VatClaimSerializer}, tags=["customs"],
                   summary="Customs operators: approve (then it is paid) or reject a claim")
    def post(self, request, vat_claim_id: int):
        _require_operator(request.user)
        data = _validated(s.VatClaimDecisionSerializer, request.data)
        claim = VatClaim.objects.filter(pk=vat_claim_id).first()
        if claim is None:
            raise VatClaimNotFound()
        claim = services.vat_claim_validate(claim=claim, operator=request.user, approved=data["approved"],
                                            note=data["note"])
        return Response(s.VatClaimSerializer(VatClaim.objects.prefetch_related("items").get(pk=claim.pk)).data)

