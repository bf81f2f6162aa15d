"""The operators' payment-volume chart in the admin (and who may see it)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from payments import selectors, services
from superapp.money import Money
from tests.factories import UserFactory
from tests.payments.factories import cny, funded_user, merchant

CHART = "/admin/payments/payment/chart.png"


def _pay(payer, shop, amount: str, days_ago: int = 0):
    return services.payment_create(payer=payer, merchant=shop, amount=cny(amount),
                                   occurred_at=timezone.now() - timedelta(days=days_ago))


@pytest.fixture
def volume():
    payer, chf_payer = funded_user("1000"), funded_user("1000", currency="CHF")
    shop, chf_shop = merchant(), merchant(currency="CHF")
    _pay(payer, shop, "10.00")
    _pay(payer, shop, "2.50")
    _pay(payer, shop, "7.00", days_ago=3)
    _pay(payer, shop, "99.00", days_ago=40)  # outside the 30-day window
    services.payment_create(payer=chf_payer, merchant=chf_shop, amount=Money(400, "CHF"))


@pytest.mark.django_db
def test_volume_per_day_and_currency_fills_empty_days(volume):
    series = selectors.payment_volume_by_day(days=30)
    assert list(series) == ["CNY", "CHF"]  # busiest first
    cny_days = series["CNY"]
    assert len(cny_days) == 30 and cny_days[-1]["date"] == timezone.now().date()
    assert cny_days[-1] == {"date": cny_days[-1]["date"], "count": 2, "gross": 1250}
    assert cny_days[-4]["count"] == 1 and cny_days[-4]["gross"] == 700
    assert sum(day["gross"] for day in cny_days) == 1950  # the 40-day-old payment is not in the window
    assert sum(day["gross"] for day in series["CHF"]) == 400


@pytest.mark.django_db
def test_staff_with_view_permission_see_the_chart_on_the_payments_page(client, volume):
    operator = UserFactory(is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="view_payment"))
    client.force_login(operator)
    page = client.get("/admin/payments/payment/")
    assert page.status_code == 200 and CHART.encode() in page.content
    chart = client.get(CHART)
    assert chart.status_code == 200 and chart["Content-Type"] == "image/png"
    assert chart.content[:8] == b"\x89PNG\r\n\x1a\n" and len(chart.content) > 5000


@pytest.mark.django_db
def test_the_chart_renders_without_payments(admin_client):
    chart = admin_client.get(CHART)
    assert chart.status_code == 200 and chart.content[:4] == b"\x89PNG"


@pytest.mark.django_db
def test_the_chart_is_refused_to_everyone_else(client, volume):
    assert client.get(CHART).status_code == 302  # anonymous: the admin login
    client.force_login(UserFactory())  # a wallet user, not staff
    response = client.get(CHART)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(UserFactory(is_staff=True))  # staff without permission on payments
    assert client.get(CHART).status_code == 403
