"""City services: bill accounts and bills, transit card top-ups, parking, notifications and reminders.

Every payment is a wallet payment (`payments.services.payment_create`) to the provider's merchant account.
Invariant: a bill is paid at most once — its row is locked (select_for_update) and its status and payment
re-checked inside the transaction that creates the payment, so two concurrent payments cannot both succeed.
The bill provider is called outside any transaction (`bill_pay`: charge -> provider -> settle).
"""

from __future__ import annotations

import logging
import math
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from cityservices import conf
from cityservices.exceptions import BillAccountProofInvalid, BillAlreadyPaid, InvalidCustomerNumber
from cityservices.models import (
    BILL_KINDS,
    Bill,
    BillAccount,
    BillReadStatus,
    BillStatus,
    Notification,
    ParkingSession,
    ServiceKind,
    ServiceProvider,
    TransitCard,
    TransitTopUp,
)
from cityservices.providers import backend_for
from merchants.selectors import tz_for
from payments.exceptions import InvalidAmount
from superapp.db import run_in_transaction
from superapp.exceptions import Conflict, DomainError, NotFound
from superapp.money import Money, MoneyError

logger = logging.getLogger(__name__)

MAX_TOP_UP_MAJOR = 2000
MAX_PARKING_MINUTES = 24 * 60


def _payment_create(**kwargs):
    from payments import services as payment_services  # the wallet app

    return payment_services.payment_create(**kwargs)


def _provider_today(provider: ServiceProvider) -> date:
    return timezone.now().astimezone(tz_for(provider.city.time_zone)).date()


def bill_status(bill: Bill, *, today: date | None = None) -> str:
    """The one rule for a bill's status as of today: a due bill past its due date at the provider is `overdue`;
    one paid from the wallet whose receipt the provider has not issued yet is `processing`.
    Nothing writes `overdue`: reads compute it, so it is right whether or not a job has run."""
    if bill.status == BillStatus.PAID:
        return BillReadStatus.PAID
    if bill.payment_id is not None:
        return BillReadStatus.PROCESSING
    today = today or _provider_today(bill.account.provider)
    return BillReadStatus.OVERDUE if bill.due_on < today else BillReadStatus.DUE


def bills_with_status(bills: QuerySet[Bill], status: str, *, now: datetime | None = None) -> QuerySet[Bill]:
    """`bills` that `bill_status` says have `status` (the same rule in SQL: one condition per provider time zone)."""
    if status == BillReadStatus.PAID:
        return bills.filter(status=BillStatus.PAID)
    if status == BillReadStatus.PROCESSING:
        return bills.filter(status=BillStatus.DUE, payment__isnull=False)
    now = now or timezone.now()
    due = bills.filter(status=BillStatus.DUE, payment__isnull=True)
    condition = Q(pk__in=[])
    for zone in set(due.values_list("account__provider__city__time_zone", flat=True)):
        today = now.astimezone(tz_for(zone)).date()
        days = Q(due_on__lt=today) if status == BillReadStatus.OVERDUE else Q(due_on__gte=today)
        condition |= Q(account__provider__city__time_zone=zone) & days
    return due.filter(condition)


def _require_kind(provider: ServiceProvider, kinds) -> None:
    if provider.kind not in kinds or not provider.is_active:
        raise DomainError(f"{provider.name} does not offer this service.", code="wrong_service_kind",
                          details={"provider_kind": provider.kind})


def bill_account_link(*, user, provider: ServiceProvider, customer_number: str, nickname: str = "") -> BillAccount:
    """Link a customer account (validated by the provider) and fetch its due bills."""
    _require_kind(provider, BILL_KINDS)
    customer_number = customer_number.strip()
    backend_for(provider).validate_customer(customer_number)
    try:
        with transaction.atomic():
            account = BillAccount.objects.create(user=user, provider=provider, customer_number=customer_number,
                                                 nickname=nickname)
    except IntegrityError:
        raise Conflict("This account is already linked.", code="bill_account_exists")
    bills_refresh(account=account)
    return account


BILL_PROOF_ATTEMPTS = 5  # wrong proofs per user per hour, then 429: a bill amount cannot be brute-forced
BILL_PROOF_WINDOW_S = 3600


def bill_account_proof_check(*, user, provider: ServiceProvider, customer_number: str, latest_bill_amount: str) -> None:
    """Proof that `user` holds the account before it is linked: the amount of its latest bill, which only
    the household sees (on paper or in the provider's app). The customer number alone is guessable, and
    a linked account shows the household's bills. Counted per user (`superapp.attempts`)."""
    from superapp.attempts import attempt_reserve, attempts_forget

    _require_kind(provider, BILL_KINDS)
    customer_number = customer_number.strip()
    backend = backend_for(provider)
    backend.validate_customer(customer_number)
    key = attempt_reserve(scope="bill-proof", ident=str(user.pk), limit=BILL_PROOF_ATTEMPTS,
                          window_s=BILL_PROOF_WINDOW_S)
    issued = backend.due_bills(customer_number, _provider_today(provider))
    latest = max(issued, key=lambda bill: bill.period, default=None)
    try:
        matches = latest is not None and Money.from_decimal(latest_bill_amount, latest.amount.currency) == latest.amount
    except MoneyError:
        matches = False
    if not matches:
        raise BillAccountProofInvalid(details={"latest_bill_amount": [
            "Give the amount of this account's latest bill, as printed on it."]})
    attempts_forget(key)


