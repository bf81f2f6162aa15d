from datetime import datetime, timedelta

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from services import conf
from services.booking import booking_status
from services.city_services import bill_status
from services.models import (
    Appointment,
    AppointmentReadStatus,
    AppointmentSlot,
    Bill,
    BillAccount,
    BillReadStatus,
    Booking,
    BookingStatus,
    Category,
    City,
    InventorySlot,
    Merchant,
    Notification,
    OpeningException,
    OpeningHours,
    ParkingSession,
    Product,
    PublicService,
    ServiceProvider,
    TransitCard,
    TransitTopUp,
    Trip,
    TripReadStatus,
)
from services.selectors import appointment_status, merchant_is_open, trip_status
from superapp.api import AmountField, MoneySerializer, paginated


@extend_schema_field({"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", "example": "09:30:00",
                      "description": "Local wall-clock time at the merchant (no offset)"})
class LocalTimeField(serializers.TimeField):
    """A local time of day; documented as a plain HH:MM[:SS] string (JSON Schema's `time` demands an offset)."""


class CitySerializer(serializers.ModelSerializer):
    class Meta:
        model = City
        fields = ["id", "name", "slug", "country_code", "currency", "time_zone", "latitude", "longitude", "vat_rate"]


class CityRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = City
        fields = ["id", "slug", "name", "country_code", "currency", "time_zone"]


class CategoryRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "slug", "name", "vertical"]


class CategoryNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    vertical = serializers.CharField()
    children = serializers.ListField(child=serializers.DictField(), help_text="Nested nodes of the same shape.")


class OpeningHoursSerializer(serializers.ModelSerializer):
    opens = LocalTimeField(read_only=True)
    closes = LocalTimeField(read_only=True)

    class Meta:
        model = OpeningHours
        fields = ["weekday", "opens", "closes"]


class OpeningExceptionSerializer(serializers.ModelSerializer):
    is_closed = serializers.BooleanField(read_only=True)
    opens = LocalTimeField(read_only=True, allow_null=True)
    closes = LocalTimeField(read_only=True, allow_null=True)

    class Meta:
        model = OpeningException
        fields = ["date", "opens", "closes", "is_closed", "note"]


class MerchantListSerializer(serializers.ModelSerializer):
    city = CityRefSerializer(read_only=True, allow_null=True)
    categories = CategoryRefSerializer(many=True, read_only=True)
    rating_average = serializers.FloatField(read_only=True, allow_null=True)
    is_open_now = serializers.SerializerMethodField()

    class Meta:
        model = Merchant
        fields = ["id", "name", "vertical", "city", "categories", "address", "latitude", "longitude", "time_zone",
                  "price_level", "languages", "photos", "currency", "accepts_wallet", "tax_free", "rating_average",
                  "rating_count", "is_open_now"]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_is_open_now(self, merchant: Merchant) -> bool:
        if "open_ids" in self.context:  # decided by the caller (the nearby index), no hours needed
            return merchant.pk in self.context["open_ids"]
        return merchant_is_open(merchant, self.context.get("at"))


class MerchantNearbySerializer(MerchantListSerializer):
    distance_m = serializers.SerializerMethodField()

    class Meta(MerchantListSerializer.Meta):
        fields = [*MerchantListSerializer.Meta.fields, "distance_m"]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField())
    def get_distance_m(self, merchant: Merchant) -> float:
        return round(self.context["distances"][merchant.pk], 1)


class MerchantDetailSerializer(MerchantListSerializer):
    opening_hours = OpeningHoursSerializer(many=True, read_only=True)
    opening_exceptions = OpeningExceptionSerializer(many=True, read_only=True,
                                                    help_text="Special hours from two days ago to two weeks ahead.")
    is_saved = serializers.SerializerMethodField()
    my_role = serializers.SerializerMethodField()

    class Meta(MerchantListSerializer.Meta):
        fields = [*MerchantListSerializer.Meta.fields, "description", "opening_hours", "opening_exceptions",
                  "requires_confirmation", "is_active", "is_saved", "my_role"]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_is_saved(self, merchant: Merchant) -> bool:
        return bool(self.context.get("is_saved"))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_my_role(self, merchant: Merchant) -> str | None:
        return self.context.get("my_role")


class MerchantSearchParamsSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, max_length=100,
                              help_text="Text in name, description, address or category")
    city = serializers.CharField(required=False, max_length=100,
                                 help_text="City id or slug (`unknown_city` otherwise)")
    vertical = serializers.CharField(required=False, max_length=20,
                                     help_text="restaurant, leisure, travel, shopping or city_service")
    category = serializers.CharField(required=False, max_length=120,
                                     help_text="Category id or slug; includes its descendants")
    accepts_wallet = serializers.BooleanField(required=False, allow_null=True, default=None)
    tax_free = serializers.BooleanField(required=False, allow_null=True, default=None)
    open_now = serializers.BooleanField(required=False, allow_null=True, default=None,
                                        help_text="Open now in the merchant's own time zone")
    price_level = serializers.RegexField(r"^[1-4](,[1-4]){0,3}$", required=False,
                                         help_text="One or more levels 1-4, comma-separated, e.g. `1,2`")

    def validate_price_level(self, value: str) -> list[int]:
        return sorted({int(level) for level in value.split(",")})


class MerchantNearbyParamsSerializer(MerchantSearchParamsSerializer):
    lat = serializers.FloatField(help_text="Latitude in degrees, -90..90 (`invalid_latitude` otherwise)")
    lon = serializers.FloatField(help_text="Longitude in degrees, -180..180 (`invalid_longitude` otherwise)")
    radius_m = serializers.FloatField(required=False, default=1000,
                                      help_text=f"Radius in metres, at most {conf.NEARBY_MAX_RADIUS_M} "
                                                "(`radius_too_large` otherwise)")
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=conf.NEARBY_MAX_LIMIT)


class MerchantUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    address = serializers.CharField(required=False, allow_blank=True, max_length=300)
    latitude = serializers.FloatField(required=False, min_value=-90, max_value=90)
    longitude = serializers.FloatField(required=False, min_value=-180, max_value=180)
    price_level = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=4)
    languages = serializers.ListField(child=serializers.CharField(max_length=8), required=False, max_length=20)
    photos = serializers.ListField(child=serializers.URLField(max_length=500), required=False, max_length=30)
    accepts_wallet = serializers.BooleanField(required=False)
    time_zone = serializers.CharField(required=False, max_length=64)
    is_active = serializers.BooleanField(required=False)
    categories = serializers.PrimaryKeyRelatedField(queryset=Category.objects.all(), many=True, required=False)


class OpeningIntervalSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 = Monday ... 6 = Sunday")
    opens = LocalTimeField()
    closes = LocalTimeField(help_text="At or before `opens`: the interval crosses midnight")


class OpeningHoursReplaceSerializer(serializers.Serializer):
    intervals = OpeningIntervalSerializer(many=True, max_length=50)


class TimeSpanSerializer(serializers.Serializer):
    opens = LocalTimeField()
    closes = LocalTimeField()


class OpeningExceptionSetSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="Local date at the merchant")
    intervals = TimeSpanSerializer(many=True, max_length=10, required=False, default=list,
                                   help_text="Special hours; empty = closed all day")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class StaffMerchantSerializer(serializers.Serializer):
    role = serializers.CharField()
    merchant = MerchantListSerializer()


class SavedMerchantSerializer(serializers.Serializer):
    saved_at = serializers.DateTimeField(source="created_at")
    merchant = MerchantListSerializer()


class TripSerializer(serializers.ModelSerializer):
    destination = CityRefSerializer(read_only=True)
    status = serializers.SerializerMethodField(help_text="As of now: `in_progress` on the trip's local dates at "
                                                         "the destination, `completed` after them")

    class Meta:
        model = Trip
        fields = ["id", "destination", "starts_on", "ends_on", "title", "status", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=TripReadStatus.choices))
    def get_status(self, trip: Trip) -> str:
        return trip_status(trip)


class TripCreateSerializer(serializers.Serializer):
    destination = serializers.CharField(max_length=100, help_text="City id or slug")
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    title = serializers.CharField(required=False, allow_blank=True, max_length=120, default="")


class CurrentLocationSerializer(serializers.Serializer):
    city = CityRefSerializer(allow_null=True)
    home_city = CityRefSerializer(allow_null=True)
    is_traveller = serializers.BooleanField()
    trip = TripSerializer(allow_null=True)


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


# --- City services ------------------------------------------------------------------------------
class ServiceProviderSerializer(serializers.ModelSerializer):
    city = CityRefSerializer(read_only=True)
    merchant_id = serializers.IntegerField(read_only=True)
    hourly_rate = serializers.SerializerMethodField()

    class Meta:
        model = ServiceProvider
        fields = ["id", "code", "name", "kind", "city", "merchant_id", "customer_number_pattern", "hourly_rate"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer(allow_null=True))
    def get_hourly_rate(self, provider: ServiceProvider) -> dict | None:
        if provider.hourly_rate is None:
            return None
        return MoneySerializer.of(provider.hourly_rate, provider.city.currency)


class CityServicesParamsSerializer(serializers.Serializer):
    city = serializers.CharField(required=False, max_length=100, help_text="City id or slug; default: where you are")


