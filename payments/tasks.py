"""Wallet Celery tasks: ids in, plain JSON out, safe to run twice."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

logger = logging.getLogger(__name__)

# Tasks that move money or finish a money flow retry with backoff when the database is unavailable
# (restarting, deadlock retries exhausted); whatever is still lost is picked up by `wallet_sweep`.
MONEY_TASK = {"autoretry_for": (OperationalError, InterfaceError), "retry_backoff": 2, "retry_backoff_max": 300,
              "retry_jitter": True, "max_retries": 8}


@shared_task(name="payments.tasks.ledger_check", time_limit=600)
def ledger_check_task() -> dict:
    from payments.checks import ledger_check

    report = ledger_check()
    if not report["ok"]:
        logger.error("ledger check FAILED: %s", report["violation_counts"])
    return {"ok": report["ok"], "violation_counts": report["violation_counts"]}


@shared_task(name="payments.tasks.payments_expire_pending", time_limit=300, **MONEY_TASK)
def payments_expire_pending_task() -> int:
    from payments.services import payments_expire_pending

    return payments_expire_pending()


@shared_task(name="payments.tasks.vat_claim_pay", time_limit=120, **MONEY_TASK)
def vat_claim_pay_task(claim_id: int) -> str:
    from payments.models import VatClaim
    from payments.services import vat_claim_pay

    claim = vat_claim_pay(claim=VatClaim.objects.get(pk=claim_id))
    return claim.status


@shared_task(name="payments.tasks.wallet_sweep", time_limit=600, **MONEY_TASK)
def wallet_sweep_task() -> dict:
    from payments.services import wallet_sweep

    done = wallet_sweep()
    if any(done.values()):
        logger.warning("wallet sweep picked up lost work: %s", done)
    return done
