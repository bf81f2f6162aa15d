"""Issue #14: one test per finding of the API hardening review (each failed on the code before the fix)."""

import json
import socket
import uuid

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from superapp.money import Money, MoneyError, parse_amount_text
from tests.factories import TEST_PASSWORD, UserFactory
from tests.payments.factories import funded_user
from tests.superapp.test_api_conventions import assert_error_shape

LOGIN = "/api/v1/auth/login"


def _login(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, format="json", **extra)


def _post(client, url, body, key=None):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


# --- High 1: client IP from trusted proxies only; the account lock-out holds whatever the IP ----------------


@pytest.mark.django_db
def test_spoofed_forwarded_for_does_not_escape_the_account_lock_out(api_client):
    UserFactory(username="victim")
    statuses = [_login(api_client, "victim", "wrong-guess", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
                for i in range(30)]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}


@pytest.mark.django_db
def test_account_lock_out_holds_from_every_address_and_then_refuses_the_right_password(api_client):
    UserFactory(username="victim")
    for i in range(5):
        assert_error_shape(_login(api_client, "victim", "wrong", REMOTE_ADDR=f"198.51.100.{i}"), 401,
                           "invalid_credentials")
    blocked = _login(api_client, "Victim", TEST_PASSWORD, REMOTE_ADDR="192.0.2.99")  # another case, another IP
    assert_error_shape(blocked, 429, "throttled")
    assert 0 < int(blocked["Retry-After"]) <= 60


@pytest.mark.django_db
def test_a_successful_log_in_resets_the_count(api_client):
    UserFactory(username="owner")
    for _ in range(4):
        _login(api_client, "owner", "typo")
    assert _login(api_client, "owner", TEST_PASSWORD).status_code == 200
    for _ in range(4):
        assert _login(api_client, "owner", "typo").status_code == 401


@pytest.mark.django_db
def test_the_account_rate_comes_from_the_auth_account_setting(api_client, settings):
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], auth_account="2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    UserFactory(username="victim")
    assert [_login(api_client, "victim", "x").status_code for _ in range(3)] == [401, 401, 429]


