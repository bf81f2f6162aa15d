"""Reads of city services: providers, a user's bill accounts, bills, transit cards, parking sessions and
notifications. Lookups by id are scoped to the user: another user's id is the same 404 as a missing one."""

from __future__ import annotations

from django.db.models import QuerySet

from cityservices.models import (
    Bill,
    BillAccount,
    Notification,
    ParkingSession,
    ServiceProvider,
    TransitCard,
    TransitTopUp,
)
from cityservices.services import bills_with_status
from merchants import selectors as merchant_selectors
from merchants.models import City
from superapp.exceptions import NotFound


def provider_active(*, provider_id: int) -> ServiceProvider:
    provider = ServiceProvider.objects.select_related("city", "merchant").filter(pk=provider_id,
                                                                                 is_active=True).first()
    if provider is None:
        raise NotFound("Service provider not found.", code="provider_not_found")
    return provider


def city_asked_or_current(*, user, wanted: str | None) -> City | None:
    """The city a city-services list is about: the `city` the client asked for (id or slug, else
    `unknown_city`), else where the user is now (an active trip's destination, else their current city)."""
    return merchant_selectors.city_resolve(wanted) if wanted else merchant_selectors.user_current_city(user)


def providers_in_city(*, city: City | None) -> QuerySet[ServiceProvider]:
    return ServiceProvider.objects.filter(city=city, is_active=True).select_related("city")


def bill_accounts_for(*, user) -> QuerySet[BillAccount]:
    return BillAccount.objects.filter(user=user).select_related("provider__city")


def bill_account_of(*, user, account_id: int) -> BillAccount:
    account = bill_accounts_for(user=user).filter(pk=account_id).first()
    if account is None:
        raise NotFound("Bill account not found.", code="bill_account_not_found")
    return account


def bills_of_account(*, account: BillAccount) -> QuerySet[Bill]:
    return Bill.objects.filter(account=account).select_related("account__provider__city")


def bills_for(*, user, status: str | None = None) -> QuerySet[Bill]:
    """The user's bills; `status` as `bill_status` reads it now (`overdue` needs no job)."""
    bills = Bill.objects.filter(account__user=user).select_related("account__provider__city")
    return bills_with_status(bills, status) if status else bills


def bill_of(*, user, bill_id: int) -> Bill:
    bill = bills_for(user=user).filter(pk=bill_id).first()
    if bill is None:
        raise NotFound("Bill not found.", code="bill_not_found")
    return bill


def transit_cards_for(*, user) -> QuerySet[TransitCard]:
    return TransitCard.objects.filter(user=user).select_related("provider__city")


def transit_top_up_get(*, top_up_id: int) -> TransitTopUp:
    return TransitTopUp.objects.select_related("card__provider__city").get(pk=top_up_id)


def parking_sessions_for(*, user) -> QuerySet[ParkingSession]:
    return ParkingSession.objects.filter(user=user)


def notifications_for(*, user, unread: bool | None = None) -> QuerySet[Notification]:
    notifications = Notification.objects.filter(user=user)
    return notifications if unread is None else notifications.filter(read_at__isnull=unread)
