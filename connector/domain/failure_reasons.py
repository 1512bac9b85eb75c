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


# ---------------------------------------------------------------------------------------------
# Chargebee (PRODUCT.md §4: `error_detail.decline_code`, else the transaction's `error_code`).
# Chargebee passes the gateway's own codes through: with the Stripe gateway they are Stripe's
# (card_declined / insufficient_funds, shared table above); Braintree sends its numeric processor
# responses; Chargebee's own normalised error ids read `gateway.<group>.<name>`
# (apidocs.chargebee.com/docs/api/errors/gateway.transaction_processing.card_declined).

_BRAINTREE_CODES: dict[str, FailureReason] = {
    # developer.paypal.com/braintree/articles/control-panel/transactions/declines
    "2000": _R.CARD_DECLINED,  # Do Not Honor
    "2001": _R.INSUFFICIENT_FUNDS,
    "2002": _R.CARD_DECLINED,  # Limit Exceeded
    "2003": _R.CARD_DECLINED,  # Cardholder's Activity Limit Exceeded
    "2004": _R.EXPIRED_CARD,
    "2005": _R.INCORRECT_CARD_DETAILS,  # Invalid Credit Card Number
    "2006": _R.INCORRECT_CARD_DETAILS,  # Invalid Expiration Date
    "2010": _R.INCORRECT_CARD_DETAILS,  # Card Issuer Declined CVV
    "2012": _R.LOST_OR_STOLEN_CARD,
    "2013": _R.LOST_OR_STOLEN_CARD,
    "2014": _R.FRAUD_SUSPECTED,
    "2015": _R.DO_NOT_RETRY,  # Transaction Not Allowed
    "2017": _R.DO_NOT_RETRY,  # Cardholder Stopped Billing
    "2018": _R.DO_NOT_RETRY,  # Cardholder Stopped All Billing
    "2021": _R.DO_NOT_RETRY,  # Security Violation
    "2038": _R.CARD_DECLINED,  # Processor Declined
    "2044": _R.CARD_DECLINED,  # Declined - Call Issuer
    "2046": _R.CARD_DECLINED,  # Declined
    "2047": _R.DO_NOT_RETRY,  # Call Issuer. Pick Up Card
    "2057": _R.DO_NOT_RETRY,  # Issuer or Cardholder has put a restriction on the card
    "3000": _R.PROCESSING_ERROR,  # Processor Network Unavailable - Try Again
}

# Names in Chargebee's own error ids that differ from the Stripe vocabulary.
_CHARGEBEE_ALIASES: dict[str, FailureReason] = {
    "low_balance": _R.INSUFFICIENT_FUNDS,
    "card_expired": _R.EXPIRED_CARD,
    "invalid_card_number": _R.INCORRECT_CARD_DETAILS,
    "invalid_card": _R.INCORRECT_CARD_DETAILS,
    "invalid_cvv": _R.INCORRECT_CARD_DETAILS,
    "invalid_expiry_date": _R.INCORRECT_CARD_DETAILS,
    "lost_or_stolen_card": _R.LOST_OR_STOLEN_CARD,
    "fraud_suspected": _R.FRAUD_SUSPECTED,
    "suspected_fraud": _R.FRAUD_SUSPECTED,
    "card_issue": _R.CARD_DECLINED,
    "three_d_secure_required": _R.AUTHENTICATION_REQUIRED,
    "3ds_required": _R.AUTHENTICATION_REQUIRED,
    "gateway_timeout": _R.PROCESSING_ERROR,
    "issuer_unavailable": _R.PROCESSING_ERROR,
}

# Mastercard merchant advice codes 03 and 21: do not retry (reference/billing.md §8).
_DO_NOT_RETRY_ADVICE = frozenset({"do_not_try_again", "03", "21"})


def _chargebee_reason(code: str | None) -> FailureReason | None:
    code = _clean(code)
    if code is None:
        return None
    if code.startswith("gateway."):
        code = code.rsplit(".", 1)[-1]
    return _CODE_TO_REASON.get(code) or _BRAINTREE_CODES.get(code) or _CHARGEBEE_ALIASES.get(code)


def normalise_chargebee_failure(
    decline_code: str | None, error_code: str | None, advice_code: str | None = None
) -> FailureReason:
    """One §3 reason from a Chargebee transaction: `error_detail.decline_code`, else its
    `error_code` (a gateway code or a Chargebee `gateway.…` id); `advice_code` the processor's
    advice (`error_detail.processor_advice_code`)."""
    reason = _chargebee_reason(decline_code) or _chargebee_reason(error_code) or _R.OTHER
    if _clean(advice_code) in _DO_NOT_RETRY_ADVICE and reason in (_R.CARD_DECLINED, _R.OTHER):
        return _R.DO_NOT_RETRY
    return reason