def bills_refresh(*, account: BillAccount, today: date | None = None) -> int:
    """Ask the provider for the account's bills; store new ones (known ones keep their status)."""
    provider = account.provider
    issued = backend_for(provider).due_bills(account.customer_number, today or _provider_today(provider))
    known = set(Bill.objects.filter(account=account, reference__in=[b.reference for b in issued])
                .values_list("reference", flat=True))
    new = [Bill(account=account, reference=b.reference, period=b.period, amount=b.amount.amount,
                currency=b.amount.currency, due_on=b.due_on) for b in issued if b.reference not in known]
    Bill.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent refresh may have stored one meanwhile
    return len(new)


def bill_pay(*, bill_id: int, user) -> Bill:
    """Pay a due bill from the wallet to the provider's merchant account; the provider issues a receipt.
    Paying it again is `bill_already_paid` (409), nothing written.

    The provider is called OUTSIDE any database transaction and with no row locked (issue 13):
    1. lock the bill, pay from the wallet and record the payment on the bill (it reads `processing`), commit;
    2. confirm at the provider with the bill's reference (providers are idempotent on it);
    3. lock the bill again and store the receipt (`paid`).
    A retry (any key) of a bill left processing resumes at step 2 instead of paying twice; if the provider
    cannot be reached the bill stays `processing` and `bills_settle_processing` (beat) finishes it."""
    bill = run_in_transaction(lambda: _bill_charge(bill_id=bill_id, user=user))
    if bill.status == BillStatus.PAID:
        return bill
    return _bill_confirm(bill=bill)


def _bill_charge(*, bill_id: int, user) -> Bill:
    bill = (Bill.objects.select_for_update(of=("self",)).select_related("account__provider__merchant")
            .filter(pk=bill_id, account__user=user).first())
    if bill is None:
        raise NotFound("Bill not found.", code="bill_not_found")
    if bill.status == BillStatus.PAID:
        raise BillAlreadyPaid(details={"paid_at": bill.paid_at.isoformat() if bill.paid_at else None,
                                       "receipt_number": bill.receipt_number})
    if bill.payment_id is None:  # else charged by an earlier attempt that did not finish: resume it
        provider = bill.account.provider
        bill.payment = _payment_create(payer=user, merchant=provider.merchant, amount=Money(bill.amount, bill.currency),
                                       reference=f"bill:{bill.pk}",
                                       description=f"{provider.name} {bill.period} ({bill.account.customer_number})")
        bill.save(update_fields=["payment"])
    return bill


def _bill_confirm(*, bill: Bill) -> Bill:
    """Steps 2 and 3 of `bill_pay`; a provider that cannot be reached leaves the bill `processing`."""
    try:
        receipt = backend_for(bill.account.provider).confirm_payment(bill.reference, Money(bill.amount, bill.currency))
    except Exception:  # noqa: BLE001 - any provider failure: the money is with the provider's merchant account,
        logger.warning("bill %s: provider confirmation failed; left processing", bill.pk, exc_info=True)
        return bill  # and the sweep asks again
    return run_in_transaction(lambda: _bill_settle(bill_id=bill.pk, receipt=receipt))


def _bill_settle(*, bill_id: int, receipt: str) -> Bill:
    bill = Bill.objects.select_for_update(of=("self",)).select_related("account__provider").get(pk=bill_id)
    if bill.status != BillStatus.PAID:  # else settled meanwhile (a concurrent retry or the sweep)
        bill.receipt_number, bill.status, bill.paid_at = receipt, BillStatus.PAID, timezone.now()
        bill.save(update_fields=["receipt_number", "status", "paid_at"])
    return bill


def bills_settle_processing(*, older_than_s: float = 60, now: datetime | None = None) -> int:
    """Finish bills charged from the wallet whose provider confirmation did not happen (a crash or an
    unreachable provider between steps 1 and 3 of `bill_pay`): confirm again with the same reference."""
    cutoff = (now or timezone.now()) - timedelta(seconds=older_than_s)
    settled = 0
    for bill in (Bill.objects.filter(status=BillStatus.DUE, payment__isnull=False, payment__created_at__lt=cutoff)
                 .select_related("account__provider").order_by("pk")):
        settled += _bill_confirm(bill=bill).status == BillStatus.PAID
    return settled


def transit_card_link(*, user, provider: ServiceProvider, card_number: str) -> TransitCard:
    _require_kind(provider, (ServiceKind.TRANSIT,))
    card_number = card_number.strip()
    backend_for(provider).validate_customer(card_number)
    try:
        with transaction.atomic():
            return TransitCard.objects.create(user=user, provider=provider, card_number=card_number,
                                              currency=provider.city.currency)
    except IntegrityError:
        if TransitCard.objects.filter(provider=provider, card_number=card_number, user=user).exists():
            raise Conflict("This card is already linked.", code="transit_card_exists") from None
        # Linked by someone else: answer as for a card the provider does not know, so that the answer does
        # not tell whether a number belongs to another user (enumeration).
        raise InvalidCustomerNumber(f"{provider.name} has no customer {card_number}.",
                                    details={"customer_number": card_number}) from None


