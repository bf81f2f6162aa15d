from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from merchants.models import City
from superapp.accounts.models import LANGUAGES, User
from superapp.money import CURRENCY_EXPONENTS


class CitySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = City
        fields = ["id", "name", "country_code", "currency", "time_zone"]


class ProfileSerializer(serializers.ModelSerializer):
    # Blank is a valid stored value; the schema's uri/email formats would reject "".
    email = serializers.CharField(read_only=True)
    avatar_url = serializers.CharField(read_only=True)
    home_city = CitySummarySerializer(read_only=True, allow_null=True)
    current_city = CitySummarySerializer(read_only=True, allow_null=True)
    is_traveller = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "display_name", "avatar_url", "language", "home_city",
                  "current_city", "home_currency", "preferences", "is_traveller", "date_joined"]
        read_only_fields = fields


class ProfileUpdateSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    display_name = serializers.CharField(required=False, max_length=80, allow_blank=True)
    avatar_url = serializers.URLField(required=False, allow_blank=True, max_length=200)
    language = serializers.ChoiceField(choices=LANGUAGES, required=False)
    home_city_id = serializers.PrimaryKeyRelatedField(
        queryset=City.objects.all(), required=False, allow_null=True, source="home_city"
    )
    current_city_id = serializers.PrimaryKeyRelatedField(
        queryset=City.objects.all(), required=False, allow_null=True, source="current_city"
    )
    home_currency = serializers.ChoiceField(choices=sorted(CURRENCY_EXPONENTS), required=False)
    preferences = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=50
    )


class SignUpSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]{3,150}$", max_length=150,
                                      help_text="3-150 letters, digits and @/./+/-/_")
    password = serializers.CharField(write_only=True, min_length=8, max_length=128)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    display_name = serializers.CharField(required=False, max_length=80, allow_blank=True, default="")
    home_city_id = serializers.PrimaryKeyRelatedField(queryset=City.objects.all(), required=False,
                                                      allow_null=True, default=None)
    language = serializers.ChoiceField(choices=LANGUAGES, required=False, default="en")
    preferences = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                        max_length=50, default=list)


class LogInSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class AuthResponseSerializer(serializers.Serializer):
    user = ProfileSerializer()
    tokens = TokenPairSerializer()


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


@extend_schema_serializer(deprecate_fields=["access", "refresh"])
class RefreshResponseSerializer(serializers.Serializer):
    """Tokens come as `tokens` everywhere (log-in, sign-up, refresh)."""

    tokens = TokenPairSerializer()
    access = serializers.CharField(help_text="Deprecated: read `tokens.access`; sent until 0.3.0.")
    refresh = serializers.CharField(help_text="Deprecated: read `tokens.refresh`; sent until 0.3.0.")


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128)
    new_password = serializers.CharField(min_length=8, max_length=128)
