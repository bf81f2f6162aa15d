from rest_framework import serializers

from services.models import City


class CitySerializer(serializers.ModelSerializer):
    class Meta:
        model = City
        fields = ["id", "name", "slug", "country_code", "currency", "time_zone", "latitude", "longitude", "vat_rate"]