class BillAccountSerializer(serializers.ModelSerializer):
    provider = ServiceProviderSerializer(read_only=True)

    class Meta:
        model = BillAccount
        fields = ["id", "provider", "customer_number", "nickname", "created_at"]
        read_only_fields = fields


class BillAccountLinkSerializer(serializers.Serializer):
    provider_id = serializers.IntegerField(min_value=1)
    customer_number = serializers.CharField(max_length=40)
    latest_bill_amount = AmountField(help_text="Proof that the account is yours: the amount of its latest bill "
                                               '(major units, e.g. "86.40"). 5 wrong answers per hour, then 429.')
    nickname = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")


class BillSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField(help_text="As of today at the provider: a due bill past its due "
                                                         "date is `overdue`")
    provider = serializers.SerializerMethodField()
    customer_number = serializers.CharField(source="account.customer_number", read_only=True)

    class Meta:
        model = Bill
        fields = ["id", "account_id", "provider", "customer_number", "reference", "period", "amount", "due_on",
                  "status", "paid_at", "payment_id", "receipt_number"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=BillReadStatus.choices))
    def get_status(self, bill: Bill) -> str:
        return bill_status(bill)

    @extend_schema_field(MoneySerializer)
    def get_amount(self, bill: Bill) -> dict:
        return MoneySerializer.of(bill.amount, bill.currency)

    @extend_schema_field(serializers.DictField())
    def get_provider(self, bill: Bill) -> dict:
        provider = bill.account.provider
        return {"id": provider.pk, "name": provider.name, "kind": provider.kind, "merchant_id": provider.merchant_id}


class BillListParamsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=BillReadStatus.choices, required=False)


