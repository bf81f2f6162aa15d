# (name, dotted task name, every N seconds): defaults for django-celery-beat, see setup_schedules.
SCHEDULES = [
    ("Ledger integrity check", "payments.tasks.ledger_check", 60 * 60),
    ("Fail payments awaiting merchant confirmation too long", "payments.tasks.payments_expire_pending", 60),
    ("Settle lost provider operations, pay approved VAT claims left unpaid", "payments.tasks.wallet_sweep", 60),
]
