"""Wallet reads. Every selector scopes to the requesting user (or to merchants they staff)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from merchants.exceptions import MerchantNotFound
from merchants.models import Merchant, MerchantStaff, StaffRole
from merchants.selectors import user_is_traveller
from payments.exceptions import (
    CouponNotFound,
    FundingSourceNotFound,
    NotOperator,
    PaymentNotFound,
    RecipientNotFound,
    VatClaimNotFound,
)
from payments.models import (
    Account,
    AccountKind,
    Campaign,
    Coupon,
    CouponReadStatus,
    CouponStatus,
    FundingSource,
    LedgerEntry,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Refund,
    TopUp,
    Transfer,
    VatClaim,
    VatClaimStatus,
    Withdrawal,
)
from payments.services import campaign_is_running, campaign_merchant_problem, campaign_running_q, campaign_user_problem
from superapp.accounts.models import User
from superapp.exceptions import NotFound

REFUND_ROLES = {StaffRole.OWNER, StaffRole.MANAGER}


def wallet_balances(*, user: User) -> QuerySet[Account]:
    return Account.objects.filter(kind=AccountKind.USER, user=user).order_by("currency")


def statement_entries(*, user: User) -> QuerySet[LedgerEntry]:
    """The user's ledger entries with what a statement line needs (kind, merchant, time)."""
    return (LedgerEntry.objects.filter(account__kind=AccountKind.USER, account__user=user)
            .select_related("transaction", "transaction__merchant", "transaction__payment", "transaction__refund",
                            "transaction__transfer__sender", "transaction__transfer__recipient",
                            "transaction__top_up", "transaction__withdrawal", "transaction__vat_claim"))


def top_ups_for(*, user: User) -> QuerySet[TopUp]:
    return TopUp.objects.filter(user=user).select_related("funding_source")


def withdrawals_for(*, user: User) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(user=user).select_related("funding_source")


def transfers_for(*, user: User) -> QuerySet[Transfer]:
    return (Transfer.objects.filter(Q(sender=user) | Q(recipient=user))
            .select_related("sender", "recipient"))


def merchant_balances(*, merchant_id: int) -> QuerySet[Account]:
    return Account.objects.filter(kind=AccountKind.MERCHANT, merchant_id=merchant_id).order_by("currency")


def funding_sources(*, user: User) -> QuerySet[FundingSource]:
    return FundingSource.objects.filter(user=user, is_active=True).order_by("-pk")


def payments_for_payer(*, user: User) -> QuerySet[Payment]:
    return Payment.objects.filter(payer=user).select_related("merchant")


def payment_requests_for(*, user: User) -> QuerySet[PaymentRequest]:
    return (PaymentRequest.objects.filter(Q(requester=user) | Q(payer=user))
            .select_related("requester", "payer", "transfer"))


def staff_role(*, user: User, merchant_id: int) -> str | None:
    return MerchantStaff.objects.filter(user=user, merchant_id=merchant_id).values_list("role", flat=True).first()


def payments_for_merchant_staff(*, user: User, merchant_id: int | None = None) -> QuerySet[Payment]:
    """Payments at merchants where the user is staff (any role may view)."""
    qs = Payment.objects.filter(merchant__staff__user=user).select_related("merchant", "payer")
    if merchant_id is not None:
        qs = qs.filter(merchant_id=merchant_id)
    return qs


