from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from merchants.serializers import CityRefSerializer, MerchantListSerializer, TripSerializer
from recommender.serving import conf

REASON_KINDS = ["because_you_liked", "matches_your_interests", "friends_were_here", "popular_with_travellers",
                "popular", "new_merchant", "coupon_available", "travel_time"]


# --- Input --------------------------------------------------------------------------------------
class RecommendationParamsSerializer(serializers.Serializer):
    vertical = serializers.CharField(required=False, max_length=20,
                                     help_text="restaurant, leisure, travel or shopping (`unknown_vertical` "
                                               "otherwise); all four when omitted")
    city = serializers.CharField(required=False, max_length=100,
                                 help_text="City id or slug (`unknown_city` otherwise). Default: where you are now "
                                           "(an active trip's destination, else your current city), unless a point "
                                           "is given")
    lat = serializers.FloatField(required=False, help_text="Latitude, -90..90 (with `lon`)")
    lon = serializers.FloatField(required=False, help_text="Longitude, -180..180 (with `lat`)")
    radius_m = serializers.FloatField(required=False,
                                      help_text=f"Only merchants within this many metres of (lat, lon); at most "
                                                f"{int(conf.MAX_RADIUS_M)} (`radius_too_large`). Default 5000 "
                                                f"when a point is given")
    open_now = serializers.BooleanField(required=False, default=False,
                                        help_text="Only merchants open now in their own time zone")
    accepts_wallet = serializers.BooleanField(required=False, allow_null=True, default=None,
                                              help_text="Only merchants that accept (or don't accept) the wallet")
    exclude_seen = serializers.BooleanField(required=False, default=True,
                                            help_text="Leave out merchants you already paid, booked, visited, "
                                                      "viewed or saved")
    limit = serializers.IntegerField(required=False, default=conf.DEFAULT_LIMIT, min_value=1,
                                     help_text=f"At most {conf.MAX_LIMIT} (`limit_too_large`)")


class DestinationParamsSerializer(serializers.Serializer):
    trip = serializers.IntegerField(required=False, min_value=1, help_text="One of your trips")
    city = serializers.CharField(required=False, max_length=100, help_text="City id or slug, instead of a trip")
    per_vertical = serializers.IntegerField(required=False, default=5, min_value=1,
                                            help_text=f"Results per vertical, at most "
                                                      f"{conf.DESTINATION_MAX_PER_VERTICAL} (`limit_too_large`)")
    exclude_seen = serializers.BooleanField(required=False, default=False)


class SimilarParamsSerializer(serializers.Serializer):
    city = serializers.CharField(required=False, max_length=100,
                                 help_text="Look in this city (id or slug) instead of the merchant's own, e.g. "
                                           "'like my favourite place at home, but in Davos'")
    vertical = serializers.CharField(required=False, max_length=20,
                                     help_text="Look in this vertical instead of the merchant's own "
                                               "(`unknown_vertical` otherwise)")
    limit = serializers.IntegerField(required=False, default=10, min_value=1,
                                     help_text=f"At most {conf.MAX_LIMIT} (`limit_too_large`)")


# --- Output -------------------------------------------------------------------------------------
class ReasonSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=REASON_KINDS)
    text = serializers.CharField()
    merchant_id = serializers.IntegerField(allow_null=True, help_text="The merchant you liked (because_you_liked)")
    count = serializers.IntegerField(allow_null=True, help_text="Friends, travellers or coupons behind the reason")


class CouponOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    description = serializers.CharField()


class RecommendedMerchantSerializer(serializers.Serializer):
    merchant = MerchantListSerializer()
    score = serializers.FloatField(help_text="Ranking score within this page (its scale depends on `via`)")
    via = serializers.ChoiceField(choices=["model", "content", "popularity"],
                                  help_text="What ranked this merchant: the model's factors, content similarity "
                                            "to your profile, or popularity")
    reasons = ReasonSerializer(many=True)
    distance_m = serializers.FloatField(allow_null=True, help_text="From the requested point (lat/lon)")
    eta_minutes = serializers.FloatField(allow_null=True,
                                         help_text="Driving minutes now from the requested point (traffic), "
                                                   "when known")
    coupons = serializers.SerializerMethodField(help_text="Coupon campaigns you can use there")

    @extend_schema_field(CouponOfferSerializer(many=True))
    def get_coupons(self, rec) -> list:
        return CouponOfferSerializer(rec.coupons, many=True).data


class RecommendationPageSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="`model:<algorithm>:v<version>` or the fallback that answered: "
                                             "`fallback:content+popularity`, `fallback:popularity`")
    model_version = serializers.IntegerField(allow_null=True)
    fallback_reason = serializers.CharField(allow_null=True,
                                            help_text="Why a fallback answered: no_active_model, "
                                                      "user_unknown_to_model or candidates_unknown_to_model "
                                                      "(no merchant the filters allow is in the model yet)")
    city = CityRefSerializer(allow_null=True)
    results = RecommendedMerchantSerializer(many=True)


class DestinationSectionSerializer(serializers.Serializer):
    vertical = serializers.CharField()
    source = serializers.CharField(help_text="`model:...`, `fallback:content+popularity` or "
                                             "`fallback:travellers_popularity`")
    fallback_reason = serializers.CharField(allow_null=True)
    results = RecommendedMerchantSerializer(many=True)


class DestinationPageSerializer(serializers.Serializer):
    city = CityRefSerializer()
    trip = TripSerializer(allow_null=True)
    is_traveller = serializers.BooleanField()
    local_signals = serializers.IntegerField(help_text="Your own interactions with merchants of this city")
    model_version = serializers.IntegerField(allow_null=True)
    sections = DestinationSectionSerializer(many=True)


class SimilarPageSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="`model:<algorithm>:v<version>` or `fallback:content`")
    model_version = serializers.IntegerField(allow_null=True)
    results = RecommendedMerchantSerializer(many=True)
