import io
import random

import pytest
from django.db.models import Count, Sum

from merchants.models import Merchant
from recommender.models import Interaction
from recommender.seed import interactions_from_social
from superapp.social.models import CheckIn, Post, Review, SocialStats
from superapp.social.seed import seed
from tests.factories import MerchantFactory, UserFactory, city

pytestmark = pytest.mark.django_db


def test_seed_without_merchants_writes_plain_posts_only():
    UserFactory.create_batch(6)
    seed(rng=random.Random(1), stdout=io.StringIO())
    assert Post.objects.exists()
    assert not Post.objects.exclude(kind="post").exists()


def test_seed_builds_a_consistent_world_with_signal_for_the_recommender():
    users = UserFactory.create_batch(12) + UserFactory.create_batch(4, home_city=city("zurich"),
                                                                     current_city=city("zurich"))
    for slug in ("hangzhou", "zurich"):
        MerchantFactory.create_batch(8, city=city(slug))
    seed(rng=random.Random(7), stdout=io.StringIO())
    assert Review.objects.exists() and CheckIn.objects.exists()
    for merchant in Merchant.objects.all():
        agg = Review.objects.filter(merchant=merchant).aggregate(n=Count("id"), total=Sum("rating"))
        assert (merchant.rating_count, merchant.rating_sum) == (agg["n"], agg["total"] or 0)
    # Mostly at home: most visits of the Zurich residents are in Zurich.
    zurich_visits = CheckIn.objects.filter(user__in=users[12:])
    assert zurich_visits.filter(merchant__city__slug="zurich").count() > zurich_visits.count() / 2
    interactions_from_social()  # the recommender's seeder turns the social world into its signals
    assert Interaction.objects.filter(kind="review").count() == Review.objects.count()
    assert Interaction.objects.filter(kind="checkin").count() == CheckIn.objects.count()
    for stats in SocialStats.objects.all():
        assert stats.posts_count == Post.objects.filter(author_id=stats.user_id).count()
