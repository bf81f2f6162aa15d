"""Thin views over `recommender.serving.services`."""

from __future__ import annotations

import functools

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from merchants.exceptions import RadiusTooLarge, UnknownVertical
from merchants.models import Trip, Vertical
from merchants.renderers import ORJSONRenderer
from merchants.selectors import trip_status, trips_for_user, validate_point
from recommender.serving import conf, services
from recommender.serving import serializers as s
from recommender.serving.catalogue import city_resolve_cached, user_cities_attach
from recommender.serving.exceptions import (
    DestinationConflict,
    LimitTooLarge,
    LocationIncomplete,
    TripNotFound,
)
from superapp.accounts.authentication import CachedUserJWTAuthentication
from superapp.api import bounded_list

DEFAULT_RADIUS_M = 5000.0
_CITY_REF_FIELDS = ("id", "slug", "name", "country_code", "currency", "time_zone")


def _city_ref(city) -> dict | None:
    """`CityRefSerializer`'s shape."""
    return {name: getattr(city, "pk" if name == "id" else name) for name in _CITY_REF_FIELDS} if city else None


_DATE, _DATETIME = serializers.DateField(), serializers.DateTimeField()


def trip_card(trip: Trip) -> dict:
    """`TripSerializer(trip).data`, built directly: the model serializer builds its fields on every use, which
    cost about a sixth of a destination page's CPU (a test checks the two agree)."""
    return {"id": trip.pk, "destination": _city_ref(trip.destination),
            "starts_on": _DATE.to_representation(trip.starts_on), "ends_on": _DATE.to_representation(trip.ends_on),
            "title": trip.title, "status": trip_status(trip),
            "created_at": _DATETIME.to_representation(trip.created_at)}


@functools.lru_cache(maxsize=4096)
def _validated(serializer_class, items: tuple[tuple[str, str], ...]) -> dict:
    serializer = serializer_class(data=dict(items))
    serializer.is_valid(raise_exception=True)  # an error is raised each time, never remembered
    return dict(serializer.validated_data)


def _query(serializer_class, request) -> dict:
    """The query's parameters validated by `serializer_class` (the schema's declaration). Validation depends
    on the query string alone, so a process remembers the last few thousand valid ones (building a DRF
    serializer costs about a tenth of a cached page). A copy: callers may not change what is remembered."""
    # A plain dict, so a missing boolean stays at its default instead of HTML-form False.
    return dict(_validated(serializer_class, tuple(sorted(request.query_params.dict().items()))))


def _check_limit(value: int, maximum: int, name: str = "limit") -> int:
    if value > maximum:
        # The value is not echoed: a client's 10**30 cannot be rendered as a JSON integer by every client.
        raise LimitTooLarge(f"`{name}` is at most {maximum}.", details={"max": maximum})
    return value


def _request_from(params: dict) -> services.RecommendationRequest:
    vertical = params.get("vertical")
    if vertical and vertical not in conf.RECOMMENDABLE_VERTICALS:
        raise UnknownVertical(f"Unknown vertical {vertical!r}.",
                              details={"vertical": vertical, "allowed": list(conf.RECOMMENDABLE_VERTICALS)})
    city = city_resolve_cached(params["city"]) if params.get("city") else None
    lat, lon, radius = params.get("lat"), params.get("lon"), params.get("radius_m")
    if (lat is None) != (lon is None) or (radius is not None and lat is None):
        raise LocationIncomplete(details={k: params.get(k) for k in ("lat", "lon", "radius_m")})
    if lat is not None:
        radius = DEFAULT_RADIUS_M if radius is None else radius
        if radius > conf.MAX_RADIUS_M:
            raise RadiusTooLarge(f"The radius is at most {int(conf.MAX_RADIUS_M)} m.",
                                 details={"radius_m": radius, "max_radius_m": conf.MAX_RADIUS_M})
        validate_point(lat=lat, lon=lon, radius_m=radius)
    return services.RecommendationRequest(
        verticals=(vertical,) if vertical else conf.RECOMMENDABLE_VERTICALS, city=city, lat=lat, lon=lon,
        radius_m=radius if lat is not None else None, open_now=params["open_now"],
        accepts_wallet=params["accepts_wallet"], exclude_seen=params["exclude_seen"],
        limit=_check_limit(params["limit"], conf.MAX_LIMIT))


