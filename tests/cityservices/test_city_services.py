"""City services without the wallet: catalogue, linking accounts, bills from the provider, reminders."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from cityservices.models import Bill, BillAccount, Notification, TransitCard
from cityservices.providers import SimulatedProvider
from cityservices.services import bill_reminders_send, bills_refresh
from merchants.selectors import tz_for
from tests.cityservices.factories import provider
from tests.factories import UserFactory
from tests.superapp.test_api_conventions import assert_error_shape


def proof(grid, customer_number: str) -> str:
    """The amount of the account's latest bill: what the household reads on it (issue #14)."""
    from cityservices.services import _provider_today

    bills = SimulatedProvider(grid).due_bills(customer_number, _provider_today(grid))
    return max(bills, key=lambda b: b.period).amount.decimal_string()


@pytest.mark.django_db
def test_catalogue_per_city_defaults_to_where_i_am(auth_client):
    hz = provider(city_slug="hangzhou", kind="electricity")
    zh = provider(city_slug="zurich", kind="transit")
    assert [p["id"] for p in auth_client.get("/api/v1/city-services").json()["results"]] == [hz.pk]
    assert [p["id"] for p in auth_client.get("/api/v1/city-services", {"city": "zurich"}).json()["results"]] == [zh.pk]
    assert_error_shape(auth_client.get("/api/v1/city-services", {"city": "gotham"}), 400, "unknown_city")


@pytest.mark.django_db
def test_link_an_account_fetches_its_due_bill(auth_client, user):
    grid = provider()
    response = auth_client.post("/api/v1/bill-accounts", {"provider_id": grid.pk, "customer_number": "3301234567",
                                                          "nickname": "Home",
                                                          "latest_bill_amount": proof(grid, "3301234567")},
                                format="json")
    assert response.status_code == 201, response.content
    bills = auth_client.get("/api/v1/bills").json()["results"]
    assert len(bills) == 1
    bill = bills[0]
    # Due on the 20th: from the 21st (local time at the provider) it reads overdue.
    local_today = timezone.now().astimezone(tz_for(grid.city.time_zone)).date()
    assert bill["status"] == ("overdue" if date.fromisoformat(bill["due_on"]) < local_today else "due")
    assert bill["amount"]["currency"] == "CNY" and 60 <= float(bill["amount"]["amount"]) <= 420
    assert bill["reference"].endswith("3301234567-" + bill["period"].replace("-", ""))
    # The simulated provider is deterministic: refreshing adds nothing.
    account = BillAccount.objects.get(pk=response.json()["id"])
    assert bills_refresh(account=account) == 0
    assert Bill.objects.count() == 1


@pytest.mark.django_db
def test_bad_accounts_are_rejected_and_nothing_written(auth_client):
    grid = provider()
    parking = provider(kind="parking", pattern=r"^.*$", hourly_rate=800)
    cases = [
        ({"provider_id": grid.pk, "customer_number": "12ab"}, 400, "invalid_customer_number"),
        ({"provider_id": grid.pk, "customer_number": "3300000000"}, 400, "invalid_customer_number"),  # not a customer
        ({"provider_id": parking.pk, "customer_number": "3301234567"}, 400, "wrong_service_kind"),
        ({"provider_id": 999999, "customer_number": "3301234567"}, 404, "provider_not_found"),
    ]
    for body, status, code in cases:
        body["latest_bill_amount"] = "1.00"
        assert_error_shape(auth_client.post("/api/v1/bill-accounts", body, format="json"), status, code)
    assert not BillAccount.objects.exists() and not Bill.objects.exists()
    good = {"provider_id": grid.pk, "customer_number": "3301234567", "latest_bill_amount": proof(grid, "3301234567")}
    auth_client.post("/api/v1/bill-accounts", good, format="json")
    again = auth_client.post("/api/v1/bill-accounts", good, format="json")
    assert_error_shape(again, 409, "bill_account_exists")


@pytest.mark.django_db
def test_simulated_provider_issues_monthly_bills():
    grid = provider(city_slug="zurich")
    bills = SimulatedProvider(grid).due_bills("33012345", date(2026, 11, 26))
    assert [(b.period, b.due_on) for b in bills] == [("2026-10", date(2026, 11, 20))]
    assert bills[0].amount.currency == "CHF"
    assert SimulatedProvider(grid).due_bills("33012345", date(2026, 11, 26)) == bills


