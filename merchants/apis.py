"""Thin views for merchants, categories, favourites, staff editing and trips."""

import re

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from merchants import conf, geo_index, selectors, services
from merchants import serializers as s
from merchants.exceptions import UnknownVertical
from merchants.models import City, Merchant, Vertical
from merchants.renderers import ORJSONRenderer
from superapp.api import (
    CURSOR_PAGE_PARAMETERS,
    DefaultCursorPagination,
    bounded_list,
    cursor_page,
    single_page,
    validated,
)

_DECIMAL = re.compile(r"^-?\d{1,12}(\.\d{1,12})?$")
_COUNT = re.compile(r"^\d{1,4}$")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_SLUG = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_PRICE_LEVELS = re.compile(r"^[1-4](,[1-4]){0,3}$")


def _nearby_query_fast(query: dict) -> dict | None:
    """`MerchantNearbyParamsSerializer` for the plain, well-formed queries of the hot path, without building a
    serializer (about a millisecond per request). Anything unusual returns None and goes through the serializer,
    so every error message and edge case stays the serializer's; a test checks both agree."""
    params: dict = {"q": None, "city": None, "vertical": None, "category": None, "accepts_wallet": None,
                    "tax_free": None, "open_now": None, "price_level": None, "radius_m": 1000.0, "limit": 20}
    for key, value in query.items():
        if key in ("lat", "lon", "radius_m"):
            if not _DECIMAL.match(value):
                return None
            params[key] = float(value)
        elif key == "limit":
            if not _COUNT.match(value) or not 1 <= int(value) <= conf.NEARBY_MAX_LIMIT:
                return None
            params[key] = int(value)
        elif key in ("accepts_wallet", "tax_free", "open_now"):
            flag = _BOOLEANS.get(value.lower())
            if flag is None:
                return None
            params[key] = flag
        elif key in ("city", "vertical"):
            if not _SLUG.match(value) or (key == "vertical" and len(value) > 20):
                return None
            params[key] = value
        elif key == "price_level":
            if not _PRICE_LEVELS.match(value):
                return None
            params[key] = sorted({int(level) for level in value.split(",")})
        else:  # q, category (the SQL path) or anything unexpected
            return None
    if "lat" not in params or "lon" not in params:
        return None
    return params


def _search_filters(params: dict) -> dict:
    keys = ("q", "city", "vertical", "category", "accepts_wallet", "tax_free", "open_now", "price_level")
    return {key: params.get(key) for key in keys}


class CityPagination(DefaultCursorPagination):
    ordering = "pk"


@extend_schema(tags=["cities"], auth=[], summary="Cities (reference data, public)")
class CityListApi(generics.ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = s.CitySerializer
    queryset = City.objects.all()
    pagination_class = CityPagination


class CategoryTreeApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: s.PaginatedCategoryNodeList}, tags=["merchants"], auth=[],
                   summary="The category tree (public)",
                   extensions=bounded_list("One tree: the root categories with their children nested."))
    def get(self, request):
        return single_page(selectors.categories_tree())


class MerchantListApi(APIView):
    @extend_schema(parameters=[s.MerchantSearchParamsSerializer, *CURSOR_PAGE_PARAMETERS],
                   responses={200: s.PaginatedMerchantList}, operation_id="merchants_list",
                   tags=["merchants"], summary="Search merchants",
                   description="Text search and filters; `open_now` uses each merchant's own time zone. "
                               "Cursor-paginated, a fixed number of queries per page.")
    def get(self, request):
        params = validated(s.MerchantSearchParamsSerializer, request.query_params.dict())
        queryset = selectors.merchants_with_hours(selectors.merchants_search(**_search_filters(params)))
        return cursor_page(self, request, queryset, s.MerchantListSerializer)


