from django.urls import path, register_converter

from payments import apis


class IdConverter:
    """A positive database id: at most 18 digits, so absurd ids are a 404 instead of a driver overflow."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("wallet/balances", apis.BalancesApi.as_view(), name="wallet-balances"),
    path("wallet/transactions", apis.StatementApi.as_view(), name="wallet-transactions"),
    path("wallet/funding-sources", apis.FundingSourcesApi.as_view(), name="wallet-funding-sources"),
    path("wallet/funding-sources/<id:funding_source_id>", apis.FundingSourceDetailApi.as_view(),
         name="wallet-funding-source"),
    path("wallet/top-ups", apis.TopUpApi.as_view(), name="wallet-top-ups"),
    path("wallet/withdrawals", apis.WithdrawApi.as_view(), name="wallet-withdrawals"),
    path("wallet/payments", apis.PaymentsApi.as_view(), name="wallet-payments"),
    path("wallet/payments/<id:payment_id>", apis.PaymentDetailApi.as_view(), name="wallet-payment"),
    path("wallet/payments/<id:payment_id>/refunds", apis.PaymentRefundsApi.as_view(), name="wallet-payment-refunds"),
    path("wallet/transfers", apis.TransferApi.as_view(), name="wallet-transfers"),
    path("wallet/payment-requests", apis.PaymentRequestsApi.as_view(), name="wallet-payment-requests"),
    path("wallet/payment-requests/<id:payment_request_id>/accept", apis.PaymentRequestAcceptApi.as_view(),
         name="wallet-payment-request-accept"),
    path("wallet/payment-requests/<id:payment_request_id>/decline", apis.PaymentRequestDeclineApi.as_view(),
         name="wallet-payment-request-decline"),
    path("wallet/payment-requests/<id:payment_request_id>/cancel", apis.PaymentRequestCancelApi.as_view(),
         name="wallet-payment-request-cancel"),
    path("wallet/campaigns", apis.CampaignsApi.as_view(), name="wallet-campaigns"),
    path("wallet/campaigns/<id:campaign_id>/collect", apis.CouponCollectApi.as_view(), name="wallet-campaign-collect"),
    path("wallet/coupons", apis.CouponsApi.as_view(), name="wallet-coupons"),
    path("wallet/coupons/<id:coupon_id>", apis.CouponDetailApi.as_view(), name="wallet-coupon"),
    path("wallet/vat-claims", apis.VatClaimsApi.as_view(), name="wallet-vat-claims"),
    path("wallet/vat-claims/<id:vat_claim_id>", apis.VatClaimDetailApi.as_view(), name="wallet-vat-claim"),
    path("wallet/operator/vat-claims", apis.OperatorVatClaimsApi.as_view(), name="wallet-operator-vat-claims"),
    path("wallet/operator/vat-claims/<id:vat_claim_id>/decision", apis.OperatorVatClaimDecisionApi.as_view(),
         name="wallet-operator-vat-claim-decision"),
    path("wallet/merchants/<id:merchant_id>/payments", apis.MerchantPaymentsApi.as_view(),
         name="wallet-merchant-payments"),
    path("wallet/merchants/<id:merchant_id>/payments/<id:payment_id>", apis.MerchantPaymentDetailApi.as_view(),
         name="wallet-merchant-payment"),
    path("wallet/merchants/<id:merchant_id>/payments/<id:payment_id>/confirm", apis.MerchantPaymentConfirmApi.as_view(),
         name="wallet-merchant-payment-confirm"),
    path("wallet/merchants/<id:merchant_id>/payments/<id:payment_id>/reject", apis.MerchantPaymentRejectApi.as_view(),
         name="wallet-merchant-payment-reject"),
    path("wallet/merchants/<id:merchant_id>/payments/<id:payment_id>/refunds", apis.MerchantRefundApi.as_view(),
         name="wallet-merchant-payment-refunds"),
    path("wallet/merchants/<id:merchant_id>/settlements", apis.MerchantSettlementsApi.as_view(),
         name="wallet-merchant-settlements"),
    path("wallet/merchants/<id:merchant_id>/balance", apis.MerchantBalanceApi.as_view(),
         name="wallet-merchant-balance"),
    path("wallet/merchants/<id:merchant_id>/qr", apis.MerchantQrApi.as_view(), name="wallet-merchant-qr"),
]