def settlement_by_day(*, merchant_id: int, date_from: date, date_to: date) -> list[dict]:
    """Per day and currency (UTC): succeeded payments' gross, discounts, fees, refunds and the net the
    merchant keeps (gross - fees - refunds given back + fees returned)."""
    start = timezone.make_aware(datetime.combine(date_from, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(date_to, datetime.max.time()))
    rows: dict[tuple, dict] = defaultdict(lambda: {"count": 0, "gross": 0, "discounts": 0, "fees": 0,
                                                   "refunds": 0, "refund_count": 0})
    paid = (Payment.objects.filter(merchant_id=merchant_id, status=PaymentStatus.SUCCEEDED,
                                   completed_at__range=(start, end))
            .annotate(day=TruncDate("completed_at")).values("day", "currency")
            .annotate(count=Count("id"), gross=Sum(F("amount") + F("tip")), discounts=Sum("discount"),
                      fees=Sum("fee")))
    for row in paid:
        rows[(row["day"], row["currency"])].update(count=row["count"], gross=row["gross"],
                                                   discounts=row["discounts"], fees=row["fees"])
    refunded = (Refund.objects.filter(payment__merchant_id=merchant_id, created_at__range=(start, end))
                .annotate(day=TruncDate("created_at")).values("day", "currency")
                .annotate(n=Count("id"), total=Sum(F("amount") + F("discount_returned")),
                          fees_back=Sum("fee_returned")))
    for row in refunded:
        entry = rows[(row["day"], row["currency"])]
        entry.update(refunds=row["total"], refund_count=row["n"])
        entry["fees"] -= row["fees_back"]
    out = []
    for (day, currency), values in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1]), reverse=True):
        gross, fees, refunds = values["gross"], values["fees"], values["refunds"]
        out.append({"date": day, "currency": currency, "count": values["count"], "gross": gross,
                    "discounts": values["discounts"], "fees": fees, "refunds": refunds,
                    "refund_count": values["refund_count"], "net": gross - fees - refunds})
    return out


def campaigns_running(*, now: datetime | None = None) -> QuerySet[Campaign]:
    now = now or timezone.now()
    return (Campaign.objects.filter(campaign_running_q(now))
            .select_related("budget_account", "funded_by_merchant")
            .prefetch_related("cities", "merchants"))


def coupons_for_user(*, user: User) -> QuerySet[Coupon]:
    return (Coupon.objects.filter(user=user)
            .select_related("campaign", "campaign__budget_account", "campaign__funded_by_merchant")
            .prefetch_related(Prefetch("campaign__cities"), Prefetch("campaign__merchants")))


def coupon_status(coupon: Coupon, *, now: datetime | None = None) -> str:
    """The one rule for a coupon's status as of `now`: an unused coupon of a campaign that is no longer running
    (`campaign_is_running`) is `expired`. Nothing writes it: reads compute it, so it is right whether or not a
    job has run. `coupons_with_status` is the same rule in SQL."""
    if coupon.status == CouponStatus.REDEEMED:
        return CouponReadStatus.REDEEMED
    running = campaign_is_running(coupon.campaign, now or timezone.now())
    return CouponReadStatus.AVAILABLE if running else CouponReadStatus.EXPIRED


def coupons_with_status(coupons: QuerySet[Coupon], status: str, *, now: datetime | None = None) -> QuerySet[Coupon]:
    """`coupons` that `coupon_status` says have `status`."""
    if status == CouponReadStatus.REDEEMED:
        return coupons.filter(status=CouponStatus.REDEEMED)
    running = campaign_running_q(now or timezone.now(), prefix="campaign__")
    available = coupons.filter(status=CouponStatus.AVAILABLE)
    return available.filter(running) if status == CouponReadStatus.AVAILABLE else available.exclude(running)


def coupon_is_usable_at(*, coupon: Coupon, user: User, merchant: Merchant, is_traveller: bool | None = None) -> bool:
    campaign = coupon.campaign
    return (coupon.status == CouponStatus.AVAILABLE
            and campaign_user_problem(campaign=campaign, user=user, is_traveller=is_traveller) is None
            and campaign_merchant_problem(campaign=campaign, merchant=merchant) is None
            and (campaign.max_redemptions is None or campaign.redemptions < campaign.max_redemptions)
            and campaign.budget_account.balance > 0)


def coupons_applicable(*, user: User, merchant: Merchant) -> list[Coupon]:
    """The user's collected, unused coupons that would apply at this merchant right now."""
    traveller = user_is_traveller(user)
    return [c for c in coupons_for_user(user=user).filter(status=CouponStatus.AVAILABLE).order_by("-pk")
            if coupon_is_usable_at(coupon=c, user=user, merchant=merchant, is_traveller=traveller)]


def campaigns_usable_by(*, user: User, running: list[Campaign] | None = None) -> list[Campaign]:
    """Running campaigns this user could use somewhere right now (collected or still collectable): the
    user's side of `coupons_applicable_by_merchant`; where each applies is `campaign_merchant_problem`.
    `running`: `campaigns_running()` already read (a caller asking for many users). A fixed number of
    queries."""
    traveller = user_is_traveller(user)
    campaigns = [c for c in (campaigns_running() if running is None else running)
                 if campaign_user_problem(campaign=c, user=user, is_traveller=traveller) is None
                 and (c.max_redemptions is None or c.redemptions < c.max_redemptions)
                 and c.budget_account.balance > 0]
    redeemed_or_full = _campaigns_used_up_by(user=user, campaigns=campaigns)
    return [c for c in campaigns if c.pk not in redeemed_or_full]


