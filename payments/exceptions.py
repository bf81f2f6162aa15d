"""Wallet domain errors: each a stable `code` with its HTTP status (rendered by superapp.api)."""

from superapp.exceptions import Conflict, DomainError, NotFound, PermissionDenied


class PaymentsError(DomainError):
    status_code = 400
    code = "payments_error"


class InvalidAmount(PaymentsError):
    code = "invalid_amount"
    default_message = "Amounts must be positive."


class CurrencyMismatch(PaymentsError):
    code = "currency_mismatch"
    default_message = "The amount's currency does not match."


class InsufficientFunds(PaymentsError):
    status_code = 409
    code = "insufficient_funds"
    default_message = "The wallet balance is too low for this operation."


class MerchantInsufficientFunds(PaymentsError):
    status_code = 409
    code = "merchant_insufficient_funds"
    default_message = "The merchant's balance is too low for this refund."


class MerchantInactive(PaymentsError):
    status_code = 409
    code = "merchant_inactive"
    default_message = "This merchant is not active."


class MerchantNotAcceptingWallet(PaymentsError):
    status_code = 409
    code = "merchant_not_accepting_wallet"
    default_message = "This merchant does not accept wallet payments."


class FxRateMissing(PaymentsError):
    status_code = 422
    code = "fx_rate_missing"
    default_message = "No exchange rate is available for this currency pair."


class QrInvalid(PaymentsError):
    code = "qr_invalid"
    default_message = "The QR payload is malformed or has been tampered with."


class QrAmountMismatch(PaymentsError):
    code = "qr_amount_mismatch"
    default_message = "The QR code fixes the amount; the request's amount differs."


class FundingSourceNotFound(NotFound):
    code = "funding_source_not_found"
    default_message = "Unknown funding source."


class FundingSourceInactive(PaymentsError):
    status_code = 409
    code = "funding_source_inactive"
    default_message = "This funding source has been removed."


class FundingDeclined(PaymentsError):
    status_code = 402
    code = "funding_declined"
    default_message = "The card or bank declined the charge."


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    default_message = "Unknown payment."


class PaymentStateInvalid(Conflict):
    code = "payment_state_invalid"
    default_message = "The payment is not in a state that allows this."


class RefundExceedsRemaining(PaymentsError):
    status_code = 409
    code = "refund_exceeds_remaining"
    default_message = "The refund is larger than what remains refundable on this payment."


class StaffRoleTooLow(PermissionDenied):
    code = "staff_role_insufficient"
    default_message = "Your staff role does not allow this (owners and managers may refund)."


class TransferToSelf(PaymentsError):
    code = "transfer_to_self"
    default_message = "You cannot send money to yourself."


class RecipientNotFound(NotFound):
    code = "recipient_not_found"
    default_message = "Unknown recipient."


class PaymentRequestStateInvalid(Conflict):
    code = "payment_request_state_invalid"
    default_message = "This payment request was already answered."


class CouponNotFound(NotFound):
    code = "coupon_not_found"
    default_message = "Unknown coupon."


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    default_message = "Unknown campaign."


class CouponExpired(PaymentsError):
    status_code = 409
    code = "coupon_expired"
    default_message = "This coupon is outside its validity window."


class CouponAlreadyUsed(PaymentsError):
    status_code = 409
    code = "coupon_already_used"
    default_message = "This coupon was already redeemed."


class CouponNotApplicable(PaymentsError):
    status_code = 409
    code = "coupon_not_applicable"
    default_message = "This coupon does not apply to this payment."


class CouponMinSpendNotMet(PaymentsError):
    status_code = 409
    code = "coupon_min_spend_not_met"
    default_message = "The amount is below the coupon's minimum spend."


class CouponExhausted(PaymentsError):
    status_code = 409
    code = "coupon_exhausted"
    default_message = "The campaign's budget or redemption limit is used up."


class CouponLimitReached(PaymentsError):
    status_code = 409
    code = "coupon_limit_reached"
    default_message = "You already collected as many coupons of this campaign as allowed."


class TaxFreeUnavailable(PaymentsError):
    status_code = 409
    code = "tax_free_unavailable"
    default_message = "Tax-free shopping is not available for this purchase."


class VatClaimInvalid(PaymentsError):
    status_code = 409
    code = "vat_claim_invalid"
    default_message = "These payments cannot be claimed."


class VatClaimStateInvalid(Conflict):
    code = "vat_claim_state_invalid"
    default_message = "The claim is not in a state that allows this."


class VatClaimNotFound(NotFound):
    code = "vat_claim_not_found"
    default_message = "Unknown VAT claim."


class NotOperator(PermissionDenied):
    code = "operator_only"
    default_message = "Only customs operators may validate VAT claims."


class LedgerUnbalanced(DomainError):
    """A programming error: a ledger transaction whose entries do not sum to zero per currency."""
    status_code = 500
    code = "ledger_unbalanced"
