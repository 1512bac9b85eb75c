import pytest

from connector.domain.money import format_minor, stripe_exponent

ZERO_DECIMAL = [
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "JPY",
    "KMF",
    "KRW",
    "MGA",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
]
THREE_DECIMAL = ["BHD", "JOD", "KWD", "OMR", "TND"]
# Stripe's special cases stay two-decimal in its API (reference/billing.md §1.5).
TWO_DECIMAL = ["USD", "EUR", "GBP", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "ISK", "HUF", "TWD"]


@pytest.mark.parametrize("currency", ZERO_DECIMAL)
def test_zero_decimal_currencies(currency):
    assert stripe_exponent(currency) == 0


@pytest.mark.parametrize("currency", THREE_DECIMAL)
def test_three_decimal_currencies(currency):
    assert stripe_exponent(currency) == 3


@pytest.mark.parametrize("currency", TWO_DECIMAL)
def test_two_decimal_currencies(currency):
    assert stripe_exponent(currency) == 2


def test_currency_case_is_ignored():
    # Stripe sends currencies in lower case.
    assert stripe_exponent("jpy") == 0
    assert stripe_exponent("kwd") == 3
    assert stripe_exponent("isk") == 2


@pytest.mark.parametrize("bad", ["", "US", "USDX", "12$"])
def test_not_a_currency_code(bad):
    with pytest.raises(ValueError):
        stripe_exponent(bad)


@pytest.mark.parametrize(
    ("amount", "exponent", "text"),
    [
        (12050, 2, "120.50"),
        (35200, 3, "35.200"),
        (5000, 0, "5000"),
        (5, 2, "0.05"),
        (5, 3, "0.005"),
        (0, 2, "0.00"),
        (0, 0, "0"),
        (100, 2, "1.00"),
        (-105, 2, "-1.05"),
        (123456789, 2, "1234567.89"),
    ],
)
def test_format_minor(amount, exponent, text):
    assert format_minor(amount, exponent) == text


def test_format_minor_rejects_negative_exponent():
    with pytest.raises(ValueError):
        format_minor(1, -1)


def test_chargebee_exponents_are_its_own():
    from connector.domain.money import chargebee_exponent

    assert chargebee_exponent("jpy") == 0
    assert chargebee_exponent("KRW") == 0
    assert chargebee_exponent("USD") == 2
    # Chargebee has no three-decimal currencies: amounts are "multiplied by 100".
    assert chargebee_exponent("KWD") == 2
    assert chargebee_exponent("BHD") == 2
    with pytest.raises(ValueError):
        chargebee_exponent("dollars")