class MerchantNearbyApi(APIView):
    # The hottest read: the access token's signature, expiry and type are verified but the user row is not loaded
    # (a query per request, a third of its cost): simplejwt's own stateless class, `request.user` is a `TokenUser`.
    # Trade-off: a user deactivated meanwhile keeps access until the token expires (`JWT_ACCESS_MINUTES`); fine
    # for this public catalogue read, which uses nothing about the user.
    authentication_classes = [JWTStatelessUserAuthentication, SessionAuthentication]
    renderer_classes = [ORJSONRenderer]

    @extend_schema(parameters=[s.MerchantNearbyParamsSerializer],
                   responses={200: s.PaginatedMerchantNearbyList}, tags=["merchants"],
                   summary="Merchants near a point, nearest first",
                   description="Within `radius_m` of (lat, lon) by great-circle distance, with the same filters "
                               "as the search; correct across the antimeridian and near the poles.",
                   extensions=bounded_list("The `limit` nearest merchants (at most 100): one page, nearest first; "
                                           "widen `radius_m` or raise `limit` for more."))
    def get(self, request):
        query = request.query_params.dict()
        params = _nearby_query_fast(query) or validated(s.MerchantNearbyParamsSerializer, query)
        filters = _search_filters(params)
        open_now = bool(filters.pop("open_now"))
        point = {"lat": params["lat"], "lon": params["lon"], "radius_m": params["radius_m"], "limit": params["limit"]}
        if not filters["q"] and not filters["category"]:
            # The hot path: the in-process index answers the geo, attribute and open-now filters.
            vertical = filters["vertical"] or None
            if vertical is not None and vertical not in Vertical.values:
                raise UnknownVertical(f"Unknown vertical {vertical!r}.", details={"vertical": vertical,
                                                                                  "allowed": Vertical.values})
            city = selectors.city_resolve(filters["city"]) if filters["city"] else None
            hits = geo_index.nearby(**point, vertical=vertical, city_id=city.pk if city else None,
                                    accepts_wallet=filters["accepts_wallet"], tax_free=filters["tax_free"],
                                    price_levels=filters["price_level"], open_now=open_now)
            return single_page(geo_index.cards(hits=hits))
        else:
            found = selectors.merchants_nearby(**point, queryset=selectors.merchants_search(**filters),
                                               open_now=open_now)
            data = s.MerchantNearbySerializer([m for m, _ in found], many=True,
                                              context={"distances": {m.pk: d for m, d in found}}).data
            return single_page(data)


class MerchantDetailApi(APIView):
    @extend_schema(responses={200: s.MerchantDetailSerializer}, tags=["merchants"], summary="A merchant",
                   description="Records a `view` interaction for the recommender (at most one per hour).")
    def get(self, request, merchant_id: int):
        merchant = selectors.merchant_get(merchant_id=merchant_id)
        services.merchant_view_record(user=request.user, merchant=merchant)
        return Response(self._render(request, merchant))

    @extend_schema(request=s.MerchantUpdateSerializer, responses={200: s.MerchantDetailSerializer},
                   tags=["merchants"], summary="Edit the listing (owner or manager)")
    def patch(self, request, merchant_id: int):
        merchant = services.merchant_for_staff(merchant_id=merchant_id, user=request.user)
        serializer = s.MerchantUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.merchant_update(merchant=merchant, actor=request.user, data=dict(serializer.validated_data))
        merchant = selectors.merchant_get(merchant_id=merchant_id, include_inactive=True)
        return Response(self._render(request, merchant))

    @staticmethod
    def _render(request, merchant: Merchant) -> dict:
        context = {
            "is_saved": selectors.merchant_is_saved(user=request.user, merchant=merchant),
            "my_role": services.merchant_staff_role(merchant=merchant, user=request.user),
        }
        return s.MerchantDetailSerializer(merchant, context=context).data


class MerchantHoursApi(APIView):
    @extend_schema(request=s.OpeningHoursReplaceSerializer, responses={200: s.OpeningHoursSerializer(many=True)},
                   tags=["merchants"], summary="Replace the weekly opening hours (owner or manager)")
    def put(self, request, merchant_id: int):
        merchant = services.merchant_for_staff(merchant_id=merchant_id, user=request.user)
        intervals = validated(s.OpeningHoursReplaceSerializer, request.data)["intervals"]
        rows = services.opening_hours_replace(merchant=merchant, actor=request.user, intervals=intervals)
        return Response(s.OpeningHoursSerializer(sorted(rows, key=lambda r: (r.weekday, r.opens)), many=True).data)


