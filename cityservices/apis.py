"""Thin views for city services: catalogue, bill accounts, bills, transit cards, parking, notifications."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from cityservices import serializers as s
from cityservices import services as city_services
from cityservices.models import Bill, BillAccount, Notification, ParkingSession, ServiceProvider, TransitCard
from merchants import selectors
from payments.exceptions import InvalidAmount
from superapp.api import CURSOR_PAGE_PARAMETERS, IDEMPOTENCY_KEY_PARAMETER, cursor_page
from superapp.exceptions import NotFound
from superapp.idempotency import idempotent, idempotent_outside_transaction
from superapp.money import Money, MoneyError


def _provider(provider_id: int) -> ServiceProvider:
    provider = ServiceProvider.objects.select_related("city", "merchant").filter(pk=provider_id,
                                                                                 is_active=True).first()
    if provider is None:
        raise NotFound("Service provider not found.", code="provider_not_found")
    return provider


def _paginate(view, request, queryset, serializer_class):
    return cursor_page(view, request, queryset, serializer_class)


class CityServicesApi(APIView):
    @extend_schema(parameters=[s.CityServicesParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedServiceProviderList},
                   tags=["city services"],
                   summary="The city's service providers (bills, transit, parking, public offices)")
    def get(self, request):
        params = s.CityServicesParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        wanted = params.validated_data.get("city")
        city = selectors.city_resolve(wanted) if wanted else selectors.user_current_city(request.user)
        providers = ServiceProvider.objects.filter(city=city, is_active=True).select_related("city")
        return cursor_page(self, request, providers, s.ServiceProviderSerializer, ordering="pk")


class BillAccountListApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS,
                   responses={200: s.PaginatedBillAccountList}, tags=["city services"],
                   summary="My linked bill accounts")
    def get(self, request):
        accounts = BillAccount.objects.filter(user=request.user).select_related("provider__city")
        return _paginate(self, request, accounts, s.BillAccountSerializer)

    @extend_schema(request=s.BillAccountLinkSerializer, responses={201: s.BillAccountSerializer},
                   tags=["city services"], summary="Link a bill account (provider + customer number + proof)",
                   description="The provider validates the number (`invalid_customer_number`); the amount of the "
                               "account's latest bill proves it is yours (`bill_account_proof_invalid`; 5 wrong "
                               "answers per hour, then 429); due bills are fetched at once. Linking the same "
                               "account twice is `bill_account_exists` (409).")
    def post(self, request):
        serializer = s.BillAccountLinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        provider = _provider(data["provider_id"])
        city_services.bill_account_proof_check(user=request.user, provider=provider,
                                               customer_number=data["customer_number"],
                                               latest_bill_amount=data["latest_bill_amount"])
        account = city_services.bill_account_link(user=request.user, provider=provider,
                                                  customer_number=data["customer_number"],
                                                  nickname=data["nickname"])
        return Response(s.BillAccountSerializer(account).data, status=status.HTTP_201_CREATED)


class BillAccountRefreshApi(APIView):
    @extend_schema(request=None, responses={200: s.BillSerializer(many=True)}, tags=["city services"],
                   summary="Fetch new bills of an account from the provider")
    def post(self, request, account_id: int):
        account = BillAccount.objects.select_related("provider__city").filter(pk=account_id, user=request.user).first()
        if account is None:
            raise NotFound("Bill account not found.", code="bill_account_not_found")
        city_services.bills_refresh(account=account)
        bills = Bill.objects.filter(account=account).select_related("account__provider__city")
        return Response(s.BillSerializer(bills, many=True).data)


class BillListApi(APIView):
    @extend_schema(parameters=[s.BillListParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedBillList},
                   operation_id="bills_list",
                   tags=["city services"], summary="My bills (due and paid)")
    def get(self, request):
        params = s.BillListParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        bills = Bill.objects.filter(account__user=request.user).select_related("account__provider__city")
        if params.validated_data.get("status"):
            bills = city_services.bills_with_status(bills, params.validated_data["status"])
        return _paginate(self, request, bills, s.BillSerializer)


class BillDetailApi(APIView):
    @extend_schema(responses={200: s.BillSerializer}, tags=["city services"], summary="A bill (with its receipt)")
    def get(self, request, bill_id: int):
        bill = (Bill.objects.select_related("account__provider__city")
                .filter(pk=bill_id, account__user=request.user).first())
        if bill is None:
            raise NotFound("Bill not found.", code="bill_not_found")
        return Response(s.BillSerializer(bill).data)


class BillPayApi(APIView):
    @extend_schema(request=None, responses={200: s.BillSerializer}, tags=["city services"],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Pay a bill from the wallet",
                   description="A wallet payment to the provider's merchant account; the bill carries the "
                               "receipt. A paid bill is `bill_already_paid` (409). If the provider cannot confirm "
                               "right now the bill is `processing` (paid from the wallet; the receipt follows).")
    @idempotent_outside_transaction
    def post(self, request, bill_id: int):
        bill = city_services.bill_pay(bill_id=bill_id, user=request.user)
        return Response(s.BillSerializer(bill).data)


class TransitCardListApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS,
                   responses={200: s.PaginatedTransitCardList}, tags=["city services"],
                   summary="My transit cards")
    def get(self, request):
        cards = TransitCard.objects.filter(user=request.user).select_related("provider__city")
        return _paginate(self, request, cards, s.TransitCardSerializer)

    @extend_schema(request=s.TransitCardLinkSerializer, responses={201: s.TransitCardSerializer},
                   tags=["city services"], summary="Link a transit card")
    def post(self, request):
        serializer = s.TransitCardLinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        card = city_services.transit_card_link(user=request.user,
                                               provider=_provider(serializer.validated_data["provider_id"]),
                                               card_number=serializer.validated_data["card_number"])
        return Response(s.TransitCardSerializer(card).data, status=status.HTTP_201_CREATED)


class TransitTopUpApi(APIView):
    @extend_schema(request=s.AmountInputSerializer, responses={201: s.TransitTopUpSerializer},
                   tags=["city services"], parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Top up a transit card from the wallet")
    @idempotent
    def post(self, request, card_id: int):
        serializer = s.AmountInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            amount = Money.from_decimal(serializer.validated_data["amount"], serializer.validated_data["currency"])
        except MoneyError as exc:
            raise InvalidAmount(str(exc), code=exc.code)
        top_up = city_services.transit_card_top_up(card_id=card_id, user=request.user, amount=amount)
        top_up = type(top_up).objects.select_related("card__provider__city").get(pk=top_up.pk)
        return Response(s.TransitTopUpSerializer(top_up).data, status=status.HTTP_201_CREATED)


class ParkingSessionListApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS,
                   responses={200: s.PaginatedParkingSessionList}, tags=["city services"],
                   summary="My parking sessions")
    def get(self, request):
        return _paginate(self, request, ParkingSession.objects.filter(user=request.user), s.ParkingSessionSerializer)

    @extend_schema(request=s.ParkingRequestSerializer, responses={201: s.ParkingSessionSerializer},
                   tags=["city services"], parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Pay for parking now (15-minute blocks at the zone's hourly rate)")
    @idempotent
    def post(self, request):
        serializer = s.ParkingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        session = city_services.parking_pay(user=request.user, provider=_provider(data["provider_id"]),
                                            plate=data["plate"], minutes=data["minutes"])
        return Response(s.ParkingSessionSerializer(session).data, status=status.HTTP_201_CREATED)


class NotificationListApi(APIView):
    @extend_schema(parameters=[s.NotificationListParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedNotificationList}, tags=["notifications"],
                   summary="My notifications (bill reminders, ...)")
    def get(self, request):
        params = s.NotificationListParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        notifications = Notification.objects.filter(user=request.user)
        if params.validated_data.get("unread") is not None:
            notifications = notifications.filter(read_at__isnull=params.validated_data["unread"])
        return _paginate(self, request, notifications, s.NotificationSerializer)


class NotificationReadApi(APIView):
    @extend_schema(request=None, responses={200: s.MarkedReadSerializer}, tags=["notifications"],
                   summary="Mark a notification read")
    def post(self, request, notification_id: int):
        return Response({"marked_read": city_services.notification_mark_read(user=request.user,
                                                                             notification_id=notification_id)})


class NotificationReadAllApi(APIView):
    @extend_schema(request=None, responses={200: s.MarkedReadSerializer}, tags=["notifications"],
                   summary="Mark all my notifications read")
    def post(self, request):
        return Response({"marked_read": city_services.notification_mark_read(user=request.user)})
