"""The one Money type.

Amounts are integers in the currency's minor unit (fen, cents, rappen; yen have none; dinars have
three). Conversions from decimal input reject extra precision instead of rounding it away, and the
one rounding rule for computed amounts (FX, percentages, fees, VAT) is ROUND_HALF_EVEN ("banker's
rounding"), applied once per computed amount, in `Money.from_decimal(..., rounding=True)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 minor units for the currencies the platform handles; anything else is rejected.
CURRENCY_EXPONENTS: dict[str, int] = {
    "CNY": 2, "CHF": 2, "EUR": 2, "GBP": 2, "USD": 2, "SGD": 2, "HKD": 2, "JPY": 0, "KRW": 0,
    "THB": 2, "AUD": 2, "CAD": 2, "KWD": 3, "BHD": 3,
}
ROUNDING = ROUND_HALF_EVEN


class MoneyError(ValueError):
    """Bad currency or amount; `code` is the API error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def currency_exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"Unsupported currency {currency!r}.", "unsupported_currency") from None


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise MoneyError("Money amounts are integers in minor units.", "invalid_amount")
        currency_exponent(self.currency)

    @classmethod
    def from_decimal(cls, value: Decimal | str | int, currency: str, *, rounding: bool = False) -> Money:
        """Major units (e.g. "12.34" CNY) to Money. With `rounding=False`, extra decimals are an error."""
        exponent = currency_exponent(currency)
        try:
            decimal_value = Decimal(str(value))
        except (InvalidOperation, ValueError):
            raise MoneyError(f"{value!r} is not a number.", "invalid_amount") from None
        if not decimal_value.is_finite():
            raise MoneyError("Amount must be finite.", "invalid_amount")
        scaled = decimal_value.scaleb(exponent)
        if rounding:
            scaled = scaled.quantize(Decimal(1), rounding=ROUNDING)
        elif scaled != scaled.to_integral_value():
            raise MoneyError(
                f"{currency} amounts have at most {exponent} decimal places.", "too_many_decimals"
            )
        return cls(int(scaled), currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-currency_exponent(self.currency))

    def decimal_string(self) -> str:
        """The amount in major units with exactly the currency's decimals: "12.30", "1200", "1.500"."""
        return f"{self.to_decimal():.{currency_exponent(self.currency)}f}"

    def __str__(self) -> str:
        return f"{self.decimal_string()} {self.currency}"

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise MoneyError(f"Cannot combine {self.currency} and {other.currency}.", "currency_mismatch")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def multiply(self, factor: Decimal | str) -> Money:
        """Scale by a decimal factor (a rate, a percentage), rounding once with the house rule."""
        result = (Decimal(self.amount) * Decimal(str(factor))).quantize(Decimal(1), rounding=ROUNDING)
        return Money(int(result), self.currency)

    def convert(self, rate: Decimal | str, to_currency: str) -> Money:
        """Convert at `rate` (units of `to_currency` per one unit of this currency), rounded once."""
        major = self.to_decimal() * Decimal(str(rate))
        return Money.from_decimal(major, to_currency, rounding=True)

    def as_dict(self) -> dict[str, object]:
        return {"amount": self.amount, "currency": self.currency, "display": str(self)}
