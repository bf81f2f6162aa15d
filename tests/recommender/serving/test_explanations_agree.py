"""The page's explanations are composed from caches and per-process tables for speed; "one rule, one place"
allows that only where a test proves the fast answer equals the owning app's own: the wallet's
`coupons_applicable_by_merchant` and social's `friends_who_visited`, on generated cases."""

import contextlib
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from merchants.models import Merchant, Trip
from payments import services as wallet
from payments.selectors import coupons_applicable_by_merchant
from recommender.serving import conf
from recommender.serving.context import (
    ANYWHERE,
    NO_CIRCLE,
    UserContext,
    coupons_for,
    friends_for,
    is_traveller,
    user_contexts_warm,
)
from superapp import process_cache
from superapp.social import services as social
from superapp.social.selectors import friends_who_visited, friends_who_visited_anywhere, users_with_a_circle
from tests.factories import MerchantFactory, UserFactory, city
from tests.payments.factories import campaign, funded_user

CITIES = ("hangzhou", "davos", "shanghai")


def _generated_world(rng: random.Random):
    merchants = [MerchantFactory(city=city(rng.choice(CITIES)), vertical=rng.choice(conf.RECOMMENDABLE_VERTICALS))
                 for _ in range(14)]
    campaigns = []
    for i in range(7):
        targeting = {}
        if rng.random() < 0.4:
            targeting["cities"] = [city(c) for c in rng.sample(CITIES, rng.randint(1, 2))]
        if rng.random() < 0.4:
            targeting["verticals"] = rng.sample(conf.RECOMMENDABLE_VERTICALS, rng.randint(1, 2))
        if rng.random() < 0.3:
            targeting["merchants"] = rng.sample(merchants, rng.randint(1, 4))
        currency = "CNY" if rng.random() < 0.8 else "CHF"
        campaigns.append(campaign(
            name=f"Offer {i}", description=f"Generated {i}", currency=currency, per_user_limit=rng.randint(1, 2),
            new_users_only=rng.random() < 0.2, travellers_only=rng.random() < 0.3,
            max_redemptions=rng.choice([None, None, 5]), **targeting))
    users = []
    for i in range(6):
        home = city(rng.choice(CITIES))
        user = (funded_user("100", home_city=home, current_city=home) if i % 2
                else UserFactory(home_city=home, current_city=home))
        if rng.random() < 0.5:  # evidence of residence: a traveller on a trip abroad
            user.verified_country = "CN" if home.country_code != "CN" else "CH"
            user.save()
            today = timezone.now().date()
            Trip.objects.create(user=user, destination=city(rng.choice(CITIES)), starts_on=today - timedelta(days=1),
                                ends_on=today + timedelta(days=3), title="generated")
        for offer in rng.sample(campaigns, 2):
            with contextlib.suppress(Exception):  # not collectable for this user: that is a case too
                wallet.coupon_collect(user=user, campaign_id=offer.pk)
        users.append(user)
    return merchants, users


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_coupons_on_a_page_equal_the_wallets_answer(seed):
    merchants, users = _generated_world(random.Random(seed))
    process_cache.reset_all()  # build the catalogue afresh
    ids = sorted(Merchant.objects.filter(is_active=True, vertical__in=conf.RECOMMENDABLE_VERTICALS)
                 .values_list("pk", flat=True))
    assert {m.pk for m in merchants} <= set(ids)
    now = timezone.now()
    some = 0
    for user in users:
        ctx = UserContext(user_id=user.pk, trips=None, coupons=None, friends=None)
        got = coupons_for(user, ctx, ids, traveller=is_traveller(user, ctx, now))
        expected = {m: [(c.pk, c.name, c.description) for c in found]
                    for m, found in coupons_applicable_by_merchant(user=user, merchant_ids=ids).items()}
        assert got == expected
        some += len(got)
    assert some  # the generated cases do offer coupons somewhere


