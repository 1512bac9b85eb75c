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
