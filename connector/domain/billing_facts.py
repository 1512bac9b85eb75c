"""What the connector knows about one billing customer, as a join-semilattice of facts.

Webhooks arrive duplicated and out of order (Stripe retries for up to 3 days with no ordering
guarantee, reference/billing.md §2.5), so the store never "applies" an event: it *joins* what the
event tells with what is already known. `merge_facts` is commutative, associative and idempotent,
hence any delivery order, with any duplicates, gives the same store and the same derived state:

- snapshots of one object (invoice, subscription, dispute, refund, profile) keep the greatest by a
  total order: the object's `resource_version` first when the provider has one (Chargebee: an
  older version never overwrites a newer one, PRODUCT.md §4), then a status lattice (invoice
  draft < open < uncollectible < paid | void), then the event's `created`, then a canonical
  rendering as the last tie-break;
- counters take the max, first-seen times the min, sets the union;
- a deletion/erasure is absorbing: nothing merged later brings personal data back.

Times are unix seconds (as the providers send them); amounts integer minor units.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypeVar

FACTS_FORMAT_VERSION = 1

# ---------------------------------------------------------------------------------------------
# Facts: what one event tells about one customer.


@dataclass(frozen=True)
class InvoiceSnapshot:
    """An invoice as an event showed it at `observed_at` (the event's `created`)."""

    invoice_id: str
    observed_at: int
    status: str  # draft | open | paid | uncollectible | void
    collection_method: str | None = None  # charge_automatically | send_invoice
    currency: str | None = None  # ISO 4217, upper case
    total: int | None = None
    amount_due: int | None = None
    amount_paid: int | None = None
    amount_remaining: int | None = None
    due_date: int | None = None  # send_invoice only
    created: int | None = None
    attempt_count: int = 0
    next_payment_attempt: int | None = None
    billing_reason: str | None = None  # e.g. subscription_create, subscription_cycle, manual
    subscription_id: str | None = None
    paid_at: int | None = None
    voided_at: int | None = None
    marked_uncollectible_at: int | None = None
    # Chargebee: the object's version (ms). Orders snapshots before anything else (see _rv).
    resource_version: int | None = None
    # Chargebee `write_off_amount` > 0: the amount not paid was written off, not recovered.
    written_off: bool = False


@dataclass(frozen=True)
class PaymentFailure:
    """One failed payment as one or more events described it.

    `key` identifies the failed charge: `ch:<charge id>` whenever any event names the charge (so
    charge.failed, payment_intent.payment_failed and a pre-basil invoice.payment_failed collapse
    into one record), else `evt:<event id>`. Records that still describe the same charge under
    different keys (basil shapes name no charge on the invoice) are joined by `derive_state`.
    """

    key: str
    at: int
    invoice_id: str | None = None
    charge_id: str | None = None
    payment_intent_id: str | None = None
    decline_code: str | None = None
    failure_code: str | None = None
    advice_code: str | None = None
    action_required: bool = False  # invoice.payment_action_required: customer must authenticate
    amount: int | None = None
    currency: str | None = None
    sources: frozenset[str] = frozenset()  # event types that described this failure


@dataclass(frozen=True)
class SubscriptionSnapshot:
    subscription_id: str
    observed_at: int
    status: str  # incomplete | incomplete_expired | trialing | active | past_due | canceled | unpaid | paused
    collection_method: str | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    cancellation_reason: str | None = None  # cancellation_details.reason, e.g. payment_failed
    resource_version: int | None = None  # Chargebee
    renews_at: int | None = None  # next renewal (period end / next_billing_at); card-expiry check


@dataclass(frozen=True)
class CardSnapshot:
    """A customer's payment card as one event or API read showed it (card-expiry pre-dunning).

    `card_id`: Stripe payment method / source id, Chargebee payment source id. `status` "valid",
    "expiring", "expired" or "removed" (detached / deleted). `auto_updated_at`: the provider's card
    updater replaced the number or expiry (Stripe payment_method.automatically_updated; a
    Chargebee card_updated whose expiry moved on): such a card needs nobody's attention.
    """

    card_id: str
    observed_at: int
    exp_month: int | None = None
    exp_year: int | None = None
    status: str = "valid"
    is_default: bool = True
    last4: str | None = None
    brand: str | None = None
    auto_updated_at: int | None = None
    resource_version: int | None = None


@dataclass(frozen=True)
class DisputeSnapshot:
    dispute_id: str
    observed_at: int
    status: str  # warning_needs_response | needs_response | under_review | won | lost | ...
    charge_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RefundSnapshot:
    charge_id: str
    observed_at: int
    amount_refunded: int
    currency: str | None = None


@dataclass(frozen=True)
class ProfileSnapshot:
    """Contact data. `source` "customer" (the Customer object) outranks "invoice" (a copy the
    invoice took at finalisation, possibly stale)."""

    observed_at: int
    email: str | None = None
    name: str | None = None
    source: str = "customer"


@dataclass(frozen=True)
class CustomerDeleted:
    at: int


Fact = (
    InvoiceSnapshot
    | PaymentFailure
    | SubscriptionSnapshot
    | DisputeSnapshot
    | RefundSnapshot
    | ProfileSnapshot
    | CustomerDeleted
    | CardSnapshot
)

# ---------------------------------------------------------------------------------------------
# The store.


@dataclass(frozen=True)
class InvoiceRecord:
    snapshot: InvoiceSnapshot
    attempt_count: int = 0  # max seen: Stripe only ever increments it


@dataclass(frozen=True)
class SubscriptionRecord:
    snapshot: SubscriptionSnapshot
    unpaid_seen: frozenset[int] = frozenset()  # observation times of status `unpaid`
    incomplete_seen: bool = False


@dataclass(frozen=True)
class Profile:
    email: str | None = None
    name: str | None = None
    observed_at: int | None = None
    source: str | None = None
    deleted: bool = False  # customer.deleted seen (absorbing)
    deleted_at: int | None = None
    erased: bool = False  # personal data erased (absorbing)


@dataclass(frozen=True)
class CustomerFacts:
    customer_id: str
    provider: str = "stripe"
    invoices: Mapping[str, InvoiceRecord] = field(default_factory=dict)
    failures: Mapping[str, PaymentFailure] = field(default_factory=dict)
    subscriptions: Mapping[str, SubscriptionRecord] = field(default_factory=dict)
    disputes: Mapping[str, DisputeSnapshot] = field(default_factory=dict)
    refunds: Mapping[str, RefundSnapshot] = field(default_factory=dict)
    profile: Profile = field(default_factory=Profile)
    cards: Mapping[str, CardSnapshot] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (round-trips through `from_json`)."""
        return {
            "version": FACTS_FORMAT_VERSION,
            "customer_id": self.customer_id,
            "provider": self.provider,
            "invoices": {
                k: {"snapshot": _plain(r.snapshot), "attempt_count": r.attempt_count}
                for k, r in sorted(self.invoices.items())
            },
            "failures": {k: _plain(f) for k, f in sorted(self.failures.items())},
            "subscriptions": {
                k: {
                    "snapshot": _plain(r.snapshot),
                    "unpaid_seen": sorted(r.unpaid_seen),
                    "incomplete_seen": r.incomplete_seen,
                }
                for k, r in sorted(self.subscriptions.items())
            },
            "disputes": {k: _plain(d) for k, d in sorted(self.disputes.items())},
            "refunds": {k: _plain(r) for k, r in sorted(self.refunds.items())},
            "profile": _plain(self.profile),
            "cards": {k: _plain(c) for k, c in sorted(self.cards.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CustomerFacts:
        version = data.get("version", FACTS_FORMAT_VERSION)
        if version != FACTS_FORMAT_VERSION:
            raise ValueError(f"unsupported customer facts format version {version!r}")
        return cls(
            customer_id=data["customer_id"],
            provider=data.get("provider", "stripe"),
            invoices={
                k: InvoiceRecord(_build(InvoiceSnapshot, v["snapshot"]), v.get("attempt_count", 0))
                for k, v in data.get("invoices", {}).items()
            },
            failures={k: _build(PaymentFailure, v) for k, v in data.get("failures", {}).items()},
            subscriptions={
                k: SubscriptionRecord(
                    _build(SubscriptionSnapshot, v["snapshot"]),
                    frozenset(v.get("unpaid_seen", ())),
                    bool(v.get("incomplete_seen", False)),
                )
                for k, v in data.get("subscriptions", {}).items()
            },
            disputes={k: _build(DisputeSnapshot, v) for k, v in data.get("disputes", {}).items()},
            refunds={k: _build(RefundSnapshot, v) for k, v in data.get("refunds", {}).items()},
            profile=_build(Profile, data.get("profile", {})),
            cards={k: _build(CardSnapshot, v) for k, v in data.get("cards", {}).items()},
        )


# ---------------------------------------------------------------------------------------------
# Joins.

_INVOICE_STATUS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
# Terminal subscription statuses never change again; other statuses go back and forth
# (active <-> past_due), so only the event time orders them.
_SUBSCRIPTION_TERMINAL = frozenset({"canceled", "incomplete_expired"})
DISPUTE_CLOSED_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented"})
_PROFILE_SOURCE_RANK = {"invoice": 0, "customer": 1}

T = TypeVar("T")


def _canon(obj: Any) -> str:
    return json.dumps(_plain(obj), sort_keys=True)


def _greatest(a: T, b: T, key: Any) -> T:
    """The greater of two snapshots by `key`, then by canonical rendering: a total order, so
    the choice is the same whichever came first."""
    ka, kb = key(a), key(b)
    if ka != kb:
        return a if ka > kb else b
    return a if _canon(a) >= _canon(b) else b


def _max_opt(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _min_opt(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _rv(version: int | None) -> int:
    """Chargebee's resource_version leads the order; Stripe objects have none (-1 for all of
    them, so the rest of the key decides exactly as before). A total order either way."""
    return -1 if version is None else version


def _invoice_key(s: InvoiceSnapshot) -> tuple[int, int, int, int]:
    return (
        _rv(s.resource_version),
        _INVOICE_STATUS_RANK.get(s.status, -1),
        s.observed_at,
        s.attempt_count,
    )


def join_invoice(a: InvoiceRecord, b: InvoiceRecord) -> InvoiceRecord:
    best = _greatest(a.snapshot, b.snapshot, _invoice_key)
    if best.collection_method is None:
        # An invoice's collection method never changes, but not every event tells it (a
        # Chargebee invoice_generated carries no customer or subscription to read it from).
        method = _max_opt(a.snapshot.collection_method, b.snapshot.collection_method)
        if method is not None:
            best = replace(best, collection_method=method)
    return InvoiceRecord(best, max(a.attempt_count, b.attempt_count))


def join_subscription(a: SubscriptionRecord, b: SubscriptionRecord) -> SubscriptionRecord:
    def key(s: SubscriptionSnapshot) -> tuple[int, int, int]:
        # Chargebee can reactivate a cancelled subscription: its version then decides.
        terminal = 1 if s.status in _SUBSCRIPTION_TERMINAL else 0
        return (_rv(s.resource_version), terminal, s.observed_at)

    return SubscriptionRecord(
        _greatest(a.snapshot, b.snapshot, key),
        a.unpaid_seen | b.unpaid_seen,
        a.incomplete_seen or b.incomplete_seen,
    )


def join_card(a: CardSnapshot, b: CardSnapshot) -> CardSnapshot:
    # A removed card stays removed; else the newest version / observation wins. The card
    # updater's mark is kept whichever snapshot wins (a later plain read must not lose it).
    def key(c: CardSnapshot) -> tuple[int, int, int]:
        return (c.status == "removed", _rv(c.resource_version), c.observed_at)

    best = _greatest(a, b, key)
    auto = _max_opt(a.auto_updated_at, b.auto_updated_at)
    return best if best.auto_updated_at == auto else replace(best, auto_updated_at=auto)


def join_failure(a: PaymentFailure, b: PaymentFailure) -> PaymentFailure:
    # Field-wise joins: each event type fills in what it knows about the same failed charge.
    return PaymentFailure(
        key=a.key,
        at=min(a.at, b.at),
        invoice_id=_max_opt(a.invoice_id, b.invoice_id),
        charge_id=_max_opt(a.charge_id, b.charge_id),
        payment_intent_id=_max_opt(a.payment_intent_id, b.payment_intent_id),
        decline_code=_max_opt(a.decline_code, b.decline_code),
        failure_code=_max_opt(a.failure_code, b.failure_code),
        advice_code=_max_opt(a.advice_code, b.advice_code),
        action_required=a.action_required or b.action_required,
        amount=_max_opt(a.amount, b.amount),
        currency=_max_opt(a.currency, b.currency),
        sources=a.sources | b.sources,
    )


def join_dispute(a: DisputeSnapshot, b: DisputeSnapshot) -> DisputeSnapshot:
    return _greatest(a, b, lambda d: (d.status in DISPUTE_CLOSED_STATUSES, d.observed_at))


def join_refund(a: RefundSnapshot, b: RefundSnapshot) -> RefundSnapshot:
    # amount_refunded only grows (partial refunds add up).
    return _greatest(a, b, lambda r: (r.amount_refunded, r.observed_at))


def join_profile(a: Profile, b: Profile) -> Profile:
    deleted = a.deleted or b.deleted
    erased = a.erased or b.erased
    deleted_at = _min_opt(a.deleted_at, b.deleted_at)
    if deleted or erased:
        # Absorbing: once erased, no late customer.updated brings the personal data back.
        return Profile(deleted=deleted, deleted_at=deleted_at, erased=erased)

    def key(p: Profile) -> tuple[int, int, int]:
        has_data = p.observed_at is not None
        return (has_data, _PROFILE_SOURCE_RANK.get(p.source or "", -1), p.observed_at or 0)

    return _greatest(a, b, key)


def _join_maps(a: Mapping[str, T], b: Mapping[str, T], join: Any) -> dict[str, T]:
    out = dict(a)
    for k, v in b.items():
        _put(out, k, v, join)
    return out


def join_facts(a: CustomerFacts, b: CustomerFacts) -> CustomerFacts:
    """The least upper bound of two stores of the same customer."""
    if a.customer_id != b.customer_id:
        raise ValueError("cannot merge facts of two different customers")
    return CustomerFacts(
        customer_id=a.customer_id,
        provider=max(a.provider, b.provider),
        invoices=_join_maps(a.invoices, b.invoices, join_invoice),
        failures=_join_maps(a.failures, b.failures, join_failure),
        subscriptions=_join_maps(a.subscriptions, b.subscriptions, join_subscription),
        disputes=_join_maps(a.disputes, b.disputes, join_dispute),
        refunds=_join_maps(a.refunds, b.refunds, join_refund),
        profile=join_profile(a.profile, b.profile),
        cards=_join_maps(a.cards, b.cards, join_card),
    )


def _put(target: dict[str, T], key: str, value: T, join: Any) -> None:
    target[key] = join(target[key], value) if key in target else value


def facts_to_store(
    customer_id: str, new: Sequence[Fact], provider: str = "stripe"
) -> CustomerFacts:
    """The smallest store that knows `new`."""
    invoices: dict[str, InvoiceRecord] = {}
    failures: dict[str, PaymentFailure] = {}
    subscriptions: dict[str, SubscriptionRecord] = {}
    disputes: dict[str, DisputeSnapshot] = {}
    refunds: dict[str, RefundSnapshot] = {}
    profile = Profile()
    cards: dict[str, CardSnapshot] = {}
    for fact in new:
        if isinstance(fact, InvoiceSnapshot):
            _put(invoices, fact.invoice_id, InvoiceRecord(fact, fact.attempt_count), join_invoice)
        elif isinstance(fact, PaymentFailure):
            _put(failures, fact.key, fact, join_failure)
        elif isinstance(fact, SubscriptionSnapshot):
            record = SubscriptionRecord(
                fact,
                frozenset({fact.observed_at}) if fact.status == "unpaid" else frozenset(),
                fact.status in ("incomplete", "incomplete_expired"),
            )
            _put(subscriptions, fact.subscription_id, record, join_subscription)
        elif isinstance(fact, DisputeSnapshot):
            _put(disputes, fact.dispute_id, fact, join_dispute)
        elif isinstance(fact, RefundSnapshot):
            _put(refunds, fact.charge_id, fact, join_refund)
        elif isinstance(fact, ProfileSnapshot):
            snap = Profile(fact.email, fact.name, fact.observed_at, fact.source)
            profile = join_profile(profile, snap)
        elif isinstance(fact, CustomerDeleted):
            profile = join_profile(profile, Profile(deleted=True, deleted_at=fact.at))
        elif isinstance(fact, CardSnapshot):
            _put(cards, fact.card_id, fact, join_card)
        else:  # pragma: no cover - a programming error, not bad input
            raise TypeError(f"not a billing fact: {type(fact).__name__}")
    return CustomerFacts(
        customer_id=customer_id,
        provider=provider,
        invoices=invoices,
        failures=failures,
        subscriptions=subscriptions,
        disputes=disputes,
        refunds=refunds,
        profile=profile,
        cards=cards,
    )


def merge_facts(facts: CustomerFacts, new: Sequence[Fact]) -> CustomerFacts:
    """`facts` joined with `new`: commutative, associative and idempotent."""
    return join_facts(facts, facts_to_store(facts.customer_id, new, facts.provider))


def erase_personal_data(facts: CustomerFacts) -> CustomerFacts:
    """Drop the customer's personal data (an admin's erasure request); billing facts stay."""
    return replace(facts, profile=join_profile(facts.profile, Profile(erased=True)))


# ---------------------------------------------------------------------------------------------
# JSON helpers.


def _plain(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, frozenset | set):
        return sorted(obj)
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            value = data[f.name]
            if isinstance(value, list):
                value = frozenset(value)
            kwargs[f.name] = value
    return cls(**kwargs)
