"""Merchant search, detail, staff editing, favourites, categories."""

from datetime import time

import pytest
from django.test import TestCase

from merchants.models import Category, Merchant, OpeningHours, SavedMerchant
from merchants.seed import categories_ensure
from recommender.models import Interaction
from tests.factories import MerchantFactory, UserFactory, city
from tests.merchants.factories import MerchantStaffFactory, hours
from tests.superapp.test_api_conventions import assert_error_shape

URL = "/api/v1/merchants"


@pytest.fixture
def tree(db):
    return categories_ensure()


def _names(response):
    assert response.status_code == 200, response.content
    return sorted(m["name"] for m in response.json()["results"])


@pytest.mark.django_db
def test_search_filters(auth_client, tree):
    hotpot = MerchantFactory(name="Haidilao Hotpot", price_level=2)
    hotpot.categories.add(tree["hotpot"])
    sushi = MerchantFactory(name="Sushi Dai", city=city("tokyo"), price_level=3, accepts_wallet=False)
    sushi.categories.add(tree["sushi"])
    watch = MerchantFactory(name="Bucherer", city=city("davos"), vertical="shopping", tax_free=True, price_level=4)
    watch.categories.add(tree["watches"])
    hours(watch, time(0), time(0))
    MerchantFactory(name="Closed Forever Hotpot", is_active=False).categories.add(tree["hotpot"])

    assert _names(auth_client.get(URL, {"q": "hotpot"})) == ["Haidilao Hotpot"]
    assert _names(auth_client.get(URL, {"q": "watches and"})) == ["Bucherer"]  # category name matches
    assert _names(auth_client.get(URL, {"city": "tokyo"})) == ["Sushi Dai"]
    assert _names(auth_client.get(URL, {"city": city("davos").pk})) == ["Bucherer"]
    assert _names(auth_client.get(URL, {"vertical": "shopping"})) == ["Bucherer"]
    # A category includes its descendants: restaurant > chinese > hotpot, shopping > fashion > luxury > watches.
    assert _names(auth_client.get(URL, {"category": "chinese"})) == ["Haidilao Hotpot"]
    assert _names(auth_client.get(URL, {"category": "restaurant"})) == ["Haidilao Hotpot", "Sushi Dai"]
    assert _names(auth_client.get(URL, {"category": "fashion"})) == ["Bucherer"]
    assert _names(auth_client.get(URL, {"accepts_wallet": "false"})) == ["Sushi Dai"]
    assert _names(auth_client.get(URL, {"tax_free": "true"})) == ["Bucherer"]
    assert _names(auth_client.get(URL, {"price_level": "2,3"})) == ["Haidilao Hotpot", "Sushi Dai"]
    assert _names(auth_client.get(URL, {"open_now": "true"})) == ["Bucherer"]
    assert _names(auth_client.get(URL, {"open_now": "true", "city": "tokyo"})) == []


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "code"), [
    ({"city": "atlantis"}, "unknown_city"),
    ({"city": "999999"}, "unknown_city"),
    ({"category": "no-such"}, "unknown_category"),
    ({"vertical": "casino"}, "unknown_vertical"),
    ({"price_level": "5"}, "validation_error"),
    ({"open_now": "maybe"}, "validation_error"),
])
def test_search_bad_input(auth_client, params, code):
    assert_error_shape(auth_client.get(URL, params), 400, code)


@pytest.mark.django_db
def test_search_runs_a_fixed_number_of_queries(auth_client, tree, django_assert_num_queries):
    for i in range(25):
        merchant = MerchantFactory(name=f"Noodle {i}", city=city(["hangzhou", "tokyo", "paris"][i % 3]))
        merchant.categories.add(tree["noodles"])
        hours(merchant, time(0), time(0))
    # page + categories + hours + exceptions
    with django_assert_num_queries(4):
        first = auth_client.get(URL, {"q": "noodle", "limit": 10})
    # + the category, the category tree (descendants) and the time zones present among the candidates
    with django_assert_num_queries(7):
        auth_client.get(URL, {"open_now": "true", "category": "chinese", "limit": 10})
    body = first.json()
    assert len(body["results"]) == 10 and body["next"]
    second = auth_client.get(body["next"])
    assert {m["id"] for m in second.json()["results"]}.isdisjoint({m["id"] for m in body["results"]})


@pytest.mark.django_db
def test_detail_records_a_view_once_per_hour(auth_client, user, tree):
    merchant = MerchantFactory()
    hours(merchant, time(9), time(17), weekdays=[0, 1])
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = auth_client.get(f"{URL}/{merchant.pk}")
    with TestCase.captureOnCommitCallbacks(execute=True):
        auth_client.get(f"{URL}/{merchant.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["opening_hours"] == [{"weekday": 0, "opens": "09:00:00", "closes": "17:00:00"},
                                     {"weekday": 1, "opens": "09:00:00", "closes": "17:00:00"}]
    assert body["is_saved"] is False and body["my_role"] is None
    assert Interaction.objects.filter(user=user, merchant=merchant, kind="view").count() == 1


@pytest.mark.django_db
def test_unknown_or_inactive_merchant_is_404(auth_client):
    inactive = MerchantFactory(is_active=False)
    assert_error_shape(auth_client.get(f"{URL}/{inactive.pk}"), 404, "merchant_not_found")
    assert_error_shape(auth_client.get(f"{URL}/987654"), 404, "merchant_not_found")


