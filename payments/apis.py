"""Thin wallet views: validate with a serializer, call one service or selector, serialize the result.
Object lookups are scoped to the requesting user (or the merchants they staff): others' ids are 404."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import selectors, services
from payments import serializers as s
from payments.exceptions import (
    StaffRoleTooLow,
)
from payments.models import (
    LedgerEntry,
    Payment,
    PaymentRequest,
    PaymentRequestStatus,
    PaymentStatus,
    TransactionKind,
    Transfer,
)
from superapp.api import (
    CURSOR_PAGE_PARAMETERS,
    IDEMPOTENCY_KEY_PARAMETER,
    DefaultCursorPagination,
    bounded_list,
    cursor_page,
    single_page,
    validated,
)
from superapp.idempotency import HEADER, idempotent, idempotent_outside_transaction
from superapp.plain_input import validated_plain

TAG = "wallet"
MERCHANT_TAG = "wallet: merchant"


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


class StatementApi(APIView):
    pagination_class = DefaultCursorPagination
    filterset_class = StatementFilter

    @extend_schema(responses={200: s.StatementEntrySerializer(many=True)},
                   tags=[TAG], summary="My statement: every wallet movement, newest first")
    def get(self, request):
        return cursor_page(self, request, selectors.statement_entries(user=request.user),
                           s.StatementEntrySerializer, filterset_class=StatementFilter)


# --- Funding sources, top-up, withdraw ----------------------------------------------------------------

class FundingSourcesApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.FundingSourceSerializer(many=True)},
                   tags=[TAG], summary="My linked cards and bank accounts")
    def get(self, request):
        return cursor_page(self, request, selectors.funding_sources(user=request.user), s.FundingSourceSerializer)

    @extend_schema(request=s.FundingSourceCreateSerializer, responses={201: s.FundingSourceSerializer}, tags=[TAG],
                   summary="Link a card or bank account (simulated provider)")
    def post(self, request):
        data = validated(s.FundingSourceCreateSerializer, request.data)
        source = services.funding_source_add(user=request.user, **data)
        return Response(s.FundingSourceSerializer(source).data, status=status.HTTP_201_CREATED)


class FundingSourceDetailApi(APIView):
    @extend_schema(responses={204: None}, tags=[TAG], summary="Unlink a card or bank account")
    def delete(self, request, funding_source_id: int):
        services.funding_source_remove(
            funding_source=selectors.funding_source_of(user=request.user, funding_source_id=funding_source_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TopUpApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.TopUpSerializer(many=True)},
                   tags=[TAG], summary="My top-ups (pending, succeeded, failed), newest first")
    def get(self, request):
        return cursor_page(self, request, selectors.top_ups_for(user=request.user), s.TopUpSerializer)

    @extend_schema(request=s.FundsMoveRequestSerializer, responses={201: s.TopUpSerializer}, tags=[TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Top up the wallet from a funding source")
    @idempotent_outside_transaction
    def post(self, request):
        data = validated(s.FundsMoveRequestSerializer, request.data)
        source = selectors.funding_source_of(user=request.user, funding_source_id=data["funding_source_id"])
        top_up = services.wallet_top_up(user=request.user, amount=data["amount"], funding_source=source,
                                        request_key=request.headers[HEADER])
        return Response(s.TopUpSerializer(top_up).data, status=status.HTTP_201_CREATED)


class WithdrawApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.WithdrawalSerializer(many=True)},
                   tags=[TAG], summary="My withdrawals (pending, succeeded, failed), newest first")
    def get(self, request):
        return cursor_page(self, request, selectors.withdrawals_for(user=request.user), s.WithdrawalSerializer)

    @extend_schema(request=s.FundsMoveRequestSerializer, responses={201: s.WithdrawalSerializer}, tags=[TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Withdraw to a funding source")
    @idempotent_outside_transaction
    def post(self, request):
        data = validated(s.FundsMoveRequestSerializer, request.data)
        source = selectors.funding_source_of(user=request.user, funding_source_id=data["funding_source_id"])
        withdrawal = services.wallet_withdraw(user=request.user, amount=data["amount"], funding_source=source,
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


class PaymentsApi(APIView):
    pagination_class = DefaultCursorPagination
    filterset_class = PaymentFilter

    @extend_schema(responses={200: s.PaymentSerializer(many=True)}, tags=[TAG], summary="My payments")
    def get(self, request):
        return cursor_page(self, request, selectors.payments_for_payer(user=request.user),
                           s.PaymentSerializer, filterset_class=PaymentFilter)

    @extend_schema(
        request=s.PaymentCreateSerializer, responses={201: s.PaymentSerializer}, tags=[TAG],
        parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Pay a merchant (by id or scanned QR payload)",
        description="201 with status `succeeded`, or `pending` when the merchant confirms payments. "
                    "Errors: insufficient_funds, merchant_inactive, merchant_not_accepting_wallet, fx_rate_missing, "
                    "qr_invalid, qr_amount_mismatch, too_many_decimals, invalid_amount, currency_mismatch, "
                    "coupon_* and tax_free_unavailable.",
    )
    # Claimed last (superapp.idempotency): everything a payment does is in its transaction, and duplicates queue on
    # the payer's account lock, so the key row goes in once with the receipt (one statement less a payment).
    @idempotent(claim_last=True)
    def post(self, request):
        data = validated_plain(s.PaymentCreateSerializer, request.data)
        payment = services.payment_pay(
            payer=request.user, merchant_id=data.get("merchant_id"), qr_payload=data.get("qr_payload"),
            amount=data.get("amount"), currency=data.get("currency"), tip=data.get("tip"),
            coupon_id=data.get("coupon_id"), tax_free=data["tax_free"], reference=data["reference"],
            description=data["description"], pay_currency=data.get("pay_currency"),
        )
        return Response(s.payment_receipt(payment), status=status.HTTP_201_CREATED)


class PaymentRefundsApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.RefundSerializer(many=True)},
                   tags=[TAG], summary="The refunds of one of my payments, newest first")
    def get(self, request, payment_id: int):
        return cursor_page(self, request, selectors.refunds_of_payment(user=request.user, payment_id=payment_id),
                           s.RefundSerializer)


class PaymentDetailApi(APIView):
    @extend_schema(responses={200: s.PaymentSerializer}, tags=[TAG], summary="A payment receipt")
    def get(self, request, payment_id: int):
        return Response(s.payment_receipt(selectors.payment_of_payer(user=request.user, payment_id=payment_id)))


# --- Merchant side ----------------------------------------------------------------------------------------

class MerchantPaymentsApi(APIView):
    pagination_class = DefaultCursorPagination
    filterset_class = PaymentFilter

    @extend_schema(responses={200: s.MerchantPaymentSerializer(many=True)},
                   tags=[MERCHANT_TAG], summary="Payments received by a merchant I work for (any staff role)")
    def get(self, request, merchant_id: int):
        selectors.merchant_staffed(user=request.user, merchant_id=merchant_id)
        payments = selectors.payments_for_merchant_staff(user=request.user, merchant_id=merchant_id)
        return cursor_page(self, request, payments, s.MerchantPaymentSerializer, filterset_class=PaymentFilter)


class MerchantPaymentDetailApi(APIView):
    @extend_schema(responses={200: s.MerchantPaymentSerializer}, tags=[MERCHANT_TAG], summary="One received payment")
    def get(self, request, merchant_id: int, payment_id: int):
        payment, _ = selectors.merchant_payment_for_staff(user=request.user, merchant_id=merchant_id,
                                                          payment_id=payment_id)
        return Response(s.MerchantPaymentSerializer(payment).data)


class MerchantPaymentConfirmApi(APIView):
    @extend_schema(request=None, responses={200: s.MerchantPaymentSerializer}, tags=[MERCHANT_TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Confirm a pending payment (any staff role)")
    @idempotent
    def post(self, request, merchant_id: int, payment_id: int):
        payment, _ = selectors.merchant_payment_for_staff(user=request.user, merchant_id=merchant_id,
                                                          payment_id=payment_id)
        payment = services.payment_confirm(payment=payment)
        return Response(s.MerchantPaymentSerializer(payment).data)


class MerchantPaymentRejectApi(APIView):
    @extend_schema(request=None, responses={200: s.MerchantPaymentSerializer}, tags=[MERCHANT_TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Reject a pending payment: the money goes back to the payer (any staff role)")
    @idempotent
    def post(self, request, merchant_id: int, payment_id: int):
        payment, _ = selectors.merchant_payment_for_staff(user=request.user, merchant_id=merchant_id,
                                                          payment_id=payment_id)
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
        payment, role = selectors.merchant_payment_for_staff(user=request.user, merchant_id=merchant_id,
                                                             payment_id=payment_id)
        if role not in selectors.REFUND_ROLES:
            raise StaffRoleTooLow()
        data = validated(s.RefundCreateSerializer, request.data, context={"currency": payment.currency})
        refund = services.payment_refund(payment=payment, amount=data.get("amount"), reason=data["reason"],
                                         actor=request.user)
        return Response(s.RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class MerchantSettlementsApi(APIView):
    @extend_schema(parameters=[s.SettlementQuerySerializer], responses={200: s.PaginatedSettlementDayList},
                   tags=[MERCHANT_TAG], summary="Settlement totals per day (default: the last 30 days, max 366)",
                   extensions=bounded_list("One row per day and currency of a date range of at most 366 days."))
    def get(self, request, merchant_id: int):
        selectors.merchant_staffed(user=request.user, merchant_id=merchant_id)
        query = validated(s.SettlementQuerySerializer, request.query_params)
        rows = selectors.settlement_by_day(merchant_id=merchant_id, **query)
        body = [{**row, **{k: s.MoneySerializer.of(row[k], row["currency"])
                           for k in ("gross", "discounts", "fees", "refunds", "net")}} for row in rows]
        return single_page(s.SettlementDaySerializer(body, many=True).data)


class MerchantBalanceApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS, responses={200: s.PaginatedBalanceList}, tags=[MERCHANT_TAG],
                   summary="The balance of a merchant I work for, per currency (any staff role)")
    def get(self, request, merchant_id: int):
        selectors.merchant_staffed(user=request.user, merchant_id=merchant_id)
        return cursor_page(self, request, selectors.merchant_balances(merchant_id=merchant_id), s.BalanceSerializer,
                           ordering="currency")


class MerchantQrApi(APIView):
    @extend_schema(parameters=[s.QrQuerySerializer], responses={200: s.QrSerializer}, tags=[MERCHANT_TAG],
                   summary="The merchant's signed QR payload (optionally fixing an amount)")
    def get(self, request, merchant_id: int):
        merchant, _ = selectors.merchant_staffed(user=request.user, merchant_id=merchant_id)
        amount = validated(s.QrQuerySerializer, request.query_params, context={"currency": merchant.currency})["amount"]
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


class TransferApi(APIView):
    pagination_class = DefaultCursorPagination
    filterset_class = TransferFilter

    @extend_schema(responses={200: s.TransferSerializer(many=True)},
                   tags=[TAG], summary="Transfers I sent or received (with the other person), newest first")
    def get(self, request):
        return cursor_page(self, request, selectors.transfers_for(user=request.user),
                           s.TransferSerializer, filterset_class=TransferFilter)

    @extend_schema(request=s.TransferCreateSerializer, responses={201: s.TransferSerializer}, tags=[TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Send money to another user")
    @idempotent
    def post(self, request):
        data = validated(s.TransferCreateSerializer, request.data)
        recipient = selectors.transfer_recipient(recipient_id=data.get("recipient_id"),
                                                 username=data.get("recipient_username"))
        transfer = services.transfer_create(sender=request.user, recipient=recipient, message=data["message"],
                                            amount=data["amount"])
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


class PaymentRequestsApi(APIView):
    pagination_class = DefaultCursorPagination
    filterset_class = PaymentRequestFilter

    @extend_schema(responses={200: s.PaymentRequestSerializer(many=True)},
                   tags=[TAG], summary="Payment requests I sent or received")
    def get(self, request):
        return cursor_page(self, request, selectors.payment_requests_for(user=request.user),
                           s.PaymentRequestSerializer, filterset_class=PaymentRequestFilter)

    @extend_schema(request=s.PaymentRequestCreateSerializer, responses={201: s.PaymentRequestSplitSerializer},
                   tags=[TAG], summary="Split a bill: ask friends for their equal shares")
    def post(self, request):
        data = validated(s.PaymentRequestCreateSerializer, request.data)
        created = services.payment_requests_create(
            requester=request.user, payer_ids=data["payer_ids"], total=data["total"], message=data["message"],
            include_requester=data["include_me"])
        return Response(s.PaymentRequestSplitSerializer({"group": created[0].group, "requests": created}).data,
                        status=status.HTTP_201_CREATED)


class PaymentRequestAcceptApi(APIView):
    @extend_schema(request=None, responses={200: s.PaymentRequestSerializer}, tags=[TAG],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Accept (pay) a payment request addressed to me")
    @idempotent
    def post(self, request, payment_request_id: int):
        answered = services.payment_request_accept(
            payment_request=selectors.payment_request_of(user=request.user, payment_request_id=payment_request_id,
                                                        role="payer"), user=request.user)
        return Response(s.PaymentRequestSerializer(answered).data)


class PaymentRequestDeclineApi(APIView):
    @extend_schema(request=None, responses={200: s.PaymentRequestSerializer}, tags=[TAG],
                   summary="Decline a payment request addressed to me")
    def post(self, request, payment_request_id: int):
        answered = services.payment_request_answer(
            payment_request=selectors.payment_request_of(user=request.user, payment_request_id=payment_request_id,
                                                        role="payer"), user=request.user,
            status=PaymentRequestStatus.DECLINED)
        return Response(s.PaymentRequestSerializer(answered).data)


class PaymentRequestCancelApi(APIView):
    @extend_schema(request=None, responses={200: s.PaymentRequestSerializer}, tags=[TAG],
                   summary="Cancel a payment request I sent")
    def post(self, request, payment_request_id: int):
        answered = services.payment_request_answer(
            payment_request=selectors.payment_request_of(user=request.user, payment_request_id=payment_request_id,
                                                        role="requester"), user=request.user,
            status=PaymentRequestStatus.CANCELLED)
        return Response(s.PaymentRequestSerializer(answered).data)


# --- Coupons ---------------------------------------------------------------------------------------------

class CampaignsApi(APIView):
    @extend_schema(parameters=[s.CampaignQuerySerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedCampaignList}, tags=[TAG],
                   summary="Running campaigns I can collect coupons from (optionally usable at a merchant)")
    def get(self, request):
        query = validated(s.CampaignQuerySerializer, request.query_params)
        campaigns = selectors.campaigns_collectable_listed(user=request.user, merchant_id=query.get("merchant"))
        return cursor_page(self, request, campaigns, s.CampaignSerializer)


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
        query = validated(s.CouponQuerySerializer, request.query_params)
        coupons = selectors.coupons_listed(user=request.user, merchant_id=query.get("merchant"),
                                           status=query.get("status"))
        return cursor_page(self, request, coupons, s.CouponSerializer)


class CouponDetailApi(APIView):
    @extend_schema(responses={200: s.CouponSerializer}, tags=[TAG], summary="One of my coupons")
    def get(self, request, coupon_id: int):
        return Response(s.CouponSerializer(selectors.coupon_of(user=request.user, coupon_id=coupon_id)).data)


# --- Tax-free VAT claims ---------------------------------------------------------------------------------

class VatClaimsApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.VatClaimSerializer(many=True)},
                   tags=[TAG], summary="My tax-free VAT refund claims")
    def get(self, request):
        return cursor_page(self, request, selectors.vat_claims_for(user=request.user), s.VatClaimSerializer)

    @extend_schema(request=s.VatClaimCreateSerializer, responses={201: s.VatClaimSerializer}, tags=[TAG],
                   summary="Claim the VAT of tax-free purchases",
                   description="Own succeeded tax-free payments, unrefunded, within the claim window, never claimed "
                               "before and at least the minimum purchase per merchant per day "
                               "(vat_claim_invalid / vat_minimum_not_met otherwise).")
    def post(self, request):
        data = validated(s.VatClaimCreateSerializer, request.data)
        claim = services.vat_claim_create(user=request.user, payment_ids=data["payment_ids"])
        return Response(s.VatClaimSerializer(selectors.vat_claims_for(user=request.user).get(pk=claim.pk)).data,
                        status=status.HTTP_201_CREATED)


class VatClaimDetailApi(APIView):
    @extend_schema(responses={200: s.VatClaimSerializer}, tags=[TAG], summary="One of my VAT claims")
    def get(self, request, vat_claim_id: int):
        return Response(s.VatClaimSerializer(selectors.vat_claim_of(user=request.user, vat_claim_id=vat_claim_id)).data)


class OperatorVatClaimsApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(responses={200: s.VatClaimSerializer(many=True)},
                   tags=["customs"], summary="Customs operators: claims awaiting validation")
    def get(self, request):
        return cursor_page(self, request, selectors.vat_claims_submitted(operator=request.user), s.VatClaimSerializer)


class OperatorVatClaimDecisionApi(APIView):
    @extend_schema(request=s.VatClaimDecisionSerializer, responses={200: s.VatClaimSerializer}, tags=["customs"],
                   summary="Customs operators: approve (then it is paid) or reject a claim")
    def post(self, request, vat_claim_id: int):
        selectors.operator_require(user=request.user)
        data = validated(s.VatClaimDecisionSerializer, request.data)
        claim = services.vat_claim_validate(claim=selectors.vat_claim_get(vat_claim_id=vat_claim_id),
                                            operator=request.user, approved=data["approved"], note=data["note"])
        return Response(s.VatClaimSerializer(selectors.vat_claim_with_items(vat_claim_id=claim.pk)).data)

