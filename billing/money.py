"""Money: `Decimal` amounts rounded to the currency's ISO 4217 minor unit, half up.

The minor unit comes from the ISO 4217 table (the `iso4217` package): USD, MXN, PEN and COP have
2 decimals, CLP and PYG none. (CLDR, and so babel, gives COP 0 digits, a cash convention; invoices
in Colombia and Odoo's COP use centavos, as ISO does.)

Rounding happens at fixed points only, so totals add up exactly:
- a line amount is rounded once (a plan price is already in minor units; a proration is rounded as
  below);
- a line's tax is round(amount × rate), rounded per line; the invoice's tax is the sum of its lines'
  taxes and total = sum(line amounts) + tax, with no rounding at invoice level.

Proration uses cumulative rounding. Days a..b of an N-day period, with k days of the period before
a, cost round(price × (k + days) / N) − round(price × k / N). Any split of a period into day ranges
then adds up to the price exactly (the terms telescope), and each piece is within one minor unit of
its exact share.

Tax rates are fractions: Decimal("0.18") for 18 %. Prices are before tax.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from iso4217 import Currency


@cache
def minor_unit(currency: str) -> int:
    """Decimal places of the currency's minor unit (2 for USD, 0 for CLP)."""
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        raise ValueError(f"unknown ISO 4217 currency {currency!r}") from None
    if exponent is None:  # gold, SDR, test codes: not money one invoices in
        raise ValueError(f"currency {currency!r} has no minor unit")
    return exponent


@cache
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    rounded = amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP)
    # A credit that rounds to nothing would print as "-0.00".
    return rounded.copy_abs() if rounded.is_zero() else rounded


def check_amount(amount: object, currency: str, what: str) -> None:
    """Reject floats and amounts finer than the currency's minor unit."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError(f"{what} must be a finite Decimal, not {amount!r}")
    if round_money(amount, currency) != amount:
        raise ValueError(f"{what} {amount} has more decimals than {currency} allows")


def check_rate(rate: Decimal | None) -> None:
    if rate is None:
        return
    if not isinstance(rate, Decimal) or not Decimal(0) <= rate <= Decimal(1):
        raise ValueError(f"tax rate must be a Decimal fraction in [0, 1], not {rate!r}")


def line_tax(amount: Decimal, rate: Decimal | None, currency: str) -> Decimal:
    if rate is None:
        return round_money(Decimal(0), currency)
    return round_money(amount * rate, currency)


def prorate(price: Decimal, currency: str, days_before: int, days: int, period_days: int) -> Decimal:
    """The share of `price` for `days` days that follow `days_before` days of a period."""
    if days_before < 0 or days < 0 or days_before + days > period_days:
        raise ValueError(f"days {days_before}+{days} do not fit a {period_days}-day period")
    through = round_money(price * (days_before + days) / period_days, currency)
    before = round_money(price * days_before / period_days, currency)
    return through - before
