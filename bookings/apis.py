"""Thin views for the booking agency: products, availability, quote, hold, pay, cancel."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings import serializers as s
from bookings import services as booking
from bookings.models import Booking, InventorySlot, Product
from merchants import selectors, services
from merchants.models import StaffRole
from superapp.api import CURSOR_PAGE_PARAMETERS, IDEMPOTENCY_KEY_PARAMETER, DefaultCursorPagination, cursor_page
from superapp.exceptions import NotFound
from superapp.idempotency import idempotent

MAX_AVAILABILITY_DAYS = 60


def _product(product_id: int) -> Product:
    product = Product.objects.select_related("merchant").filter(pk=product_id, is_active=True,
                                                                merchant__is_active=True).first()
    if product is None:
        raise NotFound("Product not found.", code="product_not_found")
    return product


def _bookings_for(user):
    return Booking.objects.filter(user=user).select_related("product__merchant")


def _booking_args(data: dict) -> dict:
    return {"day": data["date"], "check_out": data["check_out"], "at_time": data["time"],
            "party_size": data["party_size"], "rooms": data["rooms"]}


class MerchantProductsApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS, responses={200: s.PaginatedProductList}, tags=["bookings"],
                   summary="Bookable products of a merchant (rooms, tables, tours)")
    def get(self, request, merchant_id: int):
        merchant = selectors.merchant_get(merchant_id=merchant_id)
        return cursor_page(self, request, merchant.products.filter(is_active=True), s.ProductSerializer,
                           ordering="pk")


class ProductAvailabilityApi(APIView):
    @extend_schema(parameters=[s.AvailabilityParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedSlotList}, tags=["bookings"],
                   summary="Availability and prices of a product by date and slot",
                   description=f"In date and time order, at most {MAX_AVAILABILITY_DAYS} days from `date_from`.")
    def get(self, request, product_id: int):
        product = _product(product_id)
        params = s.AvailabilityParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        today = booking.local_now(product, timezone.now()).date()
        date_from = params.validated_data.get("date_from") or today
        if date_from > today + timedelta(days=booking.MAX_DAYS_AHEAD):
            slots = InventorySlot.objects.none()  # nothing is on sale that far ahead
        else:
            date_to = params.validated_data.get("date_to") or date_from + timedelta(days=MAX_AVAILABILITY_DAYS)
            date_to = min(date_to, date_from + timedelta(days=MAX_AVAILABILITY_DAYS))
            slots = InventorySlot.objects.filter(product=product, date__gte=max(date_from, today),
                                                 date__lte=date_to).select_related("product")
        slots = booking.slots_with_availability(slots, now=timezone.now())  # lapsed holds do not count
        return cursor_page(self, request, slots, s.SlotSerializer, ordering=("date", "start_time"))


class BookingQuoteApi(APIView):
    @extend_schema(request=s.BookingRequestSerializer, responses={200: s.QuoteSerializer}, tags=["bookings"],
                   summary="Quote a booking (price, availability, cancellation deadline); writes nothing")
    def post(self, request):
        serializer = s.BookingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quote = booking.booking_quote(product=_product(serializer.validated_data["product_id"]),
                                      **_booking_args(serializer.validated_data))
        return Response(s.QuoteSerializer({
            "product": quote.product, "first_date": quote.first_date, "last_date": quote.last_date,
            "starts_at": quote.starts_at, "units": quote.units, "party_size": quote.party_size,
            "amount": s.MoneySerializer.of(quote.amount.amount, quote.amount.currency),
            "available": quote.available, "free_cancellation_until": quote.free_cancellation_until}).data)


class BookingListApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS,
                   responses={200: s.PaginatedBookingList}, tags=["bookings"], summary="My bookings",
                   operation_id="bookings_list")
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(_bookings_for(request.user), request, view=self)
        return paginator.get_paginated_response(s.BookingSerializer(page, many=True).data)

    @extend_schema(request=s.BookingRequestSerializer, responses={201: s.BookingSerializer}, tags=["bookings"],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Hold a booking (reserves inventory)",
                   description="The inventory is reserved for the product's `hold_minutes`; pay before "
                               "`hold_expires_at`. Errors: `booking_in_past`, `party_size_above_capacity`, "
                               "`invalid_booking_dates`, `no_availability` (409).")
    @idempotent
    def post(self, request):
        serializer = s.BookingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        held = booking.booking_hold(user=request.user, product=_product(serializer.validated_data["product_id"]),
                                    **_booking_args(serializer.validated_data))
        return Response(s.BookingSerializer(_bookings_for(request.user).get(pk=held.pk)).data,
                        status=status.HTTP_201_CREATED)


class BookingDetailApi(APIView):
    @extend_schema(responses={200: s.BookingSerializer}, tags=["bookings"], summary="A booking of mine")
    def get(self, request, booking_id: int):
        found = _bookings_for(request.user).filter(pk=booking_id).first()
        if found is None:
            raise NotFound("Booking not found.", code="booking_not_found")
        return Response(s.BookingSerializer(found).data)


class BookingPayApi(APIView):
    @extend_schema(request=None, responses={200: s.BookingSerializer}, tags=["bookings"],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Pay a held booking from the wallet",
                   description="Errors: `hold_expired` (409), `booking_state_conflict` (409), and the wallet's "
                               "(e.g. `insufficient_funds`).")
    @idempotent
    def post(self, request, booking_id: int):
        paid = booking.booking_pay(booking_id=booking_id, user=request.user)
        return Response(s.BookingSerializer(_bookings_for(request.user).get(pk=paid.pk)).data)


class BookingCancelApi(APIView):
    @extend_schema(request=None, responses={200: s.BookingSerializer}, tags=["bookings"],
                   parameters=[IDEMPOTENCY_KEY_PARAMETER], summary="Cancel a booking (refund per the policy)",
                   description="Free until `free_cancellation_hours` before the start, then the product's fee; "
                               "the rest is refunded to the wallet. A hold that has lapsed (`expired`) is 409 "
                               "`hold_expired`; one that has started is 409 `booking_already_started`.")
    @idempotent
    def post(self, request, booking_id: int):
        cancelled = booking.booking_cancel(booking_id=booking_id, user=request.user)
        return Response(s.BookingSerializer(_bookings_for(request.user).get(pk=cancelled.pk)).data)


class MerchantBookingsApi(APIView):
    pagination_class = DefaultCursorPagination

    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS, responses={200: s.PaginatedBookingList}, tags=["bookings"],
                   summary="Bookings of a merchant (its staff only)")
    def get(self, request, merchant_id: int):
        merchant = selectors.merchant_get(merchant_id=merchant_id, include_inactive=True)
        services.merchant_staff_require(merchant=merchant, user=request.user, roles=tuple(StaffRole.values))
        queryset = Booking.objects.filter(product__merchant=merchant).select_related("product__merchant")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(s.BookingSerializer(page, many=True).data)
