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
    path("wallet/funding-sources/<id:pk>", apis.FundingSourceDetailApi.as_view(), name="wallet-funding-source"),
    path("wallet/top-ups", apis.TopUpApi.as_view(), name="wallet-top-ups"),
    path("wallet/withdrawals", apis.WithdrawApi.as_view(), name="wallet-withdrawals"),
    path("wallet/payments", apis.PaymentsApi.as_view(), name="wallet-payments"),
    path("wallet/payments/<id:pk>", apis.PaymentDetailApi.as_view(), name="wallet-payment"),
    path("wallet/payments/<id:pk>/refunds", apis.PaymentRefundsApi.as_view(), name="wallet-payment-refunds"),
    path("wallet/transfers", apis.TransferApi.as_view(), name="wallet-transfers"),
    path("wallet/payment-requests", apis.PaymentRequestsApi.as_view(), name="wallet-payment-requests"),
    path("wallet/payment-requests/<id:pk>/accept", apis.PaymentRequestAcceptApi.as_view(),
         name="wallet-payment-request-accept"),
    path("wallet/payment-requests/<id:pk>/decline", apis.PaymentRequestDeclineApi.as_view(),
         name="wallet-payment-request-decline"),
    path("wallet/payment-requests/<id:pk>/cancel", apis.PaymentRequestCancelApi.as_view(),
         name="wallet-payment-request-cancel"),
    path("wallet/campaigns", apis.CampaignsApi.as_view(), name="wallet-campaigns"),
    path("wallet/campaigns/<id:pk>/collect", apis.CouponCollectApi.as_view(), name="wallet-campaign-collect"),
    path("wallet/coupons", apis.CouponsApi.as_view(), name="wallet-coupons"),
    path("wallet/coupons/<id:pk>", apis.CouponDetailApi.as_view(), name="wallet-coupon"),
    path("wallet/vat-claims", apis.VatClaimsApi.as_view(), name="wallet-vat-claims"),
    path("wallet/vat-claims/<id:pk>", apis.VatClaimDetailApi.as_view(), name="wallet-vat-claim"),
    path("wallet/operator/vat-claims", apis.OperatorVatClaimsApi.as_view(), name="wallet-operator-vat-claims"),
    path("wallet/operator/vat-claims/<id:pk>/decision", apis.OperatorVatClaimDecisionApi.as_view(),
         name="wallet-operator-vat-claim-decision"),
    path("wallet/merchants/<id:merchant_id>/payments", apis.MerchantPaymentsApi.as_view(),
         name="wallet-merchant-payments"),
    path("wallet/merchants/<id:merchant_id>/payments/<id:pk>", apis.MerchantPaymentDetailApi.as_view(),
         name="wallet-merchant-payment"),
    path("wallet/merchants/<id:merchant_id>/payments/<id:pk>/confirm", apis.MerchantPaymentConfirmApi.as_view(),
         name="wallet-merchant-payment-confirm"),
    path("wallet/merchants/<id:merchant_id>/payments/<id:pk>/reject", apis.MerchantPaymentRejectApi.as_view(),
         name="wallet-merchant-payment-reject"),
    path("wallet/merchants/<id:merchant_id>/payments/<id:pk>/refunds", apis.MerchantRefundApi.as_view(),
         name="wallet-merchant-payment-refunds"),
    path("wallet/merchants/<id:merchant_id>/settlements", apis.MerchantSettlementsApi.as_view(),
         name="wallet-merchant-settlements"),
    path("wallet/merchants/<id:merchant_id>/balance", apis.MerchantBalanceApi.as_view(),
         name="wallet-merchant-balance"),
    path("wallet/merchants/<id:merchant_id>/qr", apis.MerchantQrApi.as_view(), name="wallet-merchant-qr"),
]