def transit_card_top_up(*, card_id: int, user, amount: Money) -> TransitTopUp:
    """Pay the operator from the wallet and credit the card with the same amount, in one transaction."""
    with transaction.atomic():
        card = (TransitCard.objects.select_for_update(of=("self",)).select_related("provider__merchant")
                .filter(pk=card_id, user=user).first())
        if card is None:
            raise NotFound("Transit card not found.", code="transit_card_not_found")
        if amount.currency != card.currency:
            raise InvalidAmount(f"This card is topped up in {card.currency}.", code="currency_mismatch")
        if not 0 < amount.amount <= Money.from_decimal(MAX_TOP_UP_MAJOR, card.currency).amount:
            raise InvalidAmount(f"Top up between 0 and {MAX_TOP_UP_MAJOR} {card.currency}.")
        payment = _payment_create(payer=user, merchant=card.provider.merchant, amount=amount,
                                  reference=f"transit:{card.pk}", description=f"Top-up {card.card_number}")
        card.balance += amount.amount
        card.save(update_fields=["balance"])
        return TransitTopUp.objects.create(card=card, amount=amount.amount, balance_after=card.balance,
                                           payment=payment)


def parking_pay(*, user, provider: ServiceProvider, plate: str, minutes: int,
                now: datetime | None = None) -> ParkingSession:
    """Pay for parking in a zone, started now, in 15-minute blocks at the provider's hourly rate."""
    _require_kind(provider, (ServiceKind.PARKING,))
    if not 15 <= minutes <= MAX_PARKING_MINUTES or not provider.hourly_rate:
        raise InvalidAmount(f"Park between 15 and {MAX_PARKING_MINUTES} minutes.", code="invalid_duration")
    now = now or timezone.now()
    blocks = math.ceil(minutes / 15)
    amount = Money(provider.hourly_rate, provider.city.currency).multiply(f"{blocks / 4:.4f}")
    with transaction.atomic():
        payment = _payment_create(payer=user, merchant=provider.merchant, amount=amount,
                                  reference=f"parking:{plate.upper()}", description=f"Parking {plate.upper()}")
        return ParkingSession.objects.create(user=user, provider=provider, plate=plate.upper(), starts_at=now,
                                             ends_at=now + timedelta(minutes=blocks * 15), amount=amount.amount,
                                             currency=amount.currency, payment=payment)


# --- Notifications ------------------------------------------------------------------------------
def notification_create(*, user_id: int, kind: str, title: str, body: str = "", data: dict | None = None,
                        dedupe_key: str) -> Notification | None:
    """Create once per (user, dedupe_key); returns None if it already exists."""
    try:
        with transaction.atomic():
            return Notification.objects.create(user_id=user_id, kind=kind, title=title, body=body, data=data or {},
                                               dedupe_key=dedupe_key)
    except IntegrityError:
        return None


def notification_mark_read(*, user, notification_id: int | None = None) -> int:
    """Mark one notification (or all when no id) read; returns how many changed."""
    queryset = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_id is not None:
        if not Notification.objects.filter(user=user, pk=notification_id).exists():
            raise NotFound("Notification not found.", code="notification_not_found")
        queryset = queryset.filter(pk=notification_id)
    return queryset.update(read_at=timezone.now())


def bill_reminders_send(*, within_days: int | None = None, today: date | None = None) -> int:
    """Remind users of due bills with a due date within N days (or overdue). One reminder per bill."""
    within = conf.BILL_REMINDER_DAYS if within_days is None else within_days
    today = today or timezone.now().date()
    bills = (Bill.objects.filter(status=BillStatus.DUE, payment__isnull=True,  # `processing` ones are paid
                                 due_on__lte=today + timedelta(days=within))
             .select_related("account__provider__city"))
    sent = 0
    for bill in bills.iterator(chunk_size=500):
        provider = bill.account.provider
        amount = Money(bill.amount, bill.currency)
        overdue = bill_status(bill, today=today) == BillReadStatus.OVERDUE
        created = notification_create(
            user_id=bill.account.user_id, kind="bill_due", dedupe_key=f"bill_due:{bill.pk}",
            title=f"{provider.name}: {amount} {'overdue' if overdue else 'due'} on {bill.due_on:%d %b}",
            body=f"Your {provider.get_kind_display().lower()} bill for {bill.period} "
                 f"(customer {bill.account.customer_number}) is {'overdue' if overdue else 'due soon'}.",
            data={"bill_id": bill.pk, "amount": str(amount.to_decimal()), "currency": amount.currency,
                  "due_on": str(bill.due_on)})
        sent += created is not None
    return sent


def bills_refresh_all() -> int:
    created = 0
    for account in BillAccount.objects.select_related("provider__city").iterator(chunk_size=500):
        created += bills_refresh(account=account)
    return created