@pytest.mark.django_db
def test_save_emits_one_interaction_and_lists(auth_client, user):
    merchant = MerchantFactory()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert auth_client.post(f"{URL}/{merchant.pk}/save").status_code == 201
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert auth_client.post(f"{URL}/{merchant.pk}/save").status_code == 200
    assert Interaction.objects.filter(user=user, merchant=merchant, kind="save").count() == 1
    listed = auth_client.get("/api/v1/me/saved-merchants").json()["results"]
    assert [item["merchant"]["id"] for item in listed] == [merchant.pk]
    assert auth_client.delete(f"{URL}/{merchant.pk}/save").status_code == 204
    assert not SavedMerchant.objects.exists()
    # Un-saving answers like saving: the merchant's own 404 code (a merchant that closed can still be un-saved).
    assert_error_shape(auth_client.delete(f"{URL}/987654/save"), 404, "merchant_not_found")
    merchant.is_active = False
    merchant.save()
    SavedMerchant.objects.create(user=user, merchant=merchant)
    assert auth_client.delete(f"{URL}/{merchant.pk}/save").status_code == 204
    assert not SavedMerchant.objects.exists()


@pytest.mark.django_db
def test_owner_edits_listing_and_hours_others_cannot(auth_client, user, other_client, other_user, tree):
    merchant = MerchantFactory(name="Old name")
    MerchantStaffFactory(merchant=merchant, user=user, role="owner")
    MerchantStaffFactory(merchant=merchant, user=other_user, role="cashier")
    response = auth_client.patch(f"{URL}/{merchant.pk}", {"name": "New name", "categories": [tree["hotpot"].pk]},
                                 format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "New name" and response.json()["my_role"] == "owner"
    assert [c["slug"] for c in response.json()["categories"]] == ["hotpot"]
    # A cashier and a stranger may not edit.
    assert_error_shape(other_client.patch(f"{URL}/{merchant.pk}", {"name": "Hacked"}, format="json"), 403,
                       "not_merchant_staff")
    stranger = UserFactory()
    from tests.conftest import client_for
    assert_error_shape(client_for(stranger).put(f"{URL}/{merchant.pk}/hours", {"intervals": []}, format="json"),
                       403, "not_merchant_staff")
    merchant.refresh_from_db()
    assert merchant.name == "New name"

    week = {"intervals": [{"weekday": 4, "opens": "18:00", "closes": "02:00"},
                          {"weekday": 5, "opens": "11:00", "closes": "14:00"},
                          {"weekday": 5, "opens": "18:00", "closes": "23:00"}]}
    assert auth_client.put(f"{URL}/{merchant.pk}/hours", week, format="json").status_code == 200
    assert OpeningHours.objects.filter(merchant=merchant).count() == 3
    overlapping = {"intervals": [{"weekday": 1, "opens": "10:00", "closes": "15:00"},
                                 {"weekday": 1, "opens": "14:00", "closes": "20:00"}]}
    assert_error_shape(auth_client.put(f"{URL}/{merchant.pk}/hours", overlapping, format="json"), 400,
                       "invalid_opening_hours")
    assert OpeningHours.objects.filter(merchant=merchant).count() == 3  # nothing written

    closed = auth_client.post(f"{URL}/{merchant.pk}/hours/exceptions", {"date": "2099-12-25", "note": "Xmas"},
                              format="json")
    assert closed.status_code == 200 and closed.json()[0]["is_closed"] is True
    past = auth_client.post(f"{URL}/{merchant.pk}/hours/exceptions", {"date": "2000-01-01"}, format="json")
    assert_error_shape(past, 400, "date_in_past")


@pytest.mark.django_db
def test_my_merchants_lists_roles(auth_client, user):
    merchant = MerchantFactory()
    MerchantStaffFactory(merchant=merchant, user=user, role="manager")
    assert auth_client.get("/api/v1/me/merchants").json()["results"] == [
        {"role": "manager", "merchant": auth_client.get(URL, {"q": merchant.name}).json()["results"][0]}]


@pytest.mark.django_db
def test_category_tree_is_public(api_client, tree):
    body = api_client.get("/api/v1/categories").json()["results"]
    restaurant = next(node for node in body if node["slug"] == "restaurant")
    chinese = next(node for node in restaurant["children"] if node["slug"] == "chinese")
    assert {c["slug"] for c in chinese["children"]} >= {"hotpot", "dim-sum"}
    assert Category.objects.count() == len(tree)


@pytest.mark.django_db
def test_seeded_world_has_merchants_everywhere():
    import io
    import random

    from merchants.seed import seed
    from superapp.accounts.seed import seed as seed_users
    seed_users(rng=random.Random(1), stdout=io.StringIO())
    seed(rng=random.Random(1), stdout=io.StringIO())
    for slug in ("hangzhou", "davos", "tokyo", "new-york"):
        verticals = set(Merchant.objects.filter(city__slug=slug).values_list("vertical", flat=True))
        assert {"restaurant", "leisure", "travel", "shopping"} <= verticals, slug
    abroad_wallet = Merchant.objects.exclude(city__country_code="CN").filter(accepts_wallet=True)
    assert abroad_wallet.count() >= 10
    assert Merchant.objects.filter(city__slug="davos", tax_free=True, accepts_wallet=True).exists()
    assert Merchant.objects.exclude(city__country_code="CN").filter(accepts_wallet=False).exists()
