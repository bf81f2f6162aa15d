
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from merchants import conf
from merchants.models import Category, City, Merchant, OpeningException, OpeningHours, Trip, TripReadStatus
from merchants.selectors import merchant_is_open, trip_status
from superapp.api import paginated


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


PaginatedMerchantList = paginated(MerchantListSerializer, "PaginatedMerchantList")
PaginatedSavedMerchantList = paginated(SavedMerchantSerializer, "PaginatedSavedMerchantList")
PaginatedTripList = paginated(TripSerializer, "PaginatedTripList")
PaginatedCategoryNodeList = paginated(CategoryNodeSerializer, "PaginatedCategoryNodeList")
PaginatedMerchantNearbyList = paginated(MerchantNearbySerializer, "PaginatedMerchantNearbyList")
PaginatedStaffMerchantList = paginated(StaffMerchantSerializer, "PaginatedStaffMerchantList")