@pytest.mark.django_db
def test_users_without_a_circle_are_never_told_about_friends():
    rng = random.Random(7)
    merchants = [MerchantFactory() for _ in range(6)]
    users = [UserFactory() for _ in range(6)]
    for author in users[3:]:
        for merchant in rng.sample(merchants, 3):
            social.checkin_create(user=author, merchant_id=merchant.pk)
    request = social.friend_request_create(from_user=users[0], to_user_id=users[3].pk)
    social.friend_request_accept(user=users[3], request_id=request.pk)
    social.follow_create(follower=users[1], followee_id=users[4].pk)
    circle = users_with_a_circle(user_ids=[u.pk for u in users])
    ids = [m.pk for m in merchants]
    for user in users:
        if user.pk not in circle:
            assert friends_who_visited(user=user, merchant_ids=ids) == {}
    assert {users[0].pk, users[1].pk} <= circle and friends_who_visited(user=users[0], merchant_ids=ids)
    # The warm caches say the same as social for every user.
    from django.core.cache import cache

    from recommender.serving.context import friends_key
    user_contexts_warm({u.pk: ids for u in users}, at=timezone.now())
    for user in users:
        ctx = UserContext(user_id=user.pk, trips=None, coupons=None, friends=cache.get(friends_key(user.pk)))
        expected = {m: (len(v), str(v[0])) for m, v in friends_who_visited(user=user, merchant_ids=ids).items() if v}
        assert friends_for(user, ctx, ids) == expected and not ctx.dirty  # answered from the warm cache
        assert (ctx.friends[0] == NO_CIRCLE) == (user.pk not in circle)
    # A new friend drops the "no circle" answer: the next page asks social.
    lonely = next(u for u in users if u.pk not in circle)
    request = social.friend_request_create(from_user=lonely, to_user_id=users[4].pk)
    social.friend_request_accept(user=users[4], request_id=request.pk)
    assert cache.get(friends_key(lonely.pk)) is None


@pytest.mark.django_db
def test_friends_anywhere_agrees_with_social_for_any_merchant(settings, django_assert_num_queries):
    """The cached answer for every merchant says what social says about any merchant (one outside the list a
    page was warmed with included, without a query); a circle with more visits than the cap is asked about
    the merchants wanted instead, and says the same."""
    rng = random.Random(11)
    merchants = [MerchantFactory(city=city(rng.choice(CITIES))) for _ in range(10)]
    users = [UserFactory() for _ in range(5)]
    for author in users[1:]:
        for merchant in rng.sample(merchants, 4):
            social.checkin_create(user=author, merchant_id=merchant.pk)
    for friend in users[1:3]:
        request = social.friend_request_create(from_user=users[0], to_user_id=friend.pk)
        social.friend_request_accept(user=friend, request_id=request.pk)
    social.follow_create(follower=users[0], followee_id=users[3].pk)
    ids = [m.pk for m in merchants]
    expected = {m: (len(v), str(v[0])) for m, v in friends_who_visited(user=users[0], merchant_ids=ids).items()}
    assert expected  # the generated circle was somewhere
    ctx = UserContext(user_id=users[0].pk, trips=None, coupons=None, friends=None)
    assert friends_for(users[0], ctx, ids[:3]) == {m: expected[m] for m in ids[:3] if m in expected}
    assert ctx.friends[0] == ANYWHERE
    with django_assert_num_queries(0):  # the rest of the catalogue is covered too
        assert friends_for(users[0], ctx, ids) == expected
    assert friends_who_visited_anywhere(user=users[0], max_visits=1000).keys() == expected.keys()
    # Over the cap: the merchants asked (and the list's), remembered; the same answer.
    settings.RECOMMENDER_FRIENDS_ANYWHERE_MAX_VISITS = 2
    ctx = UserContext(user_id=users[0].pk, trips=None, coupons=None, friends=None)
    assert friends_for(users[0], ctx, ids[:3], also=ids[3:6]) == {m: expected[m] for m in ids[:3] if m in expected}
    assert ctx.friends[0] == frozenset(ids[:6])
    with django_assert_num_queries(1):  # not covered: social is asked again, about the merchants wanted
        assert friends_for(users[0], ctx, ids) == expected
