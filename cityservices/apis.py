"""Thin views for city services: catalogue, bill accounts, bills, transit cards, parking, notifications."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from cityservices import selectors
from cityservices import serializers as s
from cityservices import services as city_services
from superapp.api import CURSOR_PAGE_PARAMETERS, IDEMPOTENCY_KEY_PARAMETER, cursor_page, validated
from superapp.idempotency import idempotent, idempotent_outside_transaction


class CityServicesApi(APIView):
    @extend_schema(parameters=[s.CityServicesParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedServiceProviderList},
                   tags=["city services"],
                   summary="The city's service providers (bills, transit, parking, public offices)")
    def get(self, request):
        wanted = validated(s.CityServicesParamsSerializer, request.query_params.dict()).get("city")
        city = selectors.city_asked_or_current(user=request.user, wanted=wanted)
        return cursor_page(self, request, selectors.providers_in_city(city=city), s.ServiceProviderSerializer,
                           ordering="pk")


class BillAccountListApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS,
                   responses={200: s.PaginatedBillAccountList}, tags=["city services"],
                   summary="My linked bill accounts")
    def get(self, request):
        return cursor_page(self, request, selectors.bill_accounts_for(user=request.user), s.BillAccountSerializer)

    @extend_schema(request=s.BillAccountLinkSerializer, responses={201: s.BillAccountSerializer},
                   tags=["city services"], summary="Link a bill account (provider + customer number + proof)",
                   description="The provider validates the number (`invalid_customer_number`); the amount of the "
                               "account's latest bill proves it is yours (`bill_account_proof_invalid`; 5 wrong "
                               "answers per hour, then 429); due bills are fetched at once. Linking the same "
                               "account twice is `bill_account_exists` (409).")
    def post(self, request):
        data = validated(s.BillAccountLinkSerializer, request.data)
        provider = selectors.provider_active(provider_id=data["provider_id"])
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
        account = selectors.bill_account_of(user=request.user, account_id=account_id)
        city_services.bills_refresh(account=account)
        return Response(s.BillSerializer(selectors.bills_of_account(account=account), many=True).data)


class BillListApi(APIView):
    @extend_schema(parameters=[s.BillListParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedBillList},
                   operation_id="bills_list",
                   tags=["city services"], summary="My bills (due and paid)")
    def get(self, request):
        params = validated(s.BillListParamsSerializer, request.query_params.dict())
        return cursor_page(self, request, selectors.bills_for(user=request.user, status=params.get("status")),
                           s.BillSerializer)


class BillDetailApi(APIView):
    @extend_schema(responses={200: s.BillSerializer}, tags=["city services"], summary="A bill (with its receipt)")
    def get(self, request, bill_id: int):
        return Response(s.BillSerializer(selectors.bill_of(user=request.user, bill_id=bill_id)).data)


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
        return cursor_page(self, request, selectors.transit_cards_for(user=request.user), s.TransitCardSerializer)

    @extend_schema(request=s.TransitCardLinkSerializer, responses={201: s.TransitCardSerializer},
                   tags=["city services"], summary="Link a transit card")
    def post(self, request):
        data = validated(s.TransitCardLinkSerializer, request.data)
        card = city_services.transit_card_link(user=request.user,
                                               provider=selectors.provider_active(provider_id=data["provider_id"]),
                                               card_number=data["card_number"])
        return Response(s.TransitCardSerializer(card).data, status=status.HTTP_201_CREATED)


class TransitTopUpApi(APIView):
    @extend_schema(request=s.AmountInputSerializer, responses={201: s.TransitTopUpSerializer},
                   tags=["city services"], parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Top up a transit card from the wallet")
    @idempotent
    def post(self, request, card_id: int):
        amount = validated(s.AmountInputSerializer, request.data)["amount"]
        top_up = city_services.transit_card_top_up(card_id=card_id, user=request.user, amount=amount)
        return Response(s.TransitTopUpSerializer(selectors.transit_top_up_get(top_up_id=top_up.pk)).data,
                        status=status.HTTP_201_CREATED)


class ParkingSessionListApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS,
                   responses={200: s.PaginatedParkingSessionList}, tags=["city services"],
                   summary="My parking sessions")
    def get(self, request):
        return cursor_page(self, request, selectors.parking_sessions_for(user=request.user),
                           s.ParkingSessionSerializer)

    @extend_schema(request=s.ParkingRequestSerializer, responses={201: s.ParkingSessionSerializer},
                   tags=["city services"], parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Pay for parking now (15-minute blocks at the zone's hourly rate)")
    @idempotent
    def post(self, request):
        data = validated(s.ParkingRequestSerializer, request.data)
        provider = selectors.provider_active(provider_id=data["provider_id"])
        session = city_services.parking_pay(user=request.user, provider=provider, plate=data["plate"],
                                            minutes=data["minutes"])
        return Response(s.ParkingSessionSerializer(session).data, status=status.HTTP_201_CREATED)


class NotificationListApi(APIView):
    @extend_schema(parameters=[s.NotificationListParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedNotificationList}, tags=["notifications"],
                   summary="My notifications (bill reminders, ...)")
    def get(self, request):
        params = validated(s.NotificationListParamsSerializer, request.query_params.dict())
        return cursor_page(self, request, selectors.notifications_for(user=request.user, unread=params.get("unread")),
                           s.NotificationSerializer)


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
