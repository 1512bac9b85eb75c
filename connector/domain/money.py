"""Integer minor units and the exponent the *provider* uses for each currency (PRODUCT.md §4).

Stripe's exponent is not always ISO 4217's: ISK, HUF and TWD are zero-decimal in ISO/for payouts
but stay two-decimal in Stripe's API (https://docs.stripe.com/currencies#special-cases), so
amounts are shown with Stripe's exponent, never ISO's.
"""

from __future__ import annotations

# https://docs.stripe.com/currencies#zero-decimal (UGX added later, see reference/billing.md §1.5)
STRIPE_ZERO_DECIMAL: frozenset[str] = frozenset(
    [
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
)
# https://docs.stripe.com/currencies#three-decimal
STRIPE_THREE_DECIMAL: frozenset[str] = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def stripe_exponent(currency: str) -> int:
    """Decimal places Stripe uses for `currency` (any case): 0, 2 or 3."""
    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"not an ISO 4217 currency code: {currency!r}")
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2  # includes Stripe's special cases ISK, HUF, TWD: two decimals in the API


def format_minor(amount_minor: int, exponent: int) -> str:
    """Minor units as a plain decimal string: (12050, 2) -> "120.50", (5000, 0) -> "5000"."""
    if exponent < 0:
        raise ValueError(f"negative exponent: {exponent}")
    sign = "-" if amount_minor < 0 else ""
    digits = str(abs(amount_minor))
    if exponent == 0:
        return sign + digits
    digits = digits.rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


# Chargebee's own rule (apidocs.chargebee.com/docs/api/currencies): zero-decimal currencies are
# sent in major units; every other currency "up to two decimal places ... multiplied by 100" —
# so Chargebee has no three-decimal currencies (KWD 35.200 arrives as 3520). Its API page names
# KRW, JPY, XAF and XOF; its supported-currencies page stars the others. This is that list with
# the rest of ISO 4217's zero-exponent currencies that Chargebee bills in.
# That is Stripe's list less MGA, which ISO 4217 (and so Chargebee) gives two decimals.
CHARGEBEE_ZERO_DECIMAL: frozenset[str] = STRIPE_ZERO_DECIMAL - {"MGA"}


def chargebee_exponent(currency: str) -> int:
    """Decimal places of Chargebee's amounts in `currency` (any case): 0 or 2."""
    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"not an ISO 4217 currency code: {currency!r}")
    return 0 if code in CHARGEBEE_ZERO_DECIMAL else 2