class MerchantHoursExceptionApi(APIView):
    @extend_schema(request=s.OpeningExceptionSetSerializer, responses={200: s.OpeningExceptionSerializer(many=True)},
                   tags=["merchants"], summary="Set special hours or a closed day (owner or manager)")
    def post(self, request, merchant_id: int):
        merchant = services.merchant_for_staff(merchant_id=merchant_id, user=request.user)
        data = validated(s.OpeningExceptionSetSerializer, request.data)
        rows = services.opening_exception_set(
            merchant=merchant, actor=request.user, day=data["date"], note=data["note"],
            intervals=[(span["opens"], span["closes"]) for span in data["intervals"]])
        return Response(s.OpeningExceptionSerializer(rows, many=True).data)


class MerchantSaveApi(APIView):
    @extend_schema(request=None, responses={201: s.SavedMerchantSerializer, 200: s.SavedMerchantSerializer},
                   tags=["merchants"], summary="Save (favourite) a merchant",
                   description="201 the first time, 200 if it was already saved.")
    def post(self, request, merchant_id: int):
        merchant = selectors.merchant_get(merchant_id=merchant_id)
        saved, created = services.merchant_save(user=request.user, merchant=merchant)
        saved = selectors.saved_merchants_for_user(user=request.user).get(pk=saved.pk)
        return Response(s.SavedMerchantSerializer(saved).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={204: None}, tags=["merchants"], summary="Remove from saved merchants")
    def delete(self, request, merchant_id: int):
        merchant = selectors.merchant_get(merchant_id=merchant_id, include_inactive=True)
        services.merchant_unsave(user=request.user, merchant=merchant)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SavedMerchantListApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS, responses={200: s.PaginatedSavedMerchantList},
                   tags=["merchants"],
                   summary="My saved merchants")
    def get(self, request):
        return cursor_page(self, request, selectors.saved_merchants_for_user(user=request.user),
                           s.SavedMerchantSerializer)


class MyMerchantsApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS, responses={200: s.PaginatedStaffMerchantList},
                   tags=["merchants"], summary="Merchants I work for, with my role")
    def get(self, request):
        return cursor_page(self, request, selectors.staff_roles_for_user(user=request.user),
                           s.StaffMerchantSerializer, ordering="pk")


# --- Trips --------------------------------------------------------------------------------------
class TripListApi(APIView):
    @extend_schema(parameters=CURSOR_PAGE_PARAMETERS,
                   responses={200: s.PaginatedTripList}, operation_id="trips_list", tags=["trips"], summary="My trips")
    def get(self, request):
        return cursor_page(self, request, selectors.trips_for_user(user=request.user), s.TripSerializer)

    @extend_schema(request=s.TripCreateSerializer, responses={201: s.TripSerializer}, tags=["trips"],
                   summary="Plan a trip",
                   description="While the trip is under way (local dates at the destination) the app treats "
                               "you as a traveller there: wallet offers and recommendations follow you.")
    def post(self, request):
        data = validated(s.TripCreateSerializer, request.data)
        trip = services.trip_create(user=request.user, destination=selectors.city_resolve(data["destination"]),
                                    starts_on=data["starts_on"], ends_on=data["ends_on"], title=data["title"])
        return Response(s.TripSerializer(trip).data, status=status.HTTP_201_CREATED)


class TripDetailApi(APIView):
    @extend_schema(responses={200: s.TripSerializer}, tags=["trips"], summary="A trip of mine")
    def get(self, request, trip_id: int):
        return Response(s.TripSerializer(get_object_or_404(selectors.trips_for_user(user=request.user),
                                                           pk=trip_id)).data)


class TripCancelApi(APIView):
    @extend_schema(request=None, responses={200: s.TripSerializer}, tags=["trips"], summary="Cancel a trip",
                   description="A planned trip or one under way; one that has ended is 409 `trip_completed`.")
    def post(self, request, trip_id: int):
        trip = get_object_or_404(selectors.trips_for_user(user=request.user), pk=trip_id)
        return Response(s.TripSerializer(services.trip_cancel(trip=trip)).data)


class CurrentLocationApi(APIView):
    @extend_schema(responses={200: s.CurrentLocationSerializer}, tags=["trips"],
                   summary="Where the app considers me to be (active trip, else my current city)")
    def get(self, request):
        location = selectors.user_location(request.user)
        return Response(s.CurrentLocationSerializer({
            "city": location.city, "home_city": request.user.home_city, "trip": location.trip,
            "is_traveller": location.is_traveller,
        }).data)