@pytest.mark.django_db
def test_forwarded_for_is_ignored_without_trusted_proxies(api_client):
    # The per-IP limit (20/min): rotating X-Forwarded-For from one REMOTE_ADDR does not reset it.
    for i in range(20):
        _login(api_client, f"nobody{i}", "x", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    assert_error_shape(_login(api_client, "nobody", "x", HTTP_X_FORWARDED_FOR="203.0.113.250"), 429, "throttled")


@pytest.mark.django_db
def test_with_one_trusted_proxy_the_address_it_appended_is_the_client(api_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The client forges a first entry; the proxy appends the real address: that one is counted.
    for i in range(20):
        _login(api_client, f"nobody{i}", "x", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 198.51.100.7")
    assert_error_shape(_login(api_client, "n", "x", HTTP_X_FORWARDED_FOR="10.1.1.1, 198.51.100.7"), 429)
    # Another real client behind the same proxy is not limited by that.
    assert _login(api_client, "n", "x", HTTP_X_FORWARDED_FOR="10.1.1.1, 198.51.100.8").status_code == 401


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_are_counted_atomically():
    from tests.conftest import run_concurrently

    UserFactory(username="victim")

    def guess(i):
        return _login(APIClient(), "victim", f"guess-{i}", REMOTE_ADDR=f"198.51.100.{i}").status_code

    statuses = run_concurrently(guess, 12)
    assert sorted(statuses) == [401] * 5 + [429] * 7


# --- Log-in and sign-up limits hold with Redis down (the counters live in the database) -----------------------


@pytest.fixture
def redis_down(settings):
    """Redis unreachable: the cache, the user cache and the broker all point at a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    settings.REDIS_URL = url
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    with pytest.raises(Exception, match="(?i)connect"):
        cache.get("anything")  # really down
    return url


@pytest.mark.django_db
def test_with_redis_down_log_in_works_and_the_account_lock_out_holds(api_client, redis_down):
    UserFactory(username="victim")
    assert _login(api_client, "victim", TEST_PASSWORD).status_code == 200
    for i in range(5):
        assert_error_shape(_login(api_client, "victim", "wrong", REMOTE_ADDR=f"198.51.100.{i}"), 401,
                           "invalid_credentials")
    blocked = _login(api_client, "victim", TEST_PASSWORD, REMOTE_ADDR="192.0.2.99")
    assert_error_shape(blocked, 429, "throttled")
    assert 0 < int(blocked["Retry-After"]) <= 60


@pytest.mark.django_db
def test_with_redis_down_sign_up_works_and_each_address_is_limited(api_client, settings, redis_down):
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], signup_ip="2/hour", auth_ip="3/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    statuses = [api_client.post("/api/v1/auth/signup", {"username": f"new{i}", "password": "a-long-passphrase-9"},
                                format="json").status_code for i in range(3)]
    assert statuses == [201, 201, 429]
    assert _login(api_client, "new0", "a-long-passphrase-9").status_code == 200
    assert [_login(api_client, f"nobody{i}", "x").status_code for i in range(3)] == [401, 401, 429]
    refused = _login(api_client, "new1", "a-long-passphrase-9")
    assert_error_shape(refused, 429, "throttled")
    assert 0 < int(refused["Retry-After"]) <= 60
    # Another address has its own count.
    assert _login(api_client, "new1", "a-long-passphrase-9", REMOTE_ADDR="192.0.2.1").status_code == 200


@pytest.mark.django_db
def test_a_window_that_is_over_starts_again_and_its_counter_is_tidied_up():
    from datetime import timedelta

    from django.utils import timezone

    from superapp.accounts.exceptions import TooManyAttempts
    from superapp.attempts import attempt_reserve, attempts_expire
    from superapp.models import AttemptCounter

    start = timezone.now()
    for _ in range(2):
        attempt_reserve(scope="t", ident="x", limit=2, window_s=60, now=start)
    with pytest.raises(TooManyAttempts) as refused:
        attempt_reserve(scope="t", ident="x", limit=2, window_s=60, now=start + timedelta(seconds=15))
    assert refused.value.retry_after_s == 45
    later = start + timedelta(seconds=61)
    attempt_reserve(scope="t", ident="x", limit=2, window_s=60, now=later)  # a new window
    attempt_reserve(scope="t", ident="y", limit=2, window_s=60, now=start)
    assert attempts_expire(now=start + timedelta(seconds=90)) == 1  # y's window is over, x's is not
    assert AttemptCounter.objects.get().count == 1


# --- High 2 and Low: money input is a bounded, plain decimal string -----------------------------------------


@pytest.mark.parametrize("text", ["1e999990", "1e300000", "1E3", "١٠", "1_0", "+1", " 1", "1.", ".5", "0x10",
                                  "Infinity", "NaN", "1" * 13, "9" * 40, "1" * 33, "1,5", "--1", ""])
def test_amount_text_outside_plain_bounded_decimals_is_refused(text):
    with pytest.raises(MoneyError) as exc:
        parse_amount_text(text)
    assert exc.value.code in {"invalid_amount", "amount_out_of_range"}
    with pytest.raises(MoneyError):
        Money.from_decimal(text, "CNY")


def test_plain_decimals_parse():
    assert Money.from_decimal("12.34", "CNY") == Money(1234, "CNY")
    assert Money.from_decimal("-0.5", "KWD") == Money(-500, "KWD")
    assert Money.from_decimal("999999999999.999", "KWD").amount == 999_999_999_999_999


@pytest.mark.django_db
@pytest.mark.parametrize("amount, code", [
    ("1e999990", "invalid_amount"), ("9" * 30, "amount_out_of_range"), ("١٠", "invalid_amount"),
    ("1_0", "invalid_amount"),
])
def test_hostile_transfer_amounts_are_400(amount, code):
    sender, recipient = funded_user("100"), UserFactory()
    client = APIClient()
    client.force_authenticate(sender)
    response = _post(client, "/api/v1/wallet/transfers",
                     {"recipient_id": recipient.pk, "amount": amount, "currency": "CNY"})
    assert_error_shape(response, 400, code)


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [10, 10.5, 10**30, 1e30])
def test_json_numbers_are_not_amounts(amount):
    sender, recipient = funded_user("100"), UserFactory()
    client = APIClient()
    client.force_authenticate(sender)
    response = _post(client, "/api/v1/wallet/transfers",
                     {"recipient_id": recipient.pk, "amount": amount, "currency": "CNY"})
    error = assert_error_shape(response, 400)
    assert error["code"] in {"validation_error", "malformed_request"}
    if error["code"] == "validation_error":
        assert "decimal string" in error["details"]["amount"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("tip", ["0", "-0", "0.00"])
def test_a_zero_tip_is_refused(tip):
    from tests.payments.factories import merchant

    payer, shop = funded_user("100"), merchant()
    client = APIClient()
    client.force_authenticate(payer)
    response = _post(client, "/api/v1/wallet/payments", {"merchant_id": shop.pk, "amount": "5", "tip": tip})
    assert_error_shape(response, 400, "invalid_amount")


# --- Medium 3: no 5xx from hostile requests --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", ["cD0xZTk5OQ==", "cD0xMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw",
                                    "bm90LWEtY3Vyc29y", "!!!", "x" * 600])
def test_a_forged_cursor_is_400_invalid_cursor(auth_client, cursor):
    # p=1e999, p=<40 digits>, garbage, non-base64, too long
    for url in ("/api/v1/wallet/payments", "/api/v1/merchants", "/api/v1/feed"):
        assert_error_shape(auth_client.get(url, {"cursor": cursor}), 400, "invalid_cursor")


@pytest.mark.django_db
def test_a_real_cursor_still_pages(auth_client):
    from tests.factories import MerchantFactory

    for _ in range(3):
        MerchantFactory()
    first = auth_client.get("/api/v1/merchants", {"limit": 2}).json()
    assert first["next"]
    second = auth_client.get(first["next"])
    assert second.status_code == 200 and second.json()["results"]


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [str(2**64 + 1), "9" * 40, "-1", "abc", "1e9"])
def test_a_huge_or_odd_limit_is_not_an_error(auth_client, limit):
    response = auth_client.get("/api/v1/wallet/payments", {"limit": limit})
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("authenticated", [False, True])
def test_deeply_nested_json_is_400(api_client, auth_client, authenticated):
    client, url = (auth_client, "/api/v1/me") if authenticated else (api_client, LOGIN)
    body = "[" * 1000 + "]" * 1000
    method = client.patch if authenticated else client.post
    assert_error_shape(method(url, data=body, content_type="application/json"), 400, "malformed_request")
    nested = json.dumps({"username": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}})
    assert_error_shape(api_client.post(LOGIN, data=nested, content_type="application/json"), 400)


@pytest.mark.django_db
@pytest.mark.parametrize("body", ['{"username": 1e999, "password": "x"}', '{"username": NaN, "password": "x"}',
                                  '{"username": "u", "password": "x", "n": ' + "9" * 5000 + "}"])
def test_out_of_range_json_numbers_are_400(api_client, body):
    assert_error_shape(api_client.post(LOGIN, data=body, content_type="application/json"), 400, "malformed_request")


@pytest.mark.django_db
def test_a_body_over_the_limit_is_413(auth_client, settings):
    big = json.dumps({"display_name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    assert_error_shape(auth_client.patch("/api/v1/me", data=big, content_type="application/json"), 413,
                       "request_too_large")
    assert_error_shape(APIClient().post(LOGIN, data=big, content_type="application/json"), 413, "request_too_large")


@pytest.mark.django_db
def test_device_ingestion_is_under_the_body_limit_too(settings):
    big = json.dumps({"observations": [{"x": "y" * 1000}] * 10_000})  # ~10 MB
    response = APIClient().post("/api/v1/traffic/observations", data=big, content_type="application/json")
    assert_error_shape(response, 413, "request_too_large")


@pytest.mark.django_db
def test_form_bodies_over_the_limit_keep_djangos_4xx(auth_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = "display_name=" + "x" * 200
    # Content-Length says small (chunked proxies), Django finds the body too big when it reads it: 413, not 500.
    response = auth_client.generic("PATCH", "/api/v1/me", body, content_type="application/x-www-form-urlencoded")
    assert_error_shape(response, 413, "request_too_large")


@pytest.mark.django_db
def test_too_many_query_parameters_is_400(auth_client):
    query = "&".join(f"p{i}=1" for i in range(1500))
    assert_error_shape(auth_client.get(f"/api/v1/wallet/payments?{query}"), 400, "too_many_fields")
    assert_error_shape(APIClient().post(f"{LOGIN}?{query}", {"username": "a", "password": "b"}, format="json"),
                       400, "too_many_fields")


# --- Medium 4: a password change revokes every token -------------------------------------------------------------


@pytest.mark.django_db
def test_password_change_revokes_refresh_and_access_tokens(api_client):
    UserFactory(username="changer")
    first = _login(api_client, "changer", TEST_PASSWORD).json()["tokens"]
    second = _login(api_client, "changer", TEST_PASSWORD).json()["tokens"]  # another device
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {first['access']}")
    assert client.post("/api/v1/me/password", {"old_password": TEST_PASSWORD, "new_password": "An0ther-secret!"},
                       format="json").status_code == 204
    for tokens in (first, second):
        stale = APIClient()
        stale.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        assert_error_shape(stale.get("/api/v1/me"), 401)
        assert_error_shape(APIClient().post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json"),
                           401, "token_not_valid")
    fresh = _login(api_client, "changer", "An0ther-secret!").json()["tokens"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
    assert client.get("/api/v1/me").status_code == 200


# --- Medium 5: linking a bill account needs proof of ownership ----------------------------------------------------


@pytest.mark.django_db
def test_a_bill_account_is_not_linked_by_its_number_alone(auth_client):
    from cityservices.models import BillAccount
    from tests.cityservices.factories import provider
    from tests.cityservices.test_city_services import proof

    grid = provider()
    body = {"provider_id": grid.pk, "customer_number": "3301234567"}
    assert_error_shape(auth_client.post("/api/v1/bill-accounts", body, format="json"), 400, "validation_error")
    right = proof(grid, "3301234567")
    wrong = "0.01" if right != "0.01" else "0.02"
    assert_error_shape(auth_client.post("/api/v1/bill-accounts", {**body, "latest_bill_amount": wrong},
                                        format="json"), 400, "bill_account_proof_invalid")
    assert not BillAccount.objects.exists()
    linked = auth_client.post("/api/v1/bill-accounts", {**body, "latest_bill_amount": right}, format="json")
    assert linked.status_code == 201, linked.content


@pytest.mark.django_db
def test_bill_account_proofs_cannot_be_brute_forced(auth_client):
    from tests.cityservices.factories import provider
    from tests.cityservices.test_city_services import proof

    grid = provider()
    body = {"provider_id": grid.pk, "customer_number": "3301234567"}
    right = proof(grid, "3301234567")
    guesses = [f"{60 + i}.00" for i in range(10) if f"{60 + i}.00" != right][:5]
    for guess in guesses:
        auth_client.post("/api/v1/bill-accounts", {**body, "latest_bill_amount": guess}, format="json")
    assert_error_shape(auth_client.post("/api/v1/bill-accounts", {**body, "latest_bill_amount": right},
                                        format="json"), 429, "throttled")


# --- Low: a transit card linked by someone else does not reveal that -----------------------------------------------


@pytest.mark.django_db
def test_a_card_linked_by_another_user_answers_like_an_unknown_card(auth_client, other_client):
    from tests.cityservices.factories import provider

    metro = provider(kind="transit", pattern=r"^\d{10,12}$")
    assert other_client.post("/api/v1/transit-cards", {"provider_id": metro.pk, "card_number": "3100123456"},
                             format="json").status_code == 201
    taken = auth_client.post("/api/v1/transit-cards", {"provider_id": metro.pk, "card_number": "3100123456"},
                             format="json")
    unknown = auth_client.post("/api/v1/transit-cards", {"provider_id": metro.pk, "card_number": "3100120000"},
                               format="json")
    assert taken.status_code == unknown.status_code == 400
    taken_error, unknown_error = taken.json()["error"], unknown.json()["error"]
    assert taken_error["code"] == unknown_error["code"] == "invalid_customer_number"
    assert taken_error["message"].replace("3100123456", "N") == unknown_error["message"].replace("3100120000", "N")
    # The holder re-linking their own card still learns it is linked.
    again = other_client.post("/api/v1/transit-cards", {"provider_id": metro.pk, "card_number": "3100123456"},
                              format="json")
    assert_error_shape(again, 409, "transit_card_exists")


# --- Medium 6: tax-free, VAT refunds and traveller offers follow evidence, not profile fields --------------------


def _shop_in(slug, **kwargs):
    from tests.factories import city
    from tests.payments.factories import merchant

    return merchant(city=city(slug), tax_free=True, **kwargs)


@pytest.mark.django_db
def test_editing_the_profile_cities_does_not_make_a_resident_tax_free():
    from tests.factories import city
    from tests.payments.factories import rates

    rates(("CHF", "CNY", "8"))
    resident = funded_user("500", currency="CHF", home_city=city("zurich"))  # a verified Swiss resident
    client = APIClient()
    client.force_authenticate(resident)
    assert client.patch("/api/v1/me", {"home_city_id": city("hangzhou").pk, "current_city_id": city("davos").pk},
                        format="json").status_code == 200
    response = _post(client, "/api/v1/wallet/payments", {"merchant_id": _shop_in("davos").pk, "amount": "100",
                                                         "tax_free": True})
    assert_error_shape(response, 409, "tax_free_unavailable")


@pytest.mark.django_db
def test_an_unverified_user_cannot_shop_tax_free_or_collect_traveller_offers():
    from tests.factories import city
    from tests.payments.factories import campaign, rates

    rates(("CHF", "CNY", "8"))
    user = funded_user("500", currency="CHF", home_city=city("hangzhou"), current_city=city("davos"),
                       verified_country="")
    client = APIClient()
    client.force_authenticate(user)
    response = _post(client, "/api/v1/wallet/payments", {"merchant_id": _shop_in("davos").pk, "amount": "100",
                                                         "tax_free": True})
    assert_error_shape(response, 409, "tax_free_unavailable")
    davos_offer = campaign(name="Davos", currency="CHF", travellers_only=True, cities=[city("davos")])
    assert_error_shape(client.post(f"/api/v1/wallet/campaigns/{davos_offer.pk}/collect"), 409,
                       "coupon_not_applicable")


@pytest.mark.django_db
def test_a_verified_foreign_resident_shops_tax_free():
    from tests.factories import city
    from tests.payments.factories import rates

    rates(("CHF", "CNY", "8"))
    visitor = funded_user("500", currency="CHF", home_city=city("hangzhou"))  # verified CN
    client = APIClient()
    client.force_authenticate(visitor)
    paid = _post(client, "/api/v1/wallet/payments", {"merchant_id": _shop_in("davos").pk, "amount": "108.10",
                                                     "tax_free": True})
    assert paid.status_code == 201, paid.content
    assert paid.json()["vat"] == {"amount": "8.10", "currency": "CHF"}


@pytest.mark.django_db
def test_the_verified_country_is_not_editable_through_the_api(auth_client, user):
    auth_client.patch("/api/v1/me", {"verified_country": "FR", "verified_country_at": "2026-01-01T00:00:00Z"},
                      format="json")
    user.refresh_from_db()
    assert user.verified_country == "CN" and user.verified_country_at is None


@pytest.mark.django_db
def test_a_merchant_owner_cannot_make_their_shop_tax_free(auth_client, user):
    from tests.factories import MerchantFactory
    from tests.merchants.factories import MerchantStaffFactory

    shop = MerchantFactory(tax_free=False)
    MerchantStaffFactory(merchant=shop, user=user, role="owner")
    response = auth_client.patch(f"/api/v1/merchants/{shop.pk}", {"tax_free": True, "name": "Duty free"},
                                 format="json")
    assert response.status_code == 200
    shop.refresh_from_db()
    assert shop.name == "Duty free" and shop.tax_free is False
