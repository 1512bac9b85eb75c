// One company's payment story, read from the connector through hubspot.fetch. HubSpot signs each
// request (X-HubSpot-Signature-v3) and appends the viewer's portalId, userId and userEmail; the
// connector checks that this portal owns the company before it answers. The body repeats portal
// and viewer: HubSpot does not document whether its signature covers the query string, and the
// body is signed either way.
import React, { useCallback, useEffect, useState } from "react";
import {
  Alert,
  Button,
  DescriptionList,
  DescriptionListItem,
  Divider,
  EmptyState,
  ErrorState,
  Flex,
  Heading,
  Link,
  List,
  LoadingSpinner,
  NumberInput,
  Statistics,
  StatisticsItem,
  Tag,
  Text,
  hubspot,
} from "@hubspot/ui-extensions";
import { CONNECTOR_BASE_URL } from "./config.js";

export const STORY_URL = `${CONNECTOR_BASE_URL}/cards/hubspot/story`;
export const actionUrl = (name) => `${CONNECTOR_BASE_URL}/cards/hubspot/actions/${name}`;

const STATUS_TAG = { past_due: "error", uncollectible: "warning", canceled: "warning", current: "success" };
const SEGMENT_TAG = { high_risk: "error", habitual_late: "warning", first_time_late: "warning", low_risk: "success" };

const CONFIRM = {
  send_payment_link: () => "Record that you are sending the payment link to this customer?",
  pause_playbook: (days) => `Pause the playbook (tasks and sequences) for this company for ${days} days?`,
  resync: () => "Write this company's payment fields to HubSpot again now?",
};

async function post(url, body) {
  // hubspot.fetch takes the body as an object; the connector reads it as JSON.
  const response = await hubspot.fetch(url, { method: "POST", timeout: 10000, body });
  let data = {};
  try {
    data = await response.json();
  } catch (_) {
    // an empty or non-JSON answer: keep {}
  }
  return { ok: response.ok, status: response.status, data };
}

function orDash(value) {
  return value === null || value === undefined || value === "" ? "—" : String(value);
}

