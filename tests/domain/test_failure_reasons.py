import pytest

from connector.domain.failure_reasons import (
    HARD_REASONS,
    normalise_chargebee_failure,
    normalise_failure,
    reason_in_words,
)
from connector.domain.fields import FailureReason as R

# PRODUCT.md §4, row by row.
MAPPING = [
    ("insufficient_funds", R.INSUFFICIENT_FUNDS),
    ("expired_card", R.EXPIRED_CARD),
    ("incorrect_number", R.INCORRECT_CARD_DETAILS),
    ("invalid_number", R.INCORRECT_CARD_DETAILS),
    ("incorrect_cvc", R.INCORRECT_CARD_DETAILS),
    ("invalid_cvc", R.INCORRECT_CARD_DETAILS),
    ("incorrect_zip", R.INCORRECT_CARD_DETAILS),
    ("invalid_expiry_month", R.INCORRECT_CARD_DETAILS),
    ("invalid_expiry_year", R.INCORRECT_CARD_DETAILS),
    ("lost_card", R.LOST_OR_STOLEN_CARD),
    ("stolen_card", R.LOST_OR_STOLEN_CARD),
    ("fraudulent", R.FRAUD_SUSPECTED),
    ("highest_risk_level", R.FRAUD_SUSPECTED),
    ("merchant_blacklist", R.FRAUD_SUSPECTED),
    ("pickup_card", R.DO_NOT_RETRY),
    ("restricted_card", R.DO_NOT_RETRY),
    ("security_violation", R.DO_NOT_RETRY),
    ("not_permitted", R.DO_NOT_RETRY),
    ("service_not_allowed", R.DO_NOT_RETRY),
    ("revocation_of_authorization", R.DO_NOT_RETRY),
    ("revocation_of_all_authorizations", R.DO_NOT_RETRY),
    ("transaction_not_allowed", R.DO_NOT_RETRY),
    ("stop_payment_order", R.DO_NOT_RETRY),
    ("do_not_try_again", R.DO_NOT_RETRY),
    ("authentication_required", R.AUTHENTICATION_REQUIRED),
    ("processing_error", R.PROCESSING_ERROR),
    ("issuer_not_available", R.PROCESSING_ERROR),
    ("try_again_later", R.PROCESSING_ERROR),
    ("reenter_transaction", R.PROCESSING_ERROR),
    ("generic_decline", R.CARD_DECLINED),
    ("do_not_honor", R.CARD_DECLINED),
    ("card_declined", R.CARD_DECLINED),
    ("card_velocity_exceeded", R.CARD_DECLINED),
    ("withdrawal_count_limit_exceeded", R.CARD_DECLINED),
    ("call_issuer", R.OTHER),
    ("testmode_decline", R.OTHER),
    ("elevated_risk_level", R.OTHER),
]


@pytest.mark.parametrize(("code", "reason"), MAPPING)
def test_decline_code_mapping(code, reason):
    assert normalise_failure(code, None) == reason


@pytest.mark.parametrize(("code", "reason"), MAPPING)
def test_failure_code_used_when_no_decline_code(code, reason):
    assert normalise_failure(None, code) == reason
    assert normalise_failure("", code) == reason


def test_decline_code_wins_over_failure_code():
    # Stripe's real shape: code card_declined, decline_code generic/insufficient_funds.
    assert normalise_failure("insufficient_funds", "card_declined") == R.INSUFFICIENT_FUNDS
    # "anything else -> other", even when the generic code would have said card_declined
    assert normalise_failure("call_issuer", "card_declined") == R.OTHER


def test_codes_are_case_and_space_insensitive():
    assert normalise_failure(" Expired_Card ", None) == R.EXPIRED_CARD


def test_no_code_at_all_is_other():
    assert normalise_failure(None, None) == R.OTHER


@pytest.mark.parametrize(
    ("decline", "failure", "reason"),
    [
        ("generic_decline", "card_declined", R.DO_NOT_RETRY),
        (None, "card_declined", R.DO_NOT_RETRY),
        ("call_issuer", None, R.DO_NOT_RETRY),
        (None, None, R.DO_NOT_RETRY),
        # a card-detail reason keeps its card-update path
        ("expired_card", None, R.EXPIRED_CARD),
        ("incorrect_cvc", None, R.INCORRECT_CARD_DETAILS),
        # other specific reasons are not turned either
        ("insufficient_funds", None, R.INSUFFICIENT_FUNDS),
        ("lost_card", None, R.LOST_OR_STOLEN_CARD),
    ],
)
def test_advice_do_not_try_again(decline, failure, reason):
    assert normalise_failure(decline, failure, "do_not_try_again") == reason


@pytest.mark.parametrize("advice", ["try_again_later", "confirm_card_data", None])
def test_other_advice_changes_nothing(advice):
    assert normalise_failure("generic_decline", "card_declined", advice) == R.CARD_DECLINED


def test_hard_reasons_are_those_of_section_5():
    assert {
        R.EXPIRED_CARD,
        R.LOST_OR_STOLEN_CARD,
        R.FRAUD_SUSPECTED,
        R.INCORRECT_CARD_DETAILS,
        R.DO_NOT_RETRY,
    } == HARD_REASONS


def test_reason_in_words():
    assert reason_in_words(R.EXPIRED_CARD) == "the card has expired"
    assert reason_in_words("insufficient_funds") == "the card had insufficient funds"
    words = [reason_in_words(r) for r in R]
    assert all(w and "_" not in w for w in words)
    assert len(set(words)) == len(words)


# --- Chargebee --------------------------------------------------------------------------------



@pytest.mark.parametrize(
    ("decline", "error", "advice", "expected"),
    [
        # Stripe gateway: Stripe's own codes pass through; the decline code wins.
        ("insufficient_funds", "card_declined", None, R.INSUFFICIENT_FUNDS),
        (None, "card_declined", None, R.CARD_DECLINED),
        ("stolen_card", "card_declined", None, R.LOST_OR_STOLEN_CARD),
        # Braintree processor responses.
        (None, "2001", None, R.INSUFFICIENT_FUNDS),
        (None, "2004", None, R.EXPIRED_CARD),
        (None, "2010", None, R.INCORRECT_CARD_DETAILS),
        (None, "2047", None, R.DO_NOT_RETRY),
        (None, "3000", None, R.PROCESSING_ERROR),
        # Chargebee's own error ids.
        (None, "gateway.transaction_processing.low_balance", None, R.INSUFFICIENT_FUNDS),
        (None, "gateway.transaction_processing.card_declined", None, R.CARD_DECLINED),
        # Unknown codes; an unknown decline falls back to the error code.
        ("something_new", "2004", None, R.EXPIRED_CARD),
        (None, "E9999", None, R.OTHER),
        # Mastercard merchant advice 03/21 and do_not_try_again: stop, but card paths stay.
        (None, "2046", "21", R.DO_NOT_RETRY),
        (None, "card_declined", "do_not_try_again", R.DO_NOT_RETRY),
        ("expired_card", None, "03", R.EXPIRED_CARD),
    ],
)
def test_chargebee_codes(decline, error, advice, expected):
    assert normalise_chargebee_failure(decline, error, advice) == expected
