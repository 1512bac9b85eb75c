"""Recovery figures of one installation as JSON, each with its formula and the numbers in it.

The counting is pure (connector/domain/recovery.py); this module loads the customers' facts and
renders amounts with the exponent the provider uses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from connector.customers import risk_policy
from connector.domain.billing_state import CustomerFacts
from connector.domain.money import format_minor, stripe_exponent
from connector.domain.recovery import FORMULAS, CurrencyFigures, Period, Rate, recovery_report
from connector.storage.models import CustomerBilling, Installation

BATCH = 500


def _facts(session: Session, installation_id: int):  # noqa: ANN202 - a generator of CustomerFacts
    last_id = 0
    while True:
        rows = list(session.exec(select(CustomerBilling.id, CustomerBilling.facts)
                                 .where(CustomerBilling.installation_id == installation_id,
                                        CustomerBilling.id > last_id)
                                 .order_by(CustomerBilling.id).limit(BATCH)))
        if not rows:
            return
        for row_id, facts in rows:
            last_id = row_id
            yield CustomerFacts.from_json(facts)


def recovery_json(session: Session, installation: Installation, period: Period, now: datetime) -> dict[str, Any]:
    # risk_policy falls back to the defaults itself when stored settings no longer validate.
    report = recovery_report(_facts(session, installation.id), period=period,
                             tz=ZoneInfo(installation.timezone), now=now, policy=risk_policy(installation))
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(), "days": period.days,
                   "label": period.label},
        "formulas": FORMULAS,
        "currencies": [_currency_json(c) for c in report.currencies],
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _currency_json(c: CurrencyFigures) -> dict[str, Any]:
    exp = stripe_exponent(c.currency)

    def money(minor: int) -> str:
        return f"{c.currency} {format_minor(minor, exp)}"

    r, dso, churn = c.recovery, c.dso, c.churn
    dso_value = None if dso.value is None else round(dso.value, 1)
    return {
        "currency": c.currency,
        "exponent": exp,
        "recovery_rate": {
            "value": r.rate, "recovered": r.recovered, "ended": r.ended,
            "worked": f"{r.recovered} / {r.ended} = {_pct(r.rate)}",
        },
        "recovery_rate_amount": {
            "value": r.amount_rate, "recovered_minor": r.amount_recovered, "ended_minor": r.amount_ended,
            "worked": f"{money(r.amount_recovered)} / {money(r.amount_ended)} = {_pct(r.amount_rate)}",
        },
        "recovered_amount": {
            "minor": c.recovered_amount, "amount": format_minor(c.recovered_amount, exp),
            "worked": f"{r.recovered} episodes recovered: {money(c.recovered_amount)}",
        },
        "dso": {
            "value": dso_value, "open_minor": dso.open_at_end, "billed_minor": dso.billed, "days": dso.days,
            "worked": (f"{money(dso.open_at_end)} / {money(dso.billed)} × {dso.days} days = "
                       + ("n/a (nothing billed)" if dso_value is None else f"{dso_value} days")),
        },
        "involuntary_churn": {
            "value": churn.rate, "canceled": churn.canceled_for_non_payment,
            "active_at_start": churn.active_at_start,
            "worked": f"{churn.canceled_for_non_payment} / {churn.active_at_start} = {_pct(churn.rate)}",
        },
        "by_week": [{"week": monday.isoformat(), **_rate_json(rate, exp)} for monday, rate in c.by_week],
        "by_segment": [{"segment": seg, **_rate_json(rate, exp)} for seg, rate in c.by_segment],
        "by_reason": [{"reason": reason, **_rate_json(rate, exp)} for reason, rate in c.by_reason],
    }


def _rate_json(rate: Rate, exp: int) -> dict[str, Any]:
    return {
        "ended": rate.ended, "recovered": rate.recovered, "rate": rate.rate, "amount_rate": rate.amount_rate,
        "recovered_minor": rate.amount_recovered, "ended_minor": rate.amount_ended,
        "recovered_amount": format_minor(rate.amount_recovered, exp),
    }