class _RecommendationView(APIView):
    # The project's authentication (the user row from the accounts cache), then the user's home and current
    # city from the catalogue, so a page reads no user or city row; pages are built as plain dicts in the
    # schema's shapes and rendered by orjson (see docs/recommendations.md).
    renderer_classes = [ORJSONRenderer]
    # The page's own cache keys (`services.page_cache_keys`), fetched by the authentication in the user row's
    # round trip: one Redis round trip a page instead of two. None: the view reads nothing ahead.
    prefetch_keys = None

    def get_authenticators(self):
        authenticators = super().get_authenticators()
        if self.prefetch_keys is not None:
            for authenticator in authenticators:
                if isinstance(authenticator, CachedUserJWTAuthentication):
                    authenticator.prefetch = self.prefetch_keys
        return authenticators

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticates and checks permissions
        user_cities_attach(request.user)

    def prefetched(self, request) -> dict | None:
        """The page's keys read with the user row, when the token's authentication read them."""
        return getattr(request.successful_authenticator, "prefetched", None)


class RecommendationsApi(_RecommendationView):
    prefetch_keys = staticmethod(services.page_cache_keys)

    @extend_schema(
        parameters=[s.RecommendationParamsSerializer], responses={200: s.RecommendationPageSerializer},
        tags=["recommendations"], summary="Personalised merchants for me, filtered and explained",
        description=(
            "Ranks only the merchants the filters allow (vertical, city, radius around lat/lon, open now in "
            "the merchant's time zone, accepts the wallet, not already seen), so a narrow filter still gets a "
            "full page. Each result says why (`reasons`: because you liked X, N friends were here, popular "
            "with travellers from your city, coupon available...). `source` says which model version or "
            "fallback answered; having no active model is not an error."),
        extensions=bounded_list("The top `limit` merchants of a ranking (at most 50 by default): one page."))
    def get(self, request):
        page = services.recommendations_for_user(user=request.user,
                                                 request=_request_from(_query(s.RecommendationParamsSerializer,
                                                                              request)),
                                                 prefetched=self.prefetched(request))
        return Response({"source": page.source, "model_version": page.model_version,
                         "fallback_reason": page.fallback_reason, "city": _city_ref(page.city),
                         "results": [r.as_dict() for r in page.results]})


class DestinationRecommendationsApi(_RecommendationView):
    prefetch_keys = staticmethod(services.page_cache_keys)

    @extend_schema(
        parameters=[s.DestinationParamsSerializer], responses={200: s.DestinationPageSerializer},
        tags=["recommendations"], summary="What to do at my destination (merchants that accept the wallet)",
        description=(
            "For a trip of yours (`trip`) or a city (`city`); without either, your trip under way. Restaurants, "
            "leisure, travel and shopping at the destination that accept the wallet, with the coupons that "
            "apply. Ranked by your factors over that city's merchants (what people like you liked there), "
            "else by content similarity to what you like at home, else by popularity among travellers."))
    def get(self, request):
        params = _query(s.DestinationParamsSerializer, request)
        per_vertical = _check_limit(params["per_vertical"], conf.DESTINATION_MAX_PER_VERTICAL, "per_vertical")
        if params.get("trip") and params.get("city"):
            raise DestinationConflict()
        trip = None
        if params.get("trip"):
            trip = trips_for_user(user=request.user).filter(pk=params["trip"]).first()
            if trip is None:
                raise TripNotFound()
            city = trip.destination
        elif params.get("city"):
            city = city_resolve_cached(params["city"])
        else:
            city = None  # the trip under way, from the user's cached trips
        page = services.destination_recommendations(user=request.user, city=city, trip=trip,
                                                    per_vertical=per_vertical, exclude_seen=params["exclude_seen"],
                                                    prefetched=self.prefetched(request))
        return Response({
            "city": _city_ref(page.city), "trip": trip_card(page.trip) if page.trip else None,
            "is_traveller": page.is_traveller, "local_signals": page.local_signals,
            "model_version": page.model_version,
            "sections": [{"vertical": section.vertical, "source": section.source,
                          "fallback_reason": section.fallback_reason,
                          "results": [r.as_dict() for r in section.results]} for section in page.sections]})


class SimilarMerchantsApi(_RecommendationView):
    @extend_schema(
        parameters=[s.SimilarParamsSerializer], responses={200: s.SimilarPageSerializer},
        tags=["recommendations"], summary="Merchants similar to this one",
        description="Nearest by the active model's item factors; content similarity (categories, name, "
                    "description) for merchants the model does not know yet or to fill the page.",
        extensions=bounded_list("The `limit` most similar merchants (at most 50 by default): one page."))
    def get(self, request, merchant_id: int):
        params = _query(s.SimilarParamsSerializer, request)
        limit = _check_limit(params["limit"], conf.MAX_LIMIT)
        vertical = params.get("vertical")
        if vertical and vertical not in Vertical.values:
            raise UnknownVertical(f"Unknown vertical {vertical!r}.",
                                  details={"vertical": vertical, "allowed": list(Vertical.values)})
        city = city_resolve_cached(params["city"]) if params.get("city") else None
        page = services.similar_merchants(merchant_id=merchant_id, city=city, vertical=vertical, limit=limit)
        return Response({"source": page.source, "model_version": page.model_version,
                         "results": [r.as_dict() for r in page.results]})
