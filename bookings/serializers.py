
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.models import Booking, BookingStatus, InventorySlot, Product
from bookings.services import booking_status
from merchants.serializers import LocalTimeField
from superapp.api import MoneySerializer, paginated


# --- Money and bookings -------------------------------------------------------------------------
class ProductSerializer(serializers.ModelSerializer):
    price = serializers.SerializerMethodField()
    start_time = LocalTimeField(read_only=True, help_text="Local check-in / start time (tables: per slot)")
    merchant_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Product
        fields = ["id", "merchant_id", "kind", "name", "description", "price", "max_party_size", "start_time",
                  "free_cancellation_hours", "cancellation_fee_percent", "hold_minutes"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_price(self, product: Product) -> dict:
        return MoneySerializer.of(product.price_amount, product.currency)


class SlotSerializer(serializers.ModelSerializer):
    """Serializes slots annotated by `booking.slots_with_availability` (lapsed holds do not count)."""

    available = serializers.IntegerField(source="free", read_only=True)
    start_time = LocalTimeField(read_only=True)
    price = serializers.SerializerMethodField()

    class Meta:
        model = InventorySlot
        fields = ["id", "date", "start_time", "capacity", "available", "price"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_price(self, slot: InventorySlot) -> dict:
        product = slot.product
        return MoneySerializer.of(slot.price_amount if slot.price_amount is not None else product.price_amount,
                                  product.currency)


class AvailabilityParamsSerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False, help_text="Default: today at the merchant")
    date_to = serializers.DateField(required=False, help_text="Default and maximum: 60 days after date_from")


class BookingRequestSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1)
    date = serializers.DateField(help_text="Local date: check-in, table date or tour date")
    check_out = serializers.DateField(required=False, allow_null=True, default=None, help_text="Hotel rooms only")
    time = LocalTimeField(required=False, allow_null=True, default=None, help_text="Table slot, e.g. 19:30")
    party_size = serializers.IntegerField(min_value=1, max_value=100)
    rooms = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=20)


class QuoteSerializer(serializers.Serializer):
    product = ProductSerializer()
    first_date = serializers.DateField()
    last_date = serializers.DateField()
    starts_at = serializers.DateTimeField()
    units = serializers.IntegerField()
    party_size = serializers.IntegerField()
    amount = MoneySerializer()
    available = serializers.BooleanField()
    free_cancellation_until = serializers.DateTimeField()


class BookingSerializer(serializers.ModelSerializer):
    product = ProductSerializer(read_only=True)
    status = serializers.SerializerMethodField(help_text="As of now: a hold past `hold_expires_at` is `expired`")
    merchant = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField()
    cancellation_fee = serializers.SerializerMethodField()
    refunded = serializers.SerializerMethodField()

    class Meta:
        model = Booking
        fields = ["id", "status", "product", "merchant", "party_size", "units", "first_date", "last_date",
                  "starts_at", "amount", "hold_expires_at", "confirmed_at", "cancelled_at", "payment_id",
                  "refund_id", "cancellation_fee", "refunded", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=BookingStatus.choices))
    def get_status(self, booking: Booking) -> str:
        return booking_status(booking)

    @extend_schema_field(serializers.DictField())
    def get_merchant(self, booking: Booking) -> dict:
        merchant = booking.product.merchant
        return {"id": merchant.pk, "name": merchant.name, "time_zone": merchant.time_zone}

    @extend_schema_field(MoneySerializer)
    def get_amount(self, booking: Booking) -> dict:
        return MoneySerializer.of(booking.amount, booking.currency)

    @extend_schema_field(MoneySerializer)
    def get_cancellation_fee(self, booking: Booking) -> dict:
        return MoneySerializer.of(booking.cancellation_fee, booking.currency)

    @extend_schema_field(MoneySerializer)
    def get_refunded(self, booking: Booking) -> dict:
        return MoneySerializer.of(booking.refunded_amount, booking.currency)


PaginatedBookingList = paginated(BookingSerializer, "PaginatedBookingList")
PaginatedProductList = paginated(ProductSerializer, "PaginatedProductList")
PaginatedSlotList = paginated(SlotSerializer, "PaginatedSlotList")
