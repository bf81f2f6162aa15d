"""Object-level authorization, generated from the OpenAPI schema (issue #14).

A first user ("owner") holds one object of each private kind. Every operation of the schema is then called
with the owner's real ids in its path parameters (taken from the owner's own list pages, so a new endpoint
is covered without a new test):

- anonymously: every operation the schema says needs auth answers 401, the public ones never 5xx;
- as a second user: reading the owner's private objects is 403/404, never 5xx, and the second user's own
  private lists show none of the owner's objects;
- after all of that, the owner's private lists and objects read exactly as before: nothing was written.

Lists that are public catalogues (the same for everybody) are named in PUBLIC_LISTS: a new public list must
be added there on purpose; any other list is treated as private.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import date, timedelta

import pytest
from rest_framework.test import APIClient

from tests import schema_ids
from tests.conftest import client_for
from tests.factories import MerchantFactory, UserFactory, city

# The same for every user: not private, so the second user may read them (writes are still checked).
PUBLIC_LISTS = {
    "/api/v1/categories", "/api/v1/cities", "/api/v1/city-services", "/api/v1/merchants", "/api/v1/public-services",
    "/api/v1/wallet/campaigns", "/api/v1/wallet/fx-rates", "/api/v1/recommendations",
    "/api/v1/recommendations/destination", "/api/v1/merchants/nearby", "/api/v1/wallet/merchant/payments",
}

# Personal lists of public objects (the merchants I run or saved): anyone may read the objects, nobody but
# their staff may change them; they are in the before/after snapshot, not in the 403/404 read check.
PUBLIC_ITEMS = {"/api/v1/me/merchants", "/api/v1/me/saved-merchants"}


@functools.cache
def schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def operations() -> list[tuple[str, str, dict]]:
    return schema_ids.operations(schema())


def _list_paths() -> list[str]:
    return schema_ids.list_paths(schema())


def _source_list(path: str) -> str | None:
    return schema_ids.source_list(path, _list_paths())


_params, _ids, PARAMETER_SOURCES = schema_ids.path_params, schema_ids.item_values, schema_ids.PARAMETER_SOURCES


@pytest.fixture
def world(db):
    """The owner's objects, made through the services (the same code paths as the API)."""
    from bookings.services import booking_hold
    from cityservices.services import bill_account_link, notification_create, transit_card_link
    from merchants import services as merchant_services
    from payments import services as wallet
    from superapp.money import Money
    from superapp.social import services as social
    from tests.bookings.factories import product_with_slots
    from tests.cityservices.factories import provider
    from tests.merchants.factories import MerchantStaffFactory
    from tests.payments.factories import campaign, fund

    owner, friend, other = UserFactory(username="owner"), UserFactory(username="friend"), UserFactory(
        username="second")
    fund(owner, "1000")
    shop = MerchantFactory(name="Owner's shop")
    MerchantStaffFactory(merchant=shop, user=owner, role="owner")
    elsewhere = MerchantFactory(name="Some shop")
    wallet.payment_create(payer=owner, merchant=elsewhere, amount=Money.from_decimal("12.00", "CNY"))
    wallet.transfer_create(sender=owner, recipient=friend, amount=Money.from_decimal("5.00", "CNY"))
    wallet.coupon_collect(user=owner, campaign_id=campaign(name="Everyone").pk)
    merchant_services.trip_create(user=owner, destination=city("davos"), starts_on=date.today() + timedelta(days=3),
                                  ends_on=date.today() + timedelta(days=5))
    bill_account_link(user=owner, provider=provider(), customer_number="3301234567")
    transit_card_link(user=owner, provider=provider(kind="transit", pattern=r"^\d{10}$"), card_number="3100123456")
    notification_create(user_id=owner.pk, kind="bill_due", title="Your bill", dedupe_key="sec-test")
    merchant_services.merchant_save(user=owner, merchant=elsewhere)
    product = product_with_slots(merchant=elsewhere, days=[date.today() + timedelta(days=2)])
    booking_hold(user=owner, product=product, day=date.today() + timedelta(days=2))
    social.post_create(author=owner, text="only for me", visibility="only_me")
    social.post_create(author=owner, text="for friends", visibility="friends")
    social.review_create(author=owner, merchant_id=elsewhere.pk, rating=4, text="fine", visibility="only_me")
    social.friend_request_create(from_user=owner, to_user_id=friend.pk)
    return {"owner": owner, "other": other}