@pytest.mark.django_db
def test_reminders_for_bills_due_within_n_days_once(auth_client, user):
    grid = provider()
    account = BillAccount.objects.create(user=user, provider=grid, customer_number="3301234567")
    today = date(2026, 11, 18)
    soon = Bill.objects.create(account=account, reference="A", period="2026-10", amount=12345, currency="CNY",
                               due_on=today + timedelta(days=2))
    Bill.objects.create(account=account, reference="B", period="2026-11", amount=100, currency="CNY",
                        due_on=today + timedelta(days=10))
    Bill.objects.create(account=account, reference="C", period="2026-09", amount=100, currency="CNY",
                        due_on=today - timedelta(days=1), status="paid")
    assert bill_reminders_send(within_days=3, today=today) == 1
    assert bill_reminders_send(within_days=3, today=today) == 0  # safe to run twice
    listed = auth_client.get("/api/v1/notifications", {"unread": "true"}).json()["results"]
    assert len(listed) == 1 and listed[0]["data"]["bill_id"] == soon.pk and "123.45" in listed[0]["title"]
    assert auth_client.post(f"/api/v1/notifications/{listed[0]['id']}/read").json() == {"marked_read": 1}
    assert auth_client.get("/api/v1/notifications", {"unread": "true"}).json()["results"] == []
    assert auth_client.get("/api/v1/notifications").json()["results"][0]["is_read"] is True


@pytest.mark.django_db
def test_other_users_city_service_objects_are_404(auth_client, other_user):
    grid = provider()
    account = BillAccount.objects.create(user=other_user, provider=grid, customer_number="3301234567")
    bill = Bill.objects.create(account=account, reference="X", period="2026-10", amount=100, currency="CNY",
                               due_on=date(2030, 1, 1))
    note = Notification.objects.create(user=other_user, kind="bill_due", title="t", dedupe_key="k")
    card = TransitCard.objects.create(user=other_user, provider=provider(kind="transit"), card_number="1234567890",
                                      currency="CNY")
    assert_error_shape(auth_client.get(f"/api/v1/bills/{bill.pk}"), 404, "bill_not_found")
    assert_error_shape(auth_client.post(f"/api/v1/bills/{bill.pk}/pay", HTTP_IDEMPOTENCY_KEY="k1"), 404)
    assert_error_shape(auth_client.post(f"/api/v1/bill-accounts/{account.pk}/refresh"), 404)
    assert_error_shape(auth_client.post(f"/api/v1/notifications/{note.pk}/read"), 404)
    assert_error_shape(auth_client.post(f"/api/v1/transit-cards/{card.pk}/top-up",
                                        {"amount": "10.00", "currency": "CNY"}, format="json",
                                        HTTP_IDEMPOTENCY_KEY="k2"), 404)
    assert auth_client.get("/api/v1/bills").json()["results"] == []
    assert Notification.objects.get(pk=note.pk).read_at is None
    assert UserFactory  # noqa: B018 - keep the factory import used by later tests


@pytest.mark.django_db
def test_a_bill_past_due_reads_overdue_without_any_job(auth_client, user):
    from cityservices.services import bill_status

    grid = provider()  # Hangzhou: the due date is a local date there
    account = BillAccount.objects.create(user=user, provider=grid, customer_number="3301234567")
    today = timezone.now().astimezone(tz_for("Asia/Shanghai")).date()
    late = Bill.objects.create(account=account, reference="late", period="2026-10", amount=100, currency="CNY",
                               due_on=today - timedelta(days=7))
    due = Bill.objects.create(account=account, reference="due", period="2026-11", amount=100, currency="CNY",
                              due_on=today)
    paid = Bill.objects.create(account=account, reference="paid", period="2026-09", amount=100, currency="CNY",
                               due_on=today - timedelta(days=40), status="paid")
    assert auth_client.get(f"/api/v1/bills/{late.pk}").json()["status"] == "overdue"
    listed = {b["reference"]: b["status"] for b in auth_client.get("/api/v1/bills").json()["results"]}
    assert listed == {"late": "overdue", "due": "due", "paid": "paid"}
    for status, expected in (("overdue", [late.pk]), ("due", [due.pk]), ("paid", [paid.pk])):
        page = auth_client.get("/api/v1/bills", {"status": status}).json()["results"]
        assert [b["id"] for b in page] == expected, status
    assert Bill.objects.get(pk=late.pk).status == "due"  # nothing was written
    # The day after the due date at the provider, not in UTC.
    assert bill_status(due, today=today) == "due" and bill_status(due, today=today + timedelta(days=1)) == "overdue"
