// The embedded payment card (Salesforce Canvas). The server put a short-lived card token in
// #card-boot; it goes in the X-Card-Token header of every call (no cookies in the CRM's iframe).
"use strict";

(function () {
  const boot = JSON.parse(document.getElementById("card-boot").textContent || "{}");
  const $ = (id) => document.getElementById(id);

  const CONFIRM_TEXT = {
    send_payment_link: () => "Record that you are sending the payment link to this customer, and open an email draft?",
    pause_playbook: () => `Pause the playbook (tasks and sequences) for this account for ${pauseDays()} days?`,
    resync: () => "Write this account's payment fields to the CRM again now?",
  };

  function pauseDays() {
    return parseInt($("pause-days").value, 10);
  }

  async function call(method, path, body) {
    const resp = await fetch(path, {
      method,
      headers: { "X-Card-Token": boot.token || "", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await resp.json(); } catch (_) { /* an empty or non-JSON answer */ }
    return { ok: resp.ok, status: resp.status, data };
  }

  function text(id, value) {
    $(id).textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function showMessage(message, isError) {
    $("card-loading").hidden = true;
    const el = $("card-message");
    el.textContent = message;
    el.classList.toggle("error", Boolean(isError));
    el.hidden = false;
  }

  function listItems(id, items, render) {
    const list = $(id);
    list.replaceChildren();
    for (const item of items) list.appendChild(render(item));
  }

  function li(content, className) {
    const el = document.createElement("li");
    if (className) el.className = className;
    el.textContent = content;
    return el;
  }

  function render(story) {
    $("card-loading").hidden = true;
    $("card-story").hidden = false;
    const status = $("status");
    status.textContent = story.status_label;
    status.className = `pill ${story.status}`;
    const segment = $("segment");
    segment.textContent = story.risk.segment_label;
    segment.className = `pill ${story.risk.segment}`;
    const paused = $("paused");
    paused.hidden = !story.playbook_paused_until;
    paused.textContent = story.playbook_paused_until ? `Playbook paused until ${story.playbook_paused_until.slice(0, 10)}` : "";

    text("amount", story.amount_display);
    text("days", story.days_past_due);
    text("attempts", story.attempts);
    text("next-retry", story.next_retry || "none scheduled");
    text("risk-score", story.risk.score);
    text("late-12m", story.late_payments_12m);
    text("reason", story.failure_reason_words || "no failed payment in this episode");
    text("next-step", story.next_step);
    $("notes").textContent = (story.notes || []).join(" ");

    listItems("risk-reasons", story.risk.reasons, (r) => li(`+${r.points} ${r.reason}`));
    if (!story.risk.reasons.length) $("risk-reasons").appendChild(li("No risk points."));
    listItems("playbook", story.playbook, (d) => li(`${d.what}: ${d.state}${d.why ? ` (${d.why})` : ""}`));
    if (!story.playbook.length) $("playbook").appendChild(li("No task or enrollment yet."));

    const link = $("payment-link");
    link.hidden = !story.payment_link;
    link.textContent = story.payment_link || "";
    if (story.payment_link) link.href = story.payment_link; else link.removeAttribute("href");
    $("no-link").hidden = Boolean(story.payment_link);
    document.querySelector('[data-action="send_payment_link"]').disabled = !story.payment_link;

    listItems("timeline", story.timeline, (e) => {
      const item = document.createElement("li");
      item.className = e.kind;
      const time = document.createElement("time");
      time.dateTime = e.at;
      time.textContent = e.at.slice(0, 10);
      item.append(time, `${e.title}${e.detail ? ` — ${e.detail}` : ""}`);
      return item;
    });
    if (!story.timeline.length) $("timeline").appendChild(li("No billing events yet."));
  }

  async function load() {
    const { ok, status, data } = await call("GET", "/cards/story");
    if (ok) return render(data);
    if (status === 404 && data.synced === false) return showMessage(data.message, false);
    showMessage(data.message || "The card could not be loaded.", true);
  }

  let pending = null;

  function ask(action) {
    pending = action;
    $("confirm-text").textContent = CONFIRM_TEXT[action]();
    $("confirm").hidden = false;
  }

  async function confirmPending() {
    const action = pending;
    pending = null;
    $("confirm").hidden = true;
    if (!action) return;
    const body = { confirm: true };
    if (action === "pause_playbook") body.days = pauseDays();
    const { ok, data } = await call("POST", `/cards/actions/${action}`, body);
    const result = $("action-result");
    result.hidden = false;
    result.classList.toggle("error", !ok);
    if (!ok) {
      result.textContent = data.message || "That did not work.";
      return;
    }
    if (action === "send_payment_link") {
      result.textContent = `Recorded. Send this link: ${data.payment_link} `;
      const draft = document.createElement("a");
      draft.href = data.mailto;
      draft.textContent = "Open an email draft";
      result.appendChild(draft);
    } else if (action === "pause_playbook") {
      result.textContent = `Playbook paused until ${data.until.slice(0, 10)}.`;
    } else {
      result.textContent = "Re-sync queued.";
    }
    await load();
  }

  document.querySelectorAll("[data-action]").forEach((button) =>
    button.addEventListener("click", () => ask(button.dataset.action)));
  $("confirm-yes").addEventListener("click", confirmPending);
  $("confirm-no").addEventListener("click", () => { pending = null; $("confirm").hidden = true; });

  if (!boot.token) showMessage("Open this card from Salesforce.", true);
  else load();
})();
