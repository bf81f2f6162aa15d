from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments import services
from payments.models import FxRate, Payment, PaymentStatus
from payments.tasks import ledger_check_task, payments_expire_pending_task
from tests.payments.factories import cny, funded_user, merchant


@pytest.mark.django_db
def test_load_fx_rates_from_csv_reports_bad_rows(tmp_path, capsys):
    path = tmp_path / "rates.csv"
    path.write_text("base,quote,rate,as_of\nCHF,CNY,8.1,2026-01-02T00:00:00\nEUR,XXX,1,\nGBP,CNY,-1,\nUSD,JPY,150,\n")
    call_command("load_fx_rates", str(path))
    out = capsys.readouterr()
    assert "Loaded 2 rates, rejected 2" in out.out and "line 3" in out.err
    assert float(services.fx_rate_get(base="CNY", quote="CHF")) == pytest.approx(1 / 8.1, rel=1e-6)
    with pytest.raises(CommandError):
        call_command("load_fx_rates", str(tmp_path / "missing.csv"))


@pytest.mark.django_db
def test_demo_rates_cover_every_pair():
    call_command("load_fx_rates", "--demo")
    assert FxRate.objects.filter(base="CNY", quote="CHF").exists()
    assert services.fx_rate_get(base="JPY", quote="KWD") > 0


@pytest.mark.django_db
def test_pending_payments_expire_and_money_returns(settings):
    settings.PAYMENTS_PENDING_TTL_S = 60
    payer = funded_user("50")
    payment = services.payment_create(payer=payer, merchant=merchant(requires_confirmation=True), amount=cny("20"))
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert payments_expire_pending_task() == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED and payment.failure_reason == "confirmation_timeout"
    assert ledger_check_task()["ok"] is True
    assert payer.wallet_accounts.get(currency="CNY").balance == 5000
