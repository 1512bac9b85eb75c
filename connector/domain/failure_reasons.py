"""Provider failure codes normalised to the §3 `last_failure_reason` values (PRODUCT.md §4).

Stripe: `decline_code` first (the issuer's granular reason), else `failure_code`/`code` (e.g. the
generic `card_declined`). Stripe moved "do not retry" guidance into advice codes
(https://docs.stripe.com/declines/codes), hence the `advice_code` override.
"""

from __future__ import annotations

from connector.domain.fields import FailureReason

_R = FailureReason

_CODE_TO_REASON: dict[str, FailureReason] = {
    "insufficient_funds": _R.INSUFFICIENT_FUNDS,
    "expired_card": _R.EXPIRED_CARD,
    **dict.fromkeys(
        (
            "incorrect_number",
            "invalid_number",
            "incorrect_cvc",
            "invalid_cvc",
            "incorrect_zip",
            "invalid_expiry_month",
            "invalid_expiry_year",
        ),
        _R.INCORRECT_CARD_DETAILS,
    ),
    **dict.fromkeys(("lost_card", "stolen_card"), _R.LOST_OR_STOLEN_CARD),
    **dict.fromkeys(("fraudulent", "highest_risk_level", "merchant_blacklist"), _R.FRAUD_SUSPECTED),
    **dict.fromkeys(
        (
            "pickup_card",
            "restricted_card",
            "security_violation",
            "not_permitted",
            "service_not_allowed",
            "revocation_of_authorization",
            "revocation_of_all_authorizations",
            "transaction_not_allowed",
            "stop_payment_order",
            "do_not_try_again",
        ),
        _R.DO_NOT_RETRY,
    ),
    "authentication_required": _R.AUTHENTICATION_REQUIRED,
    **dict.fromkeys(
        ("processing_error", "issuer_not_available", "try_again_later", "reenter_transaction"),
        _R.PROCESSING_ERROR,
    ),
    **dict.fromkeys(
        (
            "generic_decline",
            "do_not_honor",
            "card_declined",
            "card_velocity_exceeded",
            "withdrawal_count_limit_exceeded",
        ),
        _R.CARD_DECLINED,
    ),
}

# §5: these score as hard declines.
HARD_REASONS: frozenset[FailureReason] = frozenset(
    {
        _R.EXPIRED_CARD,
        _R.LOST_OR_STOLEN_CARD,
        _R.FRAUD_SUSPECTED,
        _R.INCORRECT_CARD_DETAILS,
        _R.DO_NOT_RETRY,
    }
)

# §6: the payment link leads with "update your card" for these.
CARD_UPDATE_REASONS: frozenset[FailureReason] = frozenset(
    {_R.EXPIRED_CARD, _R.INCORRECT_CARD_DETAILS}
)

_IN_WORDS: dict[FailureReason, str] = {
    _R.EXPIRED_CARD: "the card has expired",
    _R.INSUFFICIENT_FUNDS: "the card had insufficient funds",
    _R.CARD_DECLINED: "the bank declined the card without giving a reason",
    _R.AUTHENTICATION_REQUIRED: "the bank asked the customer to confirm the payment (3D Secure)",
    _R.INCORRECT_CARD_DETAILS: "the card details are incorrect (number, CVC, postcode or expiry)",
    _R.LOST_OR_STOLEN_CARD: "the card was reported lost or stolen",
    _R.FRAUD_SUSPECTED: "the payment was blocked as suspected fraud",
    _R.DO_NOT_RETRY: "the bank said not to try this card again",
    _R.PROCESSING_ERROR: "a temporary processing error at the bank",
    _R.OTHER: "the payment failed for another reason",
}


def _clean(code: str | None) -> str | None:
    if code is None:
        return None
    code = code.strip().lower()
    return code or None


def normalise_failure(
    decline_code: str | None, failure_code: str | None, advice_code: str | None = None
) -> FailureReason:
    """One §3 failure reason from a provider's decline code, failure code and advice code."""
    code = _clean(decline_code) or _clean(failure_code)
    reason = _CODE_TO_REASON.get(code, _R.OTHER) if code else _R.OTHER
    # The advice overrides only reasons that carry no better path: a card-detail reason keeps its
    # card-update path even when the issuer also says "do not try again".
    if _clean(advice_code) == "do_not_try_again" and reason in (_R.CARD_DECLINED, _R.OTHER):
        return _R.DO_NOT_RETRY
    return reason


def reason_in_words(reason: FailureReason | str) -> str:
    """Plain English for account managers, e.g. "the card has expired"."""
    return _IN_WORDS[FailureReason(reason)]
