"""Verify the ledger: prints a JSON report; exits 1 on any violation."""

import json
import sys

from django.core.management import BaseCommand

from payments.checks import ledger_check


class Command(BaseCommand):
    help = "Check that every ledger transaction balances, cached balances match entries, and no wallet is negative."

    def handle(self, *args, **options):
        report = ledger_check()
        self.stdout.write(json.dumps(report, default=str))
        if not report["ok"]:
            self.stderr.write("ledger check FAILED")
            sys.exit(1)
