"""The one Money type.

Amounts are integers in the currency's minor unit (fen, cents, rappen; yen have none; dinars have
three). Conversions from decimal input reject extra precision instead of rounding it away, and the
one rounding rule for computed amounts (FX, percentages, fees, VAT) is ROUND_HALF_EVEN ("banker's
rounding"), applied once per computed amount, in `Money.from_decimal(..., rounding=True)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

# ISO 4217 minor units for the currencies the platform handles; anything else is rejected.
CURRENCY_EXPONENTS: dict[str, int] = {
    "CNY": 2, "CHF": 2, "EUR": 2, "GBP": 2, "USD": 2, "SGD": 2, "HKD": 2, "JPY": 0, "KRW": 0,
    "THB": 2, "AUD": 2, "CAD": 2, "KWD": 3, "BHD": 3,
}
ROUNDING = ROUND_HALF_EVEN

# Bounds on amounts, checked on the raw text BEFORE any conversion (a short string such as "1e999990" must
# never reach Decimal/int arithmetic). 12 integer digits in major units (below a trillion) keep every amount,
# sum and fee far inside the database's bigint of minor units, whatever the currency's exponent.
MAX_AMOUNT_CHARS = 32
MAX_AMOUNT_INTEGER_DIGITS = 12
MAX_AMOUNT_FRACTION_DIGITS = 12
# Plain ASCII decimal notation only: optional minus, digits, optional fraction. No exponent, no "+", no
# underscores, no non-ASCII digits ("١٠"), no spaces: Python's Decimal() would accept all of those.
_AMOUNT_TEXT = re.compile(
    rf"-?([0-9]{{1,{MAX_AMOUNT_INTEGER_DIGITS}}})(\.[0-9]{{1,{MAX_AMOUNT_FRACTION_DIGITS}}})?", re.ASCII)


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


_TOO_LARGE = f"Amounts have at most {MAX_AMOUNT_INTEGER_DIGITS} digits before the decimal point."


def parse_amount_text(text: str) -> Decimal:
    """API amount text -> Decimal, or MoneyError. The one parsing rule for money input: bounded length,
    ASCII digits, no exponent; checked before the text is converted, so it costs microseconds whatever
    the input."""
    if len(text) > MAX_AMOUNT_CHARS:
        raise MoneyError(f"Amounts are at most {MAX_AMOUNT_CHARS} characters.", "amount_out_of_range")
    match = _AMOUNT_TEXT.fullmatch(text)
    if match is None:
        integer_part = re.fullmatch(r"-?([0-9]+)(\.[0-9]+)?", text, re.ASCII)
        if integer_part and len(integer_part.group(1)) > MAX_AMOUNT_INTEGER_DIGITS:
            raise MoneyError(_TOO_LARGE, "amount_out_of_range")
        raise MoneyError(
            f"{text!r} is not a decimal amount: use ASCII digits with an optional minus sign and decimal point, "
            'e.g. "12.34" (no exponent, separators or spaces).', "invalid_amount")
    return Decimal(text)


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
        """Major units (e.g. "12.34" CNY) to Money. With `rounding=False`, extra decimals are an error.

        A string (API input) must be a plain decimal within the bounds above (`parse_amount_text`); a
        Decimal or int (computed in code) must be finite and below a trillion major units in magnitude."""
        exponent = currency_exponent(currency)
        if isinstance(value, str):
            decimal_value = parse_amount_text(value)
        elif isinstance(value, (Decimal, int)) and not isinstance(value, bool):
            decimal_value = Decimal(value)
            if not decimal_value.is_finite():
                raise MoneyError("Amount must be finite.", "invalid_amount")
            if decimal_value and decimal_value.adjusted() >= MAX_AMOUNT_INTEGER_DIGITS:
                raise MoneyError(_TOO_LARGE, "amount_out_of_range")
        else:
            raise MoneyError(f"{value!r} is not a number.", "invalid_amount")
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
