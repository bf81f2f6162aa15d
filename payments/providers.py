"""Funding providers (cards, banks). A real PSP plugs in by implementing `FundingProvider` and adding
it to `PROVIDERS`; the wallet only ever calls `charge` (top-up) and `payout` (withdrawal)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from superapp.money import Money


@dataclass(frozen=True)
class ProviderResult:
    ok: bool
    reference: str
    decline_reason: str = ""


class FundingProvider:
    name = "base"

    def tokenize(self, *, label: str, user_id: int) -> str:
        raise NotImplementedError

    def charge(self, *, token: str, amount: Money, reference: str) -> ProviderResult:
        raise NotImplementedError

    def payout(self, *, token: str, amount: Money, reference: str) -> ProviderResult:
        raise NotImplementedError


class SimulatedProvider(FundingProvider):
    """Deterministic stand-in: approves everything except tokens created from a label containing
    'decline' (so tests and demos can exercise the declined path) and amounts above 1,000,000."""

    name = "simulated"
    LIMIT_MAJOR = 1_000_000

    def tokenize(self, *, label: str, user_id: int) -> str:
        digest = hashlib.sha256(f"{user_id}:{label}".encode()).hexdigest()[:24]
        prefix = "sim_decline_" if "decline" in label.lower() else "sim_"
        return f"{prefix}{digest}"

    def _decide(self, *, token: str, amount: Money, reference: str, op: str) -> ProviderResult:
        ref = f"{op}_{hashlib.sha256(f'{token}:{reference}'.encode()).hexdigest()[:20]}"
        if token.startswith("sim_decline_"):
            return ProviderResult(False, ref, "card_declined")
        if amount.to_decimal() > self.LIMIT_MAJOR:
            return ProviderResult(False, ref, "amount_over_limit")
        return ProviderResult(True, ref)

    def charge(self, *, token: str, amount: Money, reference: str) -> ProviderResult:
        return self._decide(token=token, amount=amount, reference=reference, op="ch")

    def payout(self, *, token: str, amount: Money, reference: str) -> ProviderResult:
        return self._decide(token=token, amount=amount, reference=reference, op="po")


PROVIDERS: dict[str, FundingProvider] = {SimulatedProvider.name: SimulatedProvider()}


def provider_for(name: str) -> FundingProvider:
    return PROVIDERS[name]
