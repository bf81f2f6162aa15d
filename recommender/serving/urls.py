from django.urls import path

from recommender.serving import apis

urlpatterns = [
    path("recommendations", apis.RecommendationsApi.as_view(), name="recommendations"),
    path("recommendations/destination", apis.DestinationRecommendationsApi.as_view(),
         name="recommendations-destination"),
    path("merchants/<int:merchant_id>/similar", apis.SimilarMerchantsApi.as_view(), name="merchant-similar"),
]
