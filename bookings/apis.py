"""Thin views for the booking agency: products, availability, quote, hold, pay, cancel."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings import selectors
from bookings import serializers as s
from bookings import services as booking
from bookings.selectors import MAX_AVAILABILITY_DAYS
from merchants import selectors as merchant_selectors
from merchants import services
from merchants.models import StaffRole
from superapp.api import CURSOR_PAGE_PARAMETERS, IDEMPOTENCY_KEY_PARAMETER, cursor_page, validated
from superapp.idempotency import idempotent


def _rendered(user, booking_id: int) -> dict:
    return s.BookingSerializer(selectors.booking_of_user(user=user, booking_id=booking_id)).data


def _booking_args(data: dict) -> dict:
    return {"day": data["date"], "check_out": data["check_out"], "at_time": data["time"],
            "party_size": data["party_size"], "rooms": data["rooms"]}


class MerchantProductsApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS, responses={200: s.PaginatedProductList}, tags=["bookings"],
                   summary="Bookable products of a merchant (rooms, tables, tours)")
    def get(self, request, merchant_id: int):
        merchant = merchant_selectors.merchant_get(merchant_id=merchant_id)
        return cursor_page(self, request, selectors.products_of_merchant(merchant=merchant),
                           s.ProductSerializer, ordering="pk")


class ProductAvailabilityApi(APIView):
    @extend_schema(parameters=[s.AvailabilityParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedSlotList}, tags=["bookings"],
                   summary="Availability and prices of a product by date and slot",
                   description=f"In date and time order, at most {MAX_AVAILABILITY_DAYS} days from `date_from`.")
    def get(self, request, product_id: int):
        product = selectors.product_bookable(product_id=product_id)
        params = validated(s.AvailabilityParamsSerializer, request.query_params.dict())
        slots = selectors.product_availability(product=product, now=timezone.now(),
                                               date_from=params.get("date_from"), date_to=params.get("date_to"))
        return cursor_page(self, request, slots, s.SlotSerializer, ordering=("date", "start_time"))


class BookingQuoteApi(APIView):
    @extend_schema(request=s.BookingRequestSerializer, responses={200: s.QuoteSerializer}, tags=["bookings"],
                   summary="Quote a booking (price, availability, cancellation deadline); writes nothing")
    def post(self, request):
        data = validated(s.BookingRequestSerializer, request.data)
        quote = booking.booking_quote(product=selectors.product_bookable(product_id=data["product_id"]),
                                      **_booking_args(data))
        return Response(s.QuoteSerializer({
            "product": quote.product, "first_date": quote.first_date, "last_date": quote.last_date,
            "starts_at": quote.starts_at, "units": quote.units, "party_size": quote.party_size,
            "amount": s.MoneySerializer.of(quote.amount.amount, quote.amount.currency),
            "available": quote.available, "free_cancellation_until": quote.free_cancellation_until}).data)


class BookingListApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS,
                   responses={200: s.PaginatedBookingList}, tags=["bookings"], summary="My bookings",
                   operation_id="bookings_list")
    def get(self, request):
        return cursor_page(self, request, selectors.bookings_for_user(user=request.user), s.BookingSerializer)

    @extend_schema(request=s.BookingRequestSerializer, responses={201: s.BookingSerializer}, tags=["bookings"],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Hold a booking (reserves inventory)",
                   description="The inventory is reserved for the product's `hold_minutes`; pay before "
                               "`hold_expires_at`. Errors: `booking_in_past`, `party_size_above_capacity`, "
                               "`invalid_booking_dates`, `no_availability` (409).")
    @idempotent
    def post(self, request):
        data = validated(s.BookingRequestSerializer, request.data)
        held = booking.booking_hold(user=request.user, product=selectors.product_bookable(
            product_id=data["product_id"]), **_booking_args(data))
        return Response(_rendered(request.user, held.pk), status=status.HTTP_201_CREATED)


class BookingDetailApi(APIView):
    @extend_schema(responses={200: s.BookingSerializer}, tags=["bookings"], summary="A booking of mine")
    def get(self, request, booking_id: int):
        return Response(_rendered(request.user, booking_id))


class BookingPayApi(APIView):
    @extend_schema(request=None, responses={200: s.BookingSerializer}, tags=["bookings"],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Pay a held booking from the wallet",
                   description="Errors: `hold_expired` (409), `booking_state_conflict` (409), and the wallet's "
                               "(e.g. `insufficient_funds`).")
    @idempotent
    def post(self, request, booking_id: int):
        paid = booking.booking_pay(booking_id=booking_id, user=request.user)
        return Response(_rendered(request.user, paid.pk))


class BookingCancelApi(APIView):
    @extend_schema(request=None, responses={200: s.BookingSerializer}, tags=["bookings"],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Cancel a booking (refund per the policy)",
                   description="Free until `free_cancellation_hours` before the start, then the product's fee; "
                               "the rest is refunded to the wallet. A hold that has lapsed (`expired`) is 409 "
                               "`hold_expired`; one that has started is 409 `booking_already_started`.")
    @idempotent
    def post(self, request, booking_id: int):
        cancelled = booking.booking_cancel(booking_id=booking_id, user=request.user)
        return Response(_rendered(request.user, cancelled.pk))


class MerchantBookingsApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS, responses={200: s.PaginatedBookingList}, tags=["bookings"],
                   summary="Bookings of a merchant (its staff only)")
    def get(self, request, merchant_id: int):
        merchant = services.merchant_for_staff(merchant_id=merchant_id, user=request.user,
                                               roles=tuple(StaffRole.values))
        return cursor_page(self, request, selectors.bookings_of_merchant(merchant=merchant),
                           s.BookingSerializer)
