from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import AllowAny

from services.models import City
from services.serializers import CitySerializer


@extend_schema(tags=["cities"], auth=[], summary="Cities (reference data, public)")
class CityListApi(generics.ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = CitySerializer
    queryset = City.objects.all()
    pagination_class = None
