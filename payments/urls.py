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
    path("balances", apis.BalancesApi.as_view(), name="wallet-balances"),
    path("transactions", apis.StatementApi.as_view(), name="wallet-transactions"),
    path("funding-sources", apis.FundingSourcesApi.as_view(), name="wallet-funding-sources"),
    path("funding-sources/<id:funding_source_id>", apis.FundingSourceDetailApi.as_view(),
         name="wallet-funding-source"),
    path("top-ups", apis.TopUpApi.as_view(), name="wallet-top-ups"),
    path("withdrawals", apis.WithdrawApi.as_view(), name="wallet-withdrawals"),
    path("payments", apis.PaymentsApi.as_view(), name="wallet-payments"),
    path("payments/<id:payment_id>", apis.PaymentDetailApi.as_view(), name="wallet-payment"),
    path("payments/<id:payment_id>/refunds", apis.PaymentRefundsApi.as_view(), name="wallet-payment-refunds"),
    path("transfers", apis.TransferApi.as_view(), name="wallet-transfers"),
    path("payment-requests", apis.PaymentRequestsApi.as_view(), name="wallet-payment-requests"),
    path("payment-requests/<id:payment_request_id>/accept", apis.PaymentRequestAcceptApi.as_view(),
         name="wallet-payment-request-accept"),
    path("payment-requests/<id:payment_request_id>/decline", apis.PaymentRequestDeclineApi.as_view(),
         name="wallet-payment-request-decline"),
    path("payment-requests/<id:payment_request_id>/cancel", apis.PaymentRequestCancelApi.as_view(),
         name="wallet-payment-request-cancel"),
    path("campaigns", apis.CampaignsApi.as_view(), name="wallet-campaigns"),
    path("campaigns/<id:campaign_id>/collect", apis.CouponCollectApi.as_view(), name="wallet-campaign-collect"),
    path("coupons", apis.CouponsApi.as_view(), name="wallet-coupons"),
    path("coupons/<id:coupon_id>", apis.CouponDetailApi.as_view(), name="wallet-coupon"),
    path("vat-claims", apis.VatClaimsApi.as_view(), name="wallet-vat-claims"),
    path("vat-claims/<id:vat_claim_id>", apis.VatClaimDetailApi.as_view(), name="wallet-vat-claim"),
    path("operator/vat-claims", apis.OperatorVatClaimsApi.as_view(), name="wallet-operator-vat-claims"),
    path("operator/vat-claims/<id:vat_claim_id>/decision", apis.OperatorVatClaimDecisionApi.as_view(),
         name="wallet-operator-vat-claim-decision"),
    path("merchants/<id:merchant_id>/payments", apis.MerchantPaymentsApi.as_view(),
         name="wallet-merchant-payments"),
    path("merchants/<id:merchant_id>/payments/<id:payment_id>", apis.MerchantPaymentDetailApi.as_view(),
         name="wallet-merchant-payment"),
    path("merchants/<id:merchant_id>/payments/<id:payment_id>/confirm", apis.MerchantPaymentConfirmApi.as_view(),
         name="wallet-merchant-payment-confirm"),
    path("merchants/<id:merchant_id>/payments/<id:payment_id>/reject", apis.MerchantPaymentRejectApi.as_view(),
         name="wallet-merchant-payment-reject"),
    path("merchants/<id:merchant_id>/payments/<id:payment_id>/refunds", apis.MerchantRefundApi.as_view(),
         name="wallet-merchant-payment-refunds"),
    path("merchants/<id:merchant_id>/settlements", apis.MerchantSettlementsApi.as_view(),
         name="wallet-merchant-settlements"),
    path("merchants/<id:merchant_id>/balance", apis.MerchantBalanceApi.as_view(),
         name="wallet-merchant-balance"),
    path("merchants/<id:merchant_id>/qr", apis.MerchantQrApi.as_view(), name="wallet-merchant-qr"),
]
