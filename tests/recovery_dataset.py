"""A known billing history whose recovery figures for November 2026 are worked out by hand.

Used by the domain tests (tests/domain/test_recovery.py), the API tests and the browser tests,
so the numbers on the page are checked against the same hand-made arithmetic.

USD, November 2026 (dates UTC; the installation's zone, Europe/London, is UTC in winter):
  A  in_A1 10000  failed 11-02 insufficient_funds, paid 11-05      recovered      first_time_late
  B  in_B1 20000  failed 11-03 expired_card, uncollectible 11-20    uncollectible  high_risk
  C  in_C1  5000  failed 11-10 card_declined, sub canceled 11-25   canceled       high_risk
  D  in_D3  8000  failed 11-15 insufficient_funds, paid 11-18      recovered      habitual_late
     (two earlier episodes, July and September, ended outside the period)
  E  in_E1 30000  send_invoice due 11-01, paid 11-11                recovered      first_time_late
  G  in_G1  7000  failed 11-26, still open                          (open episode)
  H  in_H1  6000  failed 11-04 do_not_honor, voided 11-09           written_off    first_time_late
EUR:
  F  in_F1  4000  failed 11-05, paid 11-06                          recovered
     in_F2  4500  failed 11-28, still open                          (open episode)
"""

from __future__ import annotations

from datetime import UTC, datetime

from connector.domain.billing_facts import (
    CustomerFacts,
    InvoiceSnapshot,
    PaymentFailure,
    ProfileSnapshot,
    SubscriptionSnapshot,
    merge_facts,
)


def ts(y: int, m: int, d: int, hh: int = 10) -> int:
    return int(datetime(y, m, d, hh, tzinfo=UTC).timestamp())


def _inv(invoice_id: str, amount: int, created: int, *, status: str = "paid", currency: str = "usd",
         sub: str | None = None, paid_at: int | None = None, voided_at: int | None = None,
         uncollectible_at: int | None = None, method: str = "charge_automatically",
         due: int | None = None) -> InvoiceSnapshot:
    if status == "paid" and paid_at is None:
        paid_at = created + 3600
    observed = max(t for t in (created, paid_at, voided_at, uncollectible_at) if t is not None)
    return InvoiceSnapshot(
        invoice_id=invoice_id, observed_at=observed, status=status, collection_method=method,
        currency=currency, total=amount, amount_due=amount,
        amount_paid=amount if status == "paid" else 0,
        amount_remaining=amount if status in ("open", "uncollectible") else 0,
        due_date=due, created=created, billing_reason="subscription_cycle" if sub else "manual",
        subscription_id=sub, paid_at=paid_at if status == "paid" else None, voided_at=voided_at,
        marked_uncollectible_at=uncollectible_at,
    )


def _fail(invoice_id: str, at: int, decline: str, currency: str = "usd", amount: int = 0) -> PaymentFailure:
    return PaymentFailure(key=f"ch:ch_{invoice_id}_{at}", at=at, invoice_id=invoice_id,
                          charge_id=f"ch_{invoice_id}_{at}", decline_code=decline, failure_code="card_declined",
                          amount=amount, currency=currency, sources=frozenset({"charge.failed"}))


def _sub(sub_id: str, status: str = "active", *, canceled_at: int | None = None,
         reason: str | None = None) -> SubscriptionSnapshot:
    return SubscriptionSnapshot(subscription_id=sub_id, observed_at=canceled_at or ts(2026, 11, 1),
                                status=status, collection_method="charge_automatically",
                                canceled_at=canceled_at, ended_at=canceled_at, cancellation_reason=reason)


def _customer(customer_id: str, name: str, *facts) -> CustomerFacts:  # noqa: ANN002
    profile = ProfileSnapshot(observed_at=ts(2026, 1, 1), email=f"billing@{customer_id[4:].lower()}.example",
                              name=name)
    return merge_facts(CustomerFacts(customer_id=customer_id), [profile, *facts])