def _snapshot(client: APIClient, paths: list[str]) -> dict[str, object]:
    out = {}
    for path in paths:
        response = client.get(path)
        out[path] = (response.status_code, response.json() if response.content else None)
    return out


# GETs whose answer differs on every call without any write (a freshly signed QR payload): not snapshotted.
VOLATILE = {"/api/v1/wallet/merchants/{merchant_id}/qr"}


def _fill(path: str, ids: dict[str, list[int]], owner_id: int) -> str | None:
    source = _source_list(path)
    found = ids.get(source) if source else None
    first, *rest = _params(path)
    if first == "user_id":
        found = [owner_id]
    elif not found and first in PARAMETER_SOURCES:
        found = ids.get(PARAMETER_SOURCES[first])
    if not found:
        return None
    filled = path.replace("{" + first + "}", str(found[0]))
    for name in rest:
        filled = filled.replace("{" + name + "}", "1")
    return filled


@pytest.mark.django_db
def test_no_operation_leaks_or_writes_the_owners_objects(world):
    owner_client, other_client, anonymous = client_for(world["owner"]), client_for(world["other"]), APIClient()
    private_lists = [p for p in _list_paths() if p not in PUBLIC_LISTS]
    owner_lists = {p: owner_client.get(p) for p in _list_paths()}
    ids = {p: _ids(r.json()) for p, r in owner_lists.items() if r.status_code == 200}
    assert sum(bool(ids.get(p)) for p in private_lists) >= 8, {p: ids.get(p) for p in private_lists}

    templated = [(m, p, op) for m, p, op in operations() if _params(p)]
    filled = {p: _fill(p, ids, world['owner'].pk) for _, p, _ in templated}
    private_details = sorted({f for (m, p, _), f in zip(templated, filled.values(), strict=False)} - {None})
    owner_reads = [p for p in private_lists if ids.get(p)] + [
        filled[p] for m, p, _ in templated if m == "get" and filled[p] and _source_list(p) not in PUBLIC_LISTS
        and "{user_id}" not in p and p not in VOLATILE]
    before = _snapshot(owner_client, owner_reads)

    problems = []
    for method, path, op in operations():
        url = filled.get(path) or re.sub(r"{\w+}", "1", path)
        private = "security" in op
        for who, client in (("anonymous", anonymous), ("second user", other_client)):
            response = getattr(client, method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY=f"sec-{who}-{method}-{url}")
            status = response.status_code
            if status >= 500:
                problems.append(f"{who} {method.upper()} {url}: {status}")
            elif who == "anonymous" and private and status != 401:
                problems.append(f"anonymous {method.upper()} {url}: {status}, expected 401")
            elif (who == "second user" and method == "get" and path in filled and filled[path]
                  and _source_list(path) not in PUBLIC_LISTS | PUBLIC_ITEMS and "{user_id}" not in path
                  and status not in (403, 404)):
                problems.append(f"second user read the owner's {url}: {status}")
        if method == "get" and path in private_lists:
            seen = set(_ids(other_client.get(path).json())) & set(ids.get(path, []))
            if seen:
                problems.append(f"second user's {path} shows the owner's ids {sorted(seen)}")
    assert not problems, "\n".join(problems)
    assert private_details  # the walk used real ids
    after = _snapshot(owner_client, owner_reads)
    changed = [p for p in owner_reads if before[p] != after[p]]
    assert not changed, f"the owner's objects changed: {changed}"
