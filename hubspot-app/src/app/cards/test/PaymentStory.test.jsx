// The app card's rendering, with HubSpot's own test renderer (@hubspot/ui-extensions/testing) and
// hubspot.fetch replaced by a spy that answers like the connector (connector/views/cards.py).
import React from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Alert, Button, EmptyState, ErrorState, StatisticsItem, Tag, Text, hubspot } from "@hubspot/ui-extensions";
import { createRenderer } from "@hubspot/ui-extensions/testing";
import { PaymentStory, STORY_URL, actionUrl } from "../PaymentStory.jsx";
import { CONNECTOR_BASE_URL } from "../config.js";

// The story of a past-due customer as the connector returns it (tests/cards: hubspot_past_due).
const STORY = {
  synced: true,
  crm: "hubspot",
  record_id: "9001",
  status: "past_due",
  status_label: "Past due",
  amount: "120.50",
  amount_display: "120.50 GBP",
  currency: "GBP",
  days_past_due: 277,
  failure_reason: "insufficient_funds",
  failure_reason_words: "the card had insufficient funds",
  attempts: 1,
  next_retry: "2026-03-04",
  late_payments_12m: 1,
  risk: {
    score: 60,
    segment: "first_time_late",
    segment_label: "First time late",
    reasons: [
      { points: 45, reason: "277 days past due" },
      { points: 10, reason: "insufficient funds" },
      { points: 5, reason: "owes 1.0× the usual invoice" },
    ],
  },
  timeline: [
    { at: "2026-03-01T11:00:02+00:00", type: "invoice.payment_failed", kind: "failure", title: "Payment failed", detail: "120.50 GBP, attempt 1" },
    { at: "2026-03-01T10:59:58+00:00", type: "invoice.finalized", kind: "invoice", title: "Invoice issued", detail: "120.50 GBP" },
  ],
  playbook: [{ kind: "enroll", what: "Sequence enrollment", state: "enrolled", why: "first time late" }],
  playbook_paused_until: null,
  payment_link: `${CONNECTOR_BASE_URL}/pay/tok_abc`,
  next_step: "Agree when funds will be there; the next automatic retry is on 2026-03-04.",
};

function answer(status, body) {
  return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }));
}

function renderCard(...answers) {
  const fetchSpy = vi.spyOn(hubspot, "fetch");
  for (const [status, body] of answers) fetchSpy.mockImplementationOnce(() => answer(status, body));
  const renderer = createRenderer("crm.record.tab");
  renderer.render(<PaymentStory objectId={9001} portalId={4242} userId={7310021} userEmail="ana@brightsmile.example" />);
  return { ...renderer, fetchSpy };
}

afterEach(() => vi.restoreAllMocks());

describe("PaymentStory", () => {
  it("asks the connector for this company and shows the past-due numbers", async () => {
    const { fetchSpy, waitFor, findByTestId, findAll } = renderCard([200, STORY]);
    await waitFor(() => expect(findByTestId(StatisticsItem, "amount").props.number).toEqual("120.50 GBP"));
    expect(fetchSpy).toHaveBeenCalledWith(STORY_URL, {
      method: "POST", timeout: 10000, body: { objectId: "9001", portalId: 4242, userId: "7310021", userEmail: "ana@brightsmile.example" },
    });
    expect(findByTestId(StatisticsItem, "days").props.number).toEqual(277);
    expect(findByTestId(StatisticsItem, "attempts").props.number).toEqual(1);
    expect(findByTestId(StatisticsItem, "risk-score").props.number).toEqual(60);
    expect(findByTestId(Tag, "status").text).toEqual("Past due");
    expect(findByTestId(Tag, "status").props.variant).toEqual("error");
    expect(findByTestId(Text, "reason").text).toEqual("the card had insufficient funds");
    expect(findByTestId(Text, "next-step").text).toContain("Agree when funds will be there");
    const texts = findAll(Text).map((t) => t.text);
    expect(texts).toContain("2026-03-01 Payment failed — 120.50 GBP, attempt 1");
    expect(texts).toContain("+45 277 days past due");
    expect(texts).toContain("Sequence enrollment: enrolled (first time late)");
  });

  it("says 'not synced yet' when the connector has no customer for the company", async () => {
    const message = "Not synced yet: the connector has no billing customer for this record.";
    const { waitFor, find } = renderCard([404, { synced: false, message }]);
    await waitFor(() => expect(find(EmptyState).props.title).toEqual("Not synced yet"));
    expect(find(EmptyState).find(Text).text).toEqual(message);
  });

  it("shows the refusal when the connector refuses the request", async () => {
    const { waitFor, find } = renderCard([403, { error: "Forbidden", message: "This HubSpot account has not installed the connector." }]);
    await waitFor(() => expect(find(ErrorState).find(Text).text).toEqual("This HubSpot account has not installed the connector."));
  });

  it("runs an action only after it is confirmed, then reloads the story", async () => {
    const paused = { ...STORY, playbook_paused_until: "2026-12-10T15:00:00+00:00" };
    const { fetchSpy, waitFor, findByTestId, maybeFindByTestId } = renderCard(
      [200, STORY], [200, { action: "pause_playbook", done: true, days: 7, until: "2026-12-10T15:00:00+00:00" }], [200, paused]);
    await waitFor(() => expect(findByTestId(Button, "pause")).toBeTruthy());

    findByTestId(Button, "pause").trigger("onClick");
    expect(findByTestId(Alert, "confirm").find(Text).text).toContain("for 7 days");
    expect(fetchSpy).toHaveBeenCalledTimes(1); // asked, not yet done

    findByTestId(Button, "confirm-yes").trigger("onClick");
    await waitFor(() => expect(findByTestId(Alert, "result").text).toEqual("Playbook paused until 2026-12-10."));
    expect(fetchSpy).toHaveBeenNthCalledWith(2, actionUrl("pause_playbook"), {
      method: "POST", timeout: 10000, body: { objectId: "9001", portalId: 4242, userId: "7310021", userEmail: "ana@brightsmile.example", confirm: true, days: 7 },
    });
    await waitFor(() => expect(findByTestId(Tag, "paused").text).toEqual("Playbook paused until 2026-12-10"));
    expect(maybeFindByTestId(Alert, "confirm")).toBeNull();
  });

  it("does nothing when the confirmation is cancelled", async () => {
    const { fetchSpy, waitFor, findByTestId, maybeFindByTestId } = renderCard([200, STORY]);
    await waitFor(() => expect(findByTestId(Button, "resync")).toBeTruthy());
    findByTestId(Button, "resync").trigger("onClick");
    findByTestId(Button, "confirm-no").trigger("onClick");
    expect(maybeFindByTestId(Alert, "confirm")).toBeNull();
    expect(fetchSpy).toHaveBeenCalledTimes(1);
  });

  it("cannot send a payment link when nothing is owed", async () => {
    const { waitFor, findByTestId } = renderCard([200, { ...STORY, payment_link: null, status: "current", status_label: "Current" }]);
    await waitFor(() => expect(findByTestId(Tag, "status").text).toEqual("Current"));
    expect(findByTestId(Button, "send-link").props.disabled).toBe(true);
  });
});
