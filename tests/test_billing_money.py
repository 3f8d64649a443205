"""Money: ISO 4217 minor units, half-up rounding, per-line tax, proration that adds up."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from centinela.billing.money import check_amount, check_rate, line_tax, minor_unit, prorate, round_money


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("USD", 2), ("MXN", 2), ("PEN", 2), ("COP", 2), ("CLP", 0), ("PYG", 0), ("KWD", 3)],
)
def test_minor_unit_follows_iso_4217(currency: str, digits: int) -> None:
    assert minor_unit(currency) == digits


@pytest.mark.parametrize("currency", ["ZZZ", "usd", "", "XAU"])
def test_unknown_or_non_money_currency_is_rejected(currency: str) -> None:
    with pytest.raises(ValueError):
        minor_unit(currency)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("0.005", "USD", "0.01"),
        ("0.025", "USD", "0.03"),  # half up, not half even
        ("2.345", "MXN", "2.35"),
        ("-0.005", "USD", "-0.01"),  # ties away from zero, so a credit mirrors its charge
        ("2.5", "CLP", "3"),
        ("19990.4999", "CLP", "19990"),
        ("1.0005", "KWD", "1.001"),
    ],
)
def test_round_money_half_up(amount: str, currency: str, rounded: str) -> None:
    result = round_money(Decimal(amount), currency)
    assert result == Decimal(rounded)
    assert str(result) == rounded


def test_a_credit_rounding_to_nothing_is_plain_zero() -> None:
    assert str(round_money(Decimal("-0.001"), "USD")) == "0.00"
    assert str(round_money(Decimal("-0.4"), "CLP")) == "0"


def test_check_amount_rejects_floats_and_excess_decimals() -> None:
    check_amount(Decimal("10.50"), "USD", "price")
    check_amount(Decimal("10"), "USD", "price")
    with pytest.raises(TypeError):
        check_amount(10.5, "USD", "price")
    with pytest.raises(TypeError):
        check_amount(Decimal("NaN"), "USD", "price")
    with pytest.raises(ValueError):
        check_amount(Decimal("10.505"), "USD", "price")
    with pytest.raises(ValueError):
        check_amount(Decimal("100.5"), "CLP", "price")


def test_check_rate_accepts_fractions_only() -> None:
    check_rate(None)
    check_rate(Decimal("0.19"))
    for bad in (Decimal("19"), Decimal("-0.1"), 0.19):
        with pytest.raises(ValueError):
            check_rate(bad)  # type: ignore[arg-type]


def test_line_tax_is_rounded_per_line() -> None:
    assert line_tax(Decimal("0.05"), Decimal("0.10"), "USD") == Decimal("0.01")  # 0.005 up
    assert line_tax(Decimal("19990"), Decimal("0.19"), "CLP") == Decimal("3798")  # 3798.1
    assert line_tax(Decimal("-11.00"), Decimal("0.16"), "MXN") == Decimal("-1.76")
    assert str(line_tax(Decimal("30.00"), None, "USD")) == "0.00"


def test_prorate_examples() -> None:
    assert prorate(Decimal("30.00"), "USD", 14, 16, 30) == Decimal("16.00")
    assert prorate(Decimal("100.00"), "USD", 0, 30, 30) == Decimal("100.00")
    assert prorate(Decimal("100.00"), "USD", 0, 0, 30) == Decimal("0.00")
    # 10 days of 31 of 100.00 is 32.258..; the cumulative split gives 32.26 + 32.26 + 35.48.
    pieces = [prorate(Decimal("100.00"), "USD", before, days, 31) for before, days in ((0, 10), (10, 10), (20, 11))]
    assert pieces == [Decimal("32.26"), Decimal("32.26"), Decimal("35.48")]
    assert sum(pieces) == Decimal("100.00")
    assert prorate(Decimal("19990"), "CLP", 0, 16, 30) == Decimal("10661")


def test_prorate_rejects_days_outside_the_period() -> None:
    with pytest.raises(ValueError):
        prorate(Decimal("30.00"), "USD", 20, 11, 30)
    with pytest.raises(ValueError):
        prorate(Decimal("30.00"), "USD", -1, 5, 30)


_CURRENCIES = st.sampled_from(["USD", "CLP", "KWD"])


@st.composite
def price_and_split(draw: st.DrawFn) -> tuple[str, Decimal, int, list[int]]:
    currency = draw(_CURRENCIES)
    price = Decimal(draw(st.integers(0, 10**9))).scaleb(-minor_unit(currency))
    period_days = draw(st.integers(1, 366))
    cuts = sorted(draw(st.sets(st.integers(1, period_days - 1), max_size=12))) if period_days > 1 else []
    return currency, price, period_days, [0, *cuts, period_days]


@given(price_and_split())
def test_prorations_of_all_days_of_a_period_add_up_to_the_price(case: tuple[str, Decimal, int, list[int]]) -> None:
    currency, price, period_days, bounds = case
    pieces = [prorate(price, currency, a, b - a, period_days) for a, b in pairwise(bounds)]
    assert sum(pieces) == price
    unit = Decimal(1).scaleb(-minor_unit(currency))
    for (a, b), piece in zip(pairwise(bounds), pieces, strict=True):
        assert piece == round_money(piece, currency)
        assert abs(piece - price * (b - a) / period_days) <= unit