class TransitCardSerializer(serializers.ModelSerializer):
    provider = ServiceProviderSerializer(read_only=True)
    balance = serializers.SerializerMethodField()

    class Meta:
        model = TransitCard
        fields = ["id", "provider", "card_number", "balance", "created_at"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_balance(self, card: TransitCard) -> dict:
        return MoneySerializer.of(card.balance, card.currency)


class TransitCardLinkSerializer(serializers.Serializer):
    provider_id = serializers.IntegerField(min_value=1)
    card_number = serializers.CharField(max_length=40)


class AmountInputSerializer(serializers.Serializer):
    amount = AmountField(help_text="Decimal string in major units, e.g. `50.00`")
    currency = serializers.CharField(max_length=3)


class TransitTopUpSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    balance_after = serializers.SerializerMethodField()
    card = TransitCardSerializer(read_only=True)

    class Meta:
        model = TransitTopUp
        fields = ["id", "card", "amount", "balance_after", "payment_id", "created_at"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_amount(self, top_up: TransitTopUp) -> dict:
        return MoneySerializer.of(top_up.amount, top_up.card.currency)

    @extend_schema_field(MoneySerializer)
    def get_balance_after(self, top_up: TransitTopUp) -> dict:
        return MoneySerializer.of(top_up.balance_after, top_up.card.currency)


class ParkingRequestSerializer(serializers.Serializer):
    provider_id = serializers.IntegerField(min_value=1)
    plate = serializers.RegexField(r"^[A-Za-z0-9 \-]{2,16}$", max_length=16)
    minutes = serializers.IntegerField(min_value=1, max_value=24 * 60)


class ParkingSessionSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()

    class Meta:
        model = ParkingSession
        fields = ["id", "provider_id", "plate", "starts_at", "ends_at", "amount", "payment_id", "created_at"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_amount(self, session: ParkingSession) -> dict:
        return MoneySerializer.of(session.amount, session.currency)


class NotificationSerializer(serializers.ModelSerializer):
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "data", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_is_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class NotificationListParamsSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)


class MarkedReadSerializer(serializers.Serializer):
    marked_read = serializers.IntegerField()


# Cursor-paginated envelopes for the hand-paginated list views.
# --- Public-service appointments ----------------------------------------------------------------
class PublicServiceSerializer(serializers.ModelSerializer):
    fee = serializers.SerializerMethodField()
    office = serializers.SerializerMethodField()

    class Meta:
        model = PublicService
        fields = ["id", "code", "name", "description", "fee", "duration_minutes", "office"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_fee(self, service: PublicService) -> dict:
        return MoneySerializer.of(service.fee, service.office.merchant.currency)

    @extend_schema_field(serializers.DictField())
    def get_office(self, service: PublicService) -> dict:
        office = service.office
        return {"id": office.pk, "name": office.name, "merchant_id": office.merchant_id,
                "address": office.merchant.address, "city": office.city.slug, "time_zone": office.merchant.time_zone}


class PublicServiceListParamsSerializer(serializers.Serializer):
    city = serializers.CharField(required=False, max_length=100, help_text="City id or slug; default: where you are")


class AppointmentSlotParamsSerializer(serializers.Serializer):
    date = serializers.DateField(required=False, help_text="First local date (default: today at the office)")
    days = serializers.IntegerField(required=False, default=7, min_value=1, max_value=31)


class AppointmentSlotSerializer(serializers.ModelSerializer):
    ends_at = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()

    class Meta:
        model = AppointmentSlot
        fields = ["id", "starts_at", "ends_at", "capacity", "available"]
        read_only_fields = fields

    def get_ends_at(self, slot: AppointmentSlot) -> datetime:
        return slot.starts_at + timedelta(minutes=self.context["duration_minutes"])

    def get_available(self, slot: AppointmentSlot) -> int:
        return max(0, slot.capacity - slot.booked)


class AppointmentBookSerializer(serializers.Serializer):
    slot_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class AppointmentListParamsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AppointmentReadStatus.choices, required=False,
                                     help_text="As of now: `in_progress` during the appointment, `completed` after")


class AppointmentSerializer(serializers.ModelSerializer):
    service = serializers.SerializerMethodField()
    office = serializers.SerializerMethodField()
    starts_at = serializers.DateTimeField(source="slot.starts_at", read_only=True)
    ends_at = serializers.SerializerMethodField()
    fee = serializers.SerializerMethodField()
    payment_id = serializers.IntegerField(read_only=True, allow_null=True)
    refund_id = serializers.IntegerField(read_only=True, allow_null=True)
    status = serializers.SerializerMethodField(help_text="As of now: `in_progress` from the start for the "
                                                         "service's duration, `completed` after")

    class Meta:
        model = Appointment
        fields = ["id", "status", "service", "office", "slot_id", "starts_at", "ends_at", "fee", "payment_id",
                  "refund_id", "created_at", "cancelled_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_service(self, appointment: Appointment) -> dict:
        service = appointment.slot.service
        return {"id": service.pk, "code": service.code, "name": service.name}

    @extend_schema_field(serializers.DictField())
    def get_office(self, appointment: Appointment) -> dict:
        office = appointment.slot.service.office
        return {"id": office.pk, "name": office.name, "merchant_id": office.merchant_id,
                "address": office.merchant.address, "time_zone": office.merchant.time_zone}

    def get_ends_at(self, appointment: Appointment) -> datetime:
        return appointment.slot.starts_at + timedelta(minutes=appointment.slot.service.duration_minutes)

    @extend_schema_field(serializers.ChoiceField(choices=AppointmentReadStatus.choices))
    def get_status(self, appointment: Appointment) -> str:
        return appointment_status(appointment)

    @extend_schema_field(MoneySerializer)
    def get_fee(self, appointment: Appointment) -> dict:
        return MoneySerializer.of(appointment.fee, appointment.currency)


PaginatedMerchantList = paginated(MerchantListSerializer, "PaginatedMerchantList")
PaginatedSavedMerchantList = paginated(SavedMerchantSerializer, "PaginatedSavedMerchantList")
PaginatedTripList = paginated(TripSerializer, "PaginatedTripList")
PaginatedBookingList = paginated(BookingSerializer, "PaginatedBookingList")
PaginatedBillAccountList = paginated(BillAccountSerializer, "PaginatedBillAccountList")
PaginatedBillList = paginated(BillSerializer, "PaginatedBillList")
PaginatedTransitCardList = paginated(TransitCardSerializer, "PaginatedTransitCardList")
PaginatedParkingSessionList = paginated(ParkingSessionSerializer, "PaginatedParkingSessionList")
PaginatedNotificationList = paginated(NotificationSerializer, "PaginatedNotificationList")
PaginatedAppointmentList = paginated(AppointmentSerializer, "PaginatedAppointmentList")
PaginatedCategoryNodeList = paginated(CategoryNodeSerializer, "PaginatedCategoryNodeList")
PaginatedMerchantNearbyList = paginated(MerchantNearbySerializer, "PaginatedMerchantNearbyList")
PaginatedStaffMerchantList = paginated(StaffMerchantSerializer, "PaginatedStaffMerchantList")
PaginatedProductList = paginated(ProductSerializer, "PaginatedProductList")
PaginatedSlotList = paginated(SlotSerializer, "PaginatedSlotList")
PaginatedPublicServiceList = paginated(PublicServiceSerializer, "PaginatedPublicServiceList")
PaginatedAppointmentSlotList = paginated(AppointmentSlotSerializer, "PaginatedAppointmentSlotList")
PaginatedServiceProviderList = paginated(ServiceProviderSerializer, "PaginatedServiceProviderList")
