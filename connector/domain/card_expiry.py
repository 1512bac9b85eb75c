"""Card-expiry pre-dunning: a card that will expire before the customer's next renewal.

Reaching the customer before the renewal charge fails on an expired card is the cheapest
recovery there is. Pure: the fact store (billing_facts.CardSnapshot, SubscriptionSnapshot
`renews_at`) and the clock in, the expiring card (or None) out.

- The card is the customer's default one (`is_default`), not removed.
- It "expires" at the end of its expiry month (cards are valid through the last day of it).
- The next renewal is the earliest `renews_at` still ahead of any live subscription. Without a
  known renewal, the provider's own flag decides (Stripe customer.source.expiring, Chargebee
  card_expiry_reminder / payment_source_expiring: status "expiring" or "expired").
- Inside a dunning episode the playbook's own touch points take over: no pre-dunning then.
- A card the provider's card updater refreshed, or that the customer replaced, no longer expires
  before the renewal, so it stops being returned (which cancels a touch point not yet sent).

`key` names the card *and* its expiry: once per card, and a card renewed with a new expiry that
is again about to lapse (years later) is a new touch point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from connector.domain.billing_facts import CardSnapshot, CustomerFacts

TOUCH_POINT_PREFIX = "card_expiry:"
_LIVE_SUBSCRIPTIONS = frozenset({"active", "trialing", "past_due"})


@dataclass(frozen=True)
class ExpiringCard:
    card_id: str
    exp_month: int
    exp_year: int
    last4: str | None
    brand: str | None
    expires_on: date  # the last day the card is valid
    renews_on: date | None  # the next renewal it would fail at (None: provider flag only)

    @property
    def key(self) -> str:
        """The ledger touch point: once per card and expiry."""
        return f"{TOUCH_POINT_PREFIX}{self.card_id}:{self.exp_year:04d}-{self.exp_month:02d}"

    def words(self) -> str:
        card = " ".join(x for x in ((self.brand or "card").title(), f"ending {self.last4}"
                                    if self.last4 else "") if x)
        when = f"{self.exp_month:02d}/{self.exp_year}"
        renew = f", before the renewal on {self.renews_on.isoformat()}" if self.renews_on else ""
        return f"{card} expires {when}{renew}"


def last_valid_day(exp_month: int, exp_year: int) -> date:
    if exp_month == 12:
        return date(exp_year, 12, 31)
    return date.fromordinal(date(exp_year, exp_month + 1, 1).toordinal() - 1)


def next_renewal(facts: CustomerFacts, now: datetime) -> int | None:
    now_ts = int(now.timestamp())
    ahead = [r.snapshot.renews_at for r in facts.subscriptions.values()
             if r.snapshot.status in _LIVE_SUBSCRIPTIONS and r.snapshot.renews_at
             and r.snapshot.renews_at > now_ts]
    return min(ahead) if ahead else None


def default_card(facts: CustomerFacts) -> CardSnapshot | None:
    cards = [c for c in facts.cards.values() if c.is_default and c.status != "removed"]
    # The newest default card (a new card added later replaces the old one as the default).
    return max(cards, key=lambda c: (c.resource_version or -1, c.observed_at, c.card_id),
               default=None)


def expiring_card(facts: CustomerFacts, *, now: datetime, in_episode: bool) -> ExpiringCard | None:
    """The customer's default card if it will lapse before the next renewal, else None."""
    if in_episode or facts.profile.deleted or facts.profile.erased:
        return None
    card = default_card(facts)
    if card is None or not card.exp_month or not card.exp_year or not 1 <= card.exp_month <= 12:
        return None
    expires_on = last_valid_day(card.exp_month, card.exp_year)
    renewal = next_renewal(facts, now)
    if renewal is not None:
        renews_on = datetime.fromtimestamp(renewal, UTC).date()
        if expires_on >= renews_on:
            return None
    else:
        renews_on = None
        flagged = card.status in ("expiring", "expired")
        live = any(r.snapshot.status in _LIVE_SUBSCRIPTIONS for r in facts.subscriptions.values())
        # No renewal date known: trust the provider's flag, for a customer still subscribed
        # (or one whose subscriptions we have not read yet).
        if not flagged or (facts.subscriptions and not live):
            return None
    return ExpiringCard(card.card_id, card.exp_month, card.exp_year, card.last4, card.brand,
                        expires_on, renews_on)