def coupons_applicable_by_merchant(*, user: User, merchant_ids: list[int]) -> dict[int, list[Campaign]]:
    """For the recommender: merchant id -> running campaigns this user could use there (collected or
    still collectable). A fixed number of queries for any number of merchants."""
    merchants = list(Merchant.objects.filter(pk__in=merchant_ids))
    campaigns = campaigns_usable_by(user=user)
    result: dict[int, list[Campaign]] = {}
    for merchant in merchants:
        usable = [c for c in campaigns if campaign_merchant_problem(campaign=c, merchant=merchant) is None]
        if usable:
            result[merchant.pk] = usable
    return result


def _campaigns_used_up_by(*, user: User, campaigns: list[Campaign]) -> set[int]:
    """Campaigns where the user has no available coupon and cannot collect another."""
    counts = defaultdict(lambda: [0, 0])  # campaign -> [collected, available]
    for campaign_id, status in Coupon.objects.filter(user=user, campaign__in=campaigns).values_list(
            "campaign_id", "status"):
        counts[campaign_id][0] += 1
        counts[campaign_id][1] += status == CouponStatus.AVAILABLE
    by_id = {c.pk: c for c in campaigns}
    return {cid for cid, (collected, available) in counts.items()
            if available == 0 and collected >= by_id[cid].per_user_limit}


def campaigns_collectable(*, user: User, merchant: Merchant | None = None) -> list[Campaign]:
    traveller = user_is_traveller(user)
    campaigns = [c for c in campaigns_running()
                 if campaign_user_problem(campaign=c, user=user, is_traveller=traveller) is None]
    if merchant is not None:
        campaigns = [c for c in campaigns if campaign_merchant_problem(campaign=c, merchant=merchant) is None]
    return campaigns


def vat_claims_for(*, user: User) -> QuerySet[VatClaim]:
    return VatClaim.objects.filter(user=user).prefetch_related("items")