export function PaymentStory({ objectId, portalId, userId, userEmail }) {
  const [view, setView] = useState({ phase: "loading" });
  const [confirming, setConfirming] = useState(null);
  const [days, setDays] = useState(7);
  const [result, setResult] = useState(null);
  const ids = { objectId: String(objectId), portalId, userId: String(userId ?? ""), userEmail: userEmail ?? "" };

  const load = useCallback(async () => {
    try {
      const { ok, status, data } = await post(STORY_URL, ids);
      if (ok) setView({ phase: "story", story: data });
      else if (status === 404 && data.synced === false) setView({ phase: "not_synced", message: data.message });
      else setView({ phase: "error", message: data.message || `The connector answered ${status}.` });
    } catch (error) {
      setView({ phase: "error", message: "The connector could not be reached." });
    }
  }, [objectId, portalId, userId, userEmail]);

  useEffect(() => {
    load();
  }, [load]);

  const runConfirmed = async () => {
    const action = confirming;
    setConfirming(null);
    const body = { ...ids, confirm: true, ...(action === "pause_playbook" ? { days } : {}) };
    const { ok, data } = await post(actionUrl(action), body);
    if (!ok) {
      setResult({ ok: false, text: data.message || "That did not work." });
      return;
    }
    if (action === "send_payment_link") setResult({ ok: true, text: `Recorded. Send this link: ${data.payment_link}` });
    else if (action === "pause_playbook") setResult({ ok: true, text: `Playbook paused until ${data.until.slice(0, 10)}.` });
    else setResult({ ok: true, text: "Re-sync queued." });
    await load();
  };

  if (view.phase === "loading") return <LoadingSpinner label="Loading the payment status" testId="loading" />;
  if (view.phase === "not_synced") {
    return (
      <EmptyState title="Not synced yet" testId="not-synced">
        <Text>{view.message}</Text>
      </EmptyState>
    );
  }
  if (view.phase === "error") {
    return (
      <ErrorState title="The payment status could not be loaded" testId="error">
        <Text>{view.message}</Text>
      </ErrorState>
    );
  }

  const story = view.story;
  return (
    <Flex direction="column" gap="sm">
      <Flex direction="row" gap="xs">
        <Tag variant={STATUS_TAG[story.status] || "default"} testId="status">{story.status_label}</Tag>
        <Tag variant={SEGMENT_TAG[story.risk.segment] || "default"} testId="segment">{story.risk.segment_label}</Tag>
        {story.playbook_paused_until ? (
          <Tag variant="warning" testId="paused">{`Playbook paused until ${story.playbook_paused_until.slice(0, 10)}`}</Tag>
        ) : null}
      </Flex>

      <Statistics>
        <StatisticsItem label="Outstanding" number={story.amount_display} testId="amount" />
        <StatisticsItem label="Days past due" number={story.days_past_due} testId="days" />
        <StatisticsItem label="Failed attempts" number={story.attempts} testId="attempts" />
        <StatisticsItem label="Risk score" number={story.risk.score} testId="risk-score" />
      </Statistics>

      <DescriptionList direction="row">
        <DescriptionListItem label="Why it failed">
          <Text testId="reason">{story.failure_reason_words || "no failed payment in this episode"}</Text>
        </DescriptionListItem>
        <DescriptionListItem label="Next retry">
          <Text testId="next-retry">{story.next_retry || "none scheduled"}</Text>
        </DescriptionListItem>
        <DescriptionListItem label="Late payments (12 months)">
          <Text>{orDash(story.late_payments_12m)}</Text>
        </DescriptionListItem>
        <DescriptionListItem label="Payment link">
          {story.payment_link ? (
            <Link href={{ url: story.payment_link, external: true }} testId="payment-link">{story.payment_link}</Link>
          ) : (
            <Text>No payment is due.</Text>
          )}
        </DescriptionListItem>
      </DescriptionList>

      <Text format={{ fontWeight: "bold" }} testId="next-step">{`Next step: ${story.next_step}`}</Text>

      <Heading>Risk reasons</Heading>
      <List variant="unordered-styled" testId="risk-reasons">
        {story.risk.reasons.length
          ? story.risk.reasons.map((r) => <Text key={r.reason}>{`+${r.points} ${r.reason}`}</Text>)
          : [<Text key="none">No risk points.</Text>]}
      </List>

      <Heading>What the playbook did</Heading>
      <List variant="unordered-styled" testId="playbook">
        {story.playbook.length
          ? story.playbook.map((d) => <Text key={d.kind}>{`${d.what}: ${d.state}${d.why ? ` (${d.why})` : ""}`}</Text>)
          : [<Text key="none">No task or enrollment yet.</Text>]}
      </List>

      <Divider />
      <Heading>Actions</Heading>
      <Flex direction="row" gap="sm" align="end" wrap="wrap">
        <Button onClick={() => setConfirming("send_payment_link")} disabled={!story.payment_link} testId="send-link">
          Send payment link
        </Button>
        <NumberInput label="Pause for (days)" name="pause-days" min={1} max={90} value={days}
          onChange={(value) => setDays(value)} testId="pause-days" />
        <Button variant="secondary" onClick={() => setConfirming("pause_playbook")} testId="pause">
          Pause playbook
        </Button>
        <Button variant="secondary" onClick={() => setConfirming("resync")} testId="resync">
          Re-sync now
        </Button>
      </Flex>
      {confirming ? (
        <Alert title="Please confirm" variant="warning" testId="confirm">
          <Text>{CONFIRM[confirming](days)}</Text>
          <Flex direction="row" gap="xs">
            <Button variant="primary" onClick={runConfirmed} testId="confirm-yes">Confirm</Button>
            <Button variant="secondary" onClick={() => setConfirming(null)} testId="confirm-no">Cancel</Button>
          </Flex>
        </Alert>
      ) : null}
      {result ? (
        <Alert title={result.ok ? "Done" : "Not done"} variant={result.ok ? "success" : "danger"} testId="result">
          {result.text}
        </Alert>
      ) : null}

      <Divider />
      <Heading>Billing timeline</Heading>
      <List variant="ordered" testId="timeline">
        {story.timeline.length
          ? story.timeline.map((e) => (
              <Text key={`${e.at}-${e.type}`}>{`${e.at.slice(0, 10)} ${e.title}${e.detail ? ` — ${e.detail}` : ""}`}</Text>
            ))
          : [<Text key="none">No billing events yet.</Text>]}
      </List>
    </Flex>
  );
}