def customers() -> list[CustomerFacts]:
    nov = lambda d: ts(2026, 11, d)  # noqa: E731
    return [
        _customer("cus_A", "Bright Smile Dental",
                  _sub("sub_A"), _inv("in_A0", 10000, ts(2026, 8, 1), sub="sub_A"),
                  _inv("in_A1", 10000, nov(2), sub="sub_A", paid_at=nov(5)),
                  _fail("in_A1", nov(2), "insufficient_funds")),
        _customer("cus_B", "Clearview Orthodontics",
                  _sub("sub_B"), _inv("in_B0", 20000, ts(2026, 10, 3), sub="sub_B"),
                  _inv("in_B1", 20000, nov(3), status="uncollectible", sub="sub_B", uncollectible_at=nov(20)),
                  _fail("in_B1", nov(3), "expired_card")),
        _customer("cus_C", "Harbor Family Dentistry",
                  _sub("sub_C", "canceled", canceled_at=nov(25), reason="payment_failed"),
                  _inv("in_C0", 5000, ts(2026, 9, 10), sub="sub_C"),
                  _inv("in_C1", 5000, nov(10), status="open", sub="sub_C"),
                  _fail("in_C1", nov(10), "card_declined")),
        _customer("cus_D", "Maple Dental Group",
                  _sub("sub_D"),
                  _inv("in_D1", 8000, ts(2026, 7, 1), sub="sub_D", paid_at=ts(2026, 7, 3)),
                  _fail("in_D1", ts(2026, 7, 1), "insufficient_funds"),
                  _inv("in_D2", 8000, ts(2026, 9, 1), sub="sub_D", paid_at=ts(2026, 9, 2)),
                  _fail("in_D2", ts(2026, 9, 1), "insufficient_funds"),
                  _inv("in_D3", 8000, nov(15), sub="sub_D", paid_at=nov(18)),
                  _fail("in_D3", nov(15), "insufficient_funds")),
        _customer("cus_E", "Summit Endodontics",
                  _inv("in_E1", 30000, ts(2026, 10, 20), method="send_invoice", due=ts(2026, 11, 1, 12),
                       paid_at=nov(11))),
        _customer("cus_F", "Zahnarztpraxis Keller",
                  _sub("sub_F"),
                  _inv("in_F1", 4000, nov(5), currency="eur", sub="sub_F", paid_at=nov(6)),
                  _fail("in_F1", nov(5), "insufficient_funds", "eur"),
                  _inv("in_F2", 4500, nov(28), status="open", currency="eur", sub="sub_F"),
                  _fail("in_F2", nov(28), "insufficient_funds", "eur")),
        _customer("cus_G", "Lakeside Smiles",
                  _sub("sub_G"), _inv("in_G1", 7000, nov(26), status="open", sub="sub_G"),
                  _fail("in_G1", nov(26), "insufficient_funds")),
        _customer("cus_H", "Pinecrest Dental",
                  _sub("sub_H"), _inv("in_H1", 6000, nov(4), status="void", sub="sub_H", voided_at=nov(9)),
                  _fail("in_H1", nov(4), "do_not_honor")),
    ]


# What November 2026 must show, worked out by hand from the table above.
NOVEMBER_USD = {
    "ended": 6, "recovered": 3,  # A, D, E of A, B, C, D, E, H
    "amount_ended": 79000, "amount_recovered": 48000,  # 10000+8000+30000 of that +20000+5000+6000
    "open_at_end": 12000, "billed": 50000,  # C's 5000 + G's 7000; A1+B1+C1+D3+G1
    "dso": 7.2,  # 12000 / 50000 × 30
    "churn": (1, 4),  # sub_C of sub_A, sub_B, sub_C, sub_D (G and H began in November; E has none)
    "by_week": {"2026-10-26": (0, 0), "2026-11-02": (1, 1), "2026-11-09": (2, 1), "2026-11-16": (2, 1),
                "2026-11-23": (1, 0), "2026-11-30": (0, 0)},
    "by_segment": {"high_risk": (2, 0), "habitual_late": (1, 1), "first_time_late": (3, 2)},
    "by_reason": {"card_declined": (2, 0), "insufficient_funds": (2, 2), "expired_card": (1, 0),
                  "no_failed_payment": (1, 1)},
}
NOVEMBER_EUR = {"ended": 1, "recovered": 1, "open_at_end": 4500, "billed": 8500, "dso": 15.9, "churn": (0, 0)}