def payment_volume_by_day(*, days: int, now: datetime | None = None) -> dict[str, list[dict]]:
    """For the operators' chart: succeeded payments per day (UTC, by completion) and currency over the
    last `days` days including today, every day present (zeros too). Per currency, oldest day first:
    {"date", "count", "gross" (amount + tip, minor units)}. Currencies by volume, busiest first."""
    today = (now or timezone.now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    rows = (Payment.objects.filter(status=PaymentStatus.SUCCEEDED, completed_at__gte=start)
            .annotate(day=TruncDate("completed_at", tzinfo=UTC)).values("day", "currency")
            .annotate(count=Count("id"), gross=Sum(F("amount") + F("tip"))))
    found: dict[str, dict[date, dict]] = defaultdict(dict)
    for row in rows:
        if row["day"] <= today:
            found[row["currency"]][row["day"]] = {"count": row["count"], "gross": row["gross"]}
    calendar = [first + timedelta(days=i) for i in range(days)]
    series = {currency: [{"date": day, **by_day.get(day, {"count": 0, "gross": 0})} for day in calendar]
              for currency, by_day in found.items()}
    return dict(sorted(series.items(), key=lambda kv: -sum(point["count"] for point in kv[1])))


# --- One object of the requesting user's (or of a merchant they staff), else the 404 a client may see --------

def funding_source_of(*, user: User, funding_source_id: int) -> FundingSource:
    source = funding_sources(user=user).filter(pk=funding_source_id).first()
    if source is None:
        raise FundingSourceNotFound()
    return source


def payment_of_payer(*, user: User, payment_id: int) -> Payment:
    payment = payments_for_payer(user=user).filter(pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound()
    return payment


def refunds_of_payment(*, user: User, payment_id: int) -> QuerySet[Refund]:
    """The refunds of one of the user's payments (`payment_not_found` for another's)."""
    if not payments_for_payer(user=user).filter(pk=payment_id).exists():
        raise PaymentNotFound()
    return Refund.objects.filter(payment_id=payment_id)


def merchant_staffed(*, user: User, merchant_id: int) -> tuple[Merchant, str]:
    """A merchant the user works for and their role there. Not staff: a plain 404 `not_found`, as if the merchant
    did not exist (unlike `merchants.exceptions.NotMerchantStaff`, a 403 for a known merchant's settings)."""
    role = staff_role(user=user, merchant_id=merchant_id)
    if role is None:
        raise NotFound()
    return Merchant.objects.get(pk=merchant_id), role


def merchant_payment_for_staff(*, user: User, merchant_id: int, payment_id: int) -> tuple[Payment, str]:
    """A payment received by a merchant the user works for, and the user's role there."""
    _, role = merchant_staffed(user=user, merchant_id=merchant_id)
    payment = payments_for_merchant_staff(user=user, merchant_id=merchant_id).filter(pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound()
    return payment, role


def merchant_get(*, merchant_id: int | None) -> Merchant | None:
    """The merchant a query names (None when it names none; `merchant_not_found` for an unknown id)."""
    if merchant_id is None:
        return None
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        raise MerchantNotFound()
    return merchant


def transfer_recipient(*, recipient_id: int | None = None, username: str | None = None) -> User:
    """An active user by id or username (`recipient_not_found` otherwise)."""
    lookup = {"pk": recipient_id} if recipient_id is not None else {"username": username}
    recipient = User.objects.filter(is_active=True, **lookup).first()
    if recipient is None:
        raise RecipientNotFound()
    return recipient


def payment_request_of(*, user: User, payment_request_id: int, role: str) -> PaymentRequest:
    """A payment request where the user is the `role` ("requester" or "payer")."""
    found = (PaymentRequest.objects.filter(pk=payment_request_id, **{role: user})
             .select_related("requester", "payer").first())
    if found is None:
        raise NotFound("Unknown payment request.", code="payment_request_not_found")
    return found


def coupon_of(*, user: User, coupon_id: int) -> Coupon:
    coupon = coupons_for_user(user=user).filter(pk=coupon_id).first()
    if coupon is None:
        raise CouponNotFound()
    return coupon


def vat_claim_of(*, user: User, vat_claim_id: int) -> VatClaim:
    claim = vat_claims_for(user=user).filter(pk=vat_claim_id).first()
    if claim is None:
        raise VatClaimNotFound()
    return claim


def operator_require(*, user: User) -> None:
    """Customs operators only (staff, or the `payments.validate_vatclaim` permission)."""
    if not (user.is_staff or user.has_perm("payments.validate_vatclaim")):
        raise NotOperator()


def vat_claims_submitted(*, operator: User) -> QuerySet[VatClaim]:
    """Claims awaiting validation, for a customs operator."""
    operator_require(user=operator)
    return VatClaim.objects.filter(status=VatClaimStatus.SUBMITTED).prefetch_related("items")


def vat_claim_get(*, vat_claim_id: int) -> VatClaim:
    """Any claim (for a customs operator: check `operator_require` first)."""
    claim = VatClaim.objects.filter(pk=vat_claim_id).first()
    if claim is None:
        raise VatClaimNotFound()
    return claim


def vat_claim_with_items(*, vat_claim_id: int) -> VatClaim:
    return VatClaim.objects.prefetch_related("items").get(pk=vat_claim_id)


# --- Lists the rules filter in Python: the page is cut from the same rows again by id ------------------------

def campaigns_collectable_listed(*, user: User, merchant_id: int | None = None) -> QuerySet[Campaign]:
    """`campaigns_collectable` (optionally usable at a merchant; `merchant_not_found` for an unknown one)
    as a queryset to paginate."""
    campaigns = campaigns_collectable(user=user, merchant=merchant_get(merchant_id=merchant_id))
    return campaigns_running().filter(pk__in=[c.pk for c in campaigns])


def coupons_listed(*, user: User, merchant_id: int | None = None, status: str | None = None) -> QuerySet[Coupon]:
    """The user's coupons: with a merchant only those that apply there now, else optionally by status."""
    merchant = merchant_get(merchant_id=merchant_id)
    coupons = coupons_for_user(user=user)
    if merchant is not None:
        applicable = coupons_applicable(user=user, merchant=merchant)
        return coupons.filter(pk__in=[c.pk for c in applicable])
    if status:
        return coupons_with_status(coupons, status)
    return coupons
