// Admin dashboard: plain DOM and hand-drawn SVG, no build step, no third-party script.
// Every value is inserted as text (textContent / createTextNode), never as HTML.
"use strict";

const state = { session: null, installations: [], current: null, recovery: null, decisionsAvailable: false };
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// Plumbing.

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function getJSON(url) {
  const resp = await fetch(url, { credentials: "same-origin" });
  if (resp.status === 401) { $("signin").hidden = false; throw new HttpError(401, "signed out"); }
  if (!resp.ok) throw new HttpError(resp.status, await errorMessage(resp, url));
  return resp.json();
}

async function send(method, url, body) {
  const resp = await fetch(url, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.session.csrf },
    body: JSON.stringify(body ?? {}),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok && resp.status !== 409) throw new HttpError(resp.status, data.message || `${url} answered ${resp.status}`);
  return { status: resp.status, data };
}

async function errorMessage(resp, url) {
  try { return (await resp.json()).message || `${url} answered ${resp.status}`; } catch { return `${url} answered ${resp.status}`; }
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

// [term, value] rows as <dt>/<dd> pairs of a <dl>; `ddAttrs(term)` gives each value's attributes.
function definitions(rows, ddAttrs = () => ({})) {
  return rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", ddAttrs(k), v)]);
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

const words = (v) => String(v ?? "").replace(/_/g, " ");
const pill = (value, label) => value ? el("span", { class: "pill " + value }, label || words(value)) : "";
const pct = (v) => v === null || v === undefined ? "n/a" : (v * 100).toFixed(1) + "%";
const when = (iso) => iso ? iso.replace("T", " ").replace("Z", " UTC").slice(0, 20) : "never";

function age(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} days ago`;
}

function showMessage(node, text, kind) {
  node.hidden = false;
  node.className = "message " + kind;
  node.textContent = text;
}

const api = (path) => `/api/installations/${state.current.id}${path}`;

// ---------------------------------------------------------------------------------------------
// Charts: horizontal bars (segments, reasons) and columns (weeks), drawn as SVG.
// Each bar carries data-label / data-value so what is drawn can be checked against the API.

function hbarChart(bars, { max, format, note } = {}) {
  const rowH = 26, labelW = 170, barW = 300, valueW = 190;
  const height = Math.max(1, bars.length) * rowH + 6;
  const top = max ?? Math.max(1, ...bars.map((b) => b.value ?? 0));
  const root = svg("svg", { viewBox: `0 0 ${labelW + barW + valueW} ${height}`, role: "img", class: "hbar" });
  bars.forEach((b, i) => {
    const y = i * rowH + 3;
    const w = b.value ? Math.max(2, (b.value / top) * barW) : 0;
    const g = svg("g", { class: "bar", "data-label": b.label, "data-value": b.value ?? "" });
    g.append(svg("title", {}, `${words(b.label)}: ${format(b)}`));
    g.append(svg("text", { x: labelW - 8, y: y + 16, "text-anchor": "end", class: "label" }, words(b.label)));
    g.append(svg("rect", { x: labelW, y: y + 3, width: barW, height: rowH - 8, class: "track", rx: 3 }));
    g.append(svg("rect", { x: labelW, y: y + 3, width: w, height: rowH - 8, class: "fill " + (b.cls || ""), rx: 3 }));
    g.append(svg("text", { x: labelW + barW + 8, y: y + 16, class: "value" }, format(b)));
    root.append(g);
  });
  const box = el("div", {}, root);
  if (!bars.length) box.replaceChildren(el("p", { class: "muted" }, note || "Nothing to show for this period."));
  return box;
}

function columnChart(cols, { format }) {
  const colW = 46, gap = 10, h = 150, base = h + 4, left = 8;
  const every = Math.ceil(cols.length / 16);  // a year of weeks: label every few so they stay legible
  const width = Math.max(1, cols.length) * (colW + gap) + left;
  const root = svg("svg", { viewBox: `0 0 ${width} ${h + 44}`, role: "img", class: "columns" });
  root.append(svg("line", { x1: 0, y1: base, x2: width, y2: base, class: "axis" }));
  cols.forEach((c, i) => {
    const x = left + i * (colW + gap);
    const barH = c.value ? Math.max(2, c.value * (h - 18)) : 0;
    const g = svg("g", { class: "bar", "data-label": c.label, "data-value": c.value ?? "" });
    g.append(svg("title", {}, `week of ${c.label}: ${format(c)}`));
    g.append(svg("rect", { x, y: base - barH, width: colW, height: barH, class: "fill", rx: 2 }));
    g.append(svg("text", { x: x + colW / 2, y: base - barH - 4, "text-anchor": "middle", class: "value" },
      c.value === null ? "–" : pct(c.value)));
    g.append(svg("text", { x: x + colW / 2, y: base + 14, "text-anchor": "middle", class: "label" },
      i % every === 0 ? c.label.slice(5) : ""));
    g.append(svg("text", { x: x + colW / 2, y: base + 28, "text-anchor": "middle", class: "sub" },
      c.ended ? `${c.recovered}/${c.ended}` : ""));
    root.append(g);
  });
  return el("div", { class: "scroll-x" }, root);
}

// ---------------------------------------------------------------------------------------------
// Overview: installation, health, segments, recovery.

function renderInstallationCard(inst) {
  const mode = inst.preview ? "Preview: writes are recorded, not sent" : "Live: writes are sent to the CRM";
  const toggle = inst.sandbox ? "" : el("button", { class: "secondary", type: "button", onclick: () => setMode(!inst.preview) },
    inst.preview ? "Go live" : "Back to preview");
  $("installation-card").replaceChildren(
    el("h2", {}, inst.name || `${inst.crm} ${inst.external_id}`),
    el("p", {}, inst.crm, inst.sandbox ? " (sandbox)" : "", " · portal ", inst.external_id, " · ",
      pill(inst.status === "active" ? "current" : "failed", inst.status), inst.status_reason ? " " + inst.status_reason : "",
      " · ", pill(inst.preview ? "preview" : "live", inst.preview ? "preview" : "live"), " ", mode, " ", toggle));
}

async function setMode(preview) {
  try {
    await send("POST", api("/mode"), { preview });
    await selectInstallation(state.current.id);
  } catch (err) { alert(err.message); }
}

function renderHealth(h) {
  const badge = el("span", { class: "state " + h.state, id: "health-badge", "data-state": h.state }, h.state);
  $("health-state").replaceChildren(badge, el("span", { class: "reason" }, h.reason),
    el("span", { class: "muted since" }, `since ${when(h.since)}`));
  // The first finding is the reason shown above; the list says what else is wrong.
  $("health-findings").replaceChildren(...h.findings.slice(1).map((f) =>
    el("li", { class: f.level }, pill(f.level === "failing" ? "failed" : "uncollectible", f.level), " ", f.message)));
  const f = h.figures;
  const errors = Object.entries(f.errors_24h);
  const budget = f.api_budget && f.api_budget.max
    ? `${f.api_budget.max - f.api_budget.remaining} of ${f.api_budget.max} used in the last window (${when(f.api_budget.seen_at)})`
    : "no CRM call seen yet";
  const drift = f.drift_runs.length
    ? f.drift_runs.map((r) => `${when(r.at)}: ${r.found} found, ${r.healed} healed${r.full ? " (full)" : ""}`)
    : ["no reconcile yet"];
  const rows = [
    ["Last successful sync", when(f.last_successful_sync)],
    ["Oldest pending CRM update", f.oldest_pending_at ? `${age(f.oldest_pending_age_s)} (${f.pending} pending)` : "none pending"],
    ["Last billing webhook", f.last_webhook_at ? `${when(f.last_webhook_at)} · ${age(f.webhook_age_s)}` : "none yet"],
    ["Errors in 24 h", errors.length ? errors.map(([k, n]) => `${n} ${words(k)}`).join(", ") : "none"],
    ["Drift per reconcile run", drift.join("\n")],
    ["CRM token", `${words(f.token.state)}${f.token.reason ? " — " + f.token.reason : ""}`],
    ["API budget", `${budget}; ${f.api_calls_24h} calls in 24 h`],
    ["Customers", `${f.customers} · ${f.unmatched} unmatched · ${f.conflicts} conflicting`],
  ];
  $("health-figures").replaceChildren(...definitions(rows));
}

function renderSegments(data) {
  const cls = { high_risk: "bad", habitual_late: "warn", first_time_late: "mid", low_risk: "ok" };
  $("segments-chart").replaceChildren(hbarChart(
    data.segments.map((s) => ({ label: s.segment, value: s.accounts, cls: cls[s.segment],
      past: s.by_status.past_due || 0 })),
    { format: (b) => `${b.value} account${b.value === 1 ? "" : "s"}${b.past ? `, ${b.past} past due` : ""}` }));
}

function chosenPeriod() {
  const choice = $("period-select").value;
  $("period-month").hidden = choice !== "month";
  if (choice !== "month") return choice;
  return $("period-month").value || null;  // nothing to ask for until a month is picked
}

async function loadRecovery() {
  const period = chosenPeriod();
  if (!period) return;
  state.recovery = await getJSON(api(`/recovery?period=${encodeURIComponent(period)}`));
  const select = $("currency-select");
  const previous = select.value;
  select.replaceChildren(...state.recovery.currencies.map((c) => el("option", { value: c.currency }, c.currency)));
  if (state.recovery.currencies.some((c) => c.currency === previous)) select.value = previous;
  else if (state.recovery.currencies.length) {
    // First look: the currency with the most dunning activity, not the first in the alphabet.
    const busiest = [...state.recovery.currencies].sort((a, b) =>
      (b.recovery_rate.ended - a.recovery_rate.ended) || (b.dso.billed_minor - a.dso.billed_minor))[0];
    select.value = busiest.currency;
  }
  renderRecovery();
}

function tile(id, title, value, formula, worked) {
  return el("div", { class: "tile", id: "tile-" + id },
    el("div", { class: "tile-title" }, title),
    el("div", { class: "tile-value" }, value),
    el("div", { class: "formula" }, formula),
    el("div", { class: "worked" }, worked));
}

function renderRecovery() {
  const r = state.recovery;
  const p = r.period;
  $("recovery-period").textContent = `${p.label}: ${p.start} to ${p.end} (${p.days} days), dates in the installation's time zone`;
  const c = r.currencies.find((x) => x.currency === $("currency-select").value) || r.currencies[0];
  if (!c) {
    $("recovery-tiles").replaceChildren(el("p", { class: "muted" }, "No billing history yet."));
    for (const id of ["chart-week", "chart-segment", "chart-reason"]) $(id).replaceChildren();
    return;
  }
  const f = r.formulas;
  $("recovery-tiles").replaceChildren(
    tile("recovery-rate", "Recovery rate", pct(c.recovery_rate.value), f.recovery_rate, c.recovery_rate.worked),
    tile("recovery-rate-amount", "Recovery rate by amount", pct(c.recovery_rate_amount.value), f.recovery_rate_amount,
      c.recovery_rate_amount.worked),
    tile("recovered-amount", "Recovered", `${c.currency} ${c.recovered_amount.amount}`, f.recovered_amount,
      c.recovered_amount.worked),
    tile("dso", "DSO", c.dso.value === null ? "n/a" : `${c.dso.value} days`, f.dso, c.dso.worked),
    tile("churn", "Involuntary churn", pct(c.involuntary_churn.value), f.involuntary_churn, c.involuntary_churn.worked));
  const rateText = (b) => b.ended ? `${pct(b.rate)} · ${b.recovered}/${b.ended} · ${c.currency} ${b.recovered_amount}` : "no episode ended";
  $("chart-week").replaceChildren(columnChart(
    c.by_week.map((w) => ({ label: w.week, value: w.rate, ended: w.ended, recovered: w.recovered })),
    { format: (w) => w.ended ? `${pct(w.value)} (${w.recovered}/${w.ended})` : "no episode ended" }));
  $("chart-segment").replaceChildren(hbarChart(
    c.by_segment.map((s) => ({ label: s.segment, value: s.rate, ...s })), { max: 1, format: rateText }));
  $("chart-reason").replaceChildren(hbarChart(
    c.by_reason.map((s) => ({ label: s.reason, value: s.rate, ...s })), { max: 1, format: rateText,
      note: "No episode ended in this period." }));
}

// ---------------------------------------------------------------------------------------------
// Reconcile.

async function reconcile(full) {
  const out = $("reconcile-result");
  for (const b of [$("reconcile-button"), $("reconcile-full-button")]) b.disabled = true;
  showMessage(out, full ? "Full sweep running…" : "Reconcile running…", "info");
  try {
    const { status, data } = await send("POST", api("/reconcile"), { full });
    let run = data.run;
    if (status === 409 && !run) throw new Error(data.message);
    while (run && run.state === "running") {
      await new Promise((r) => setTimeout(r, 700));
      run = (await getJSON(api("/reconcile"))).run;
    }
    showMessage(out, reconcileSummary(run), run.state === "done" && !(run.result.errors || []).length ? "ok" : "error");
    await Promise.all([loadHealth(), loadRecovery().catch(() => {})]);
  } catch (err) {
    showMessage(out, "Reconcile refused: " + err.message, "error");
  } finally {
    for (const b of [$("reconcile-button"), $("reconcile-full-button")]) b.disabled = false;
  }
}

function sum(obj) { return Object.values(obj || {}).reduce((a, b) => a + Number(b || 0), 0); }

function reconcileSummary(run) {
  if (run.state === "failed") return "Reconcile failed: " + run.error;
  const r = run.result || {};
  const parts = [
    `${r.events_recovered ?? 0} missed events recovered`,
    `${r.invoices_swept ?? 0} invoices swept`,
    `${r.records_read ?? 0} CRM records read`,
    `${sum(r.drift_found)} drifted values found in ${r.records_drifted ?? 0} records`,
    r.preview ? "none healed (preview: going live writes them)" : `${sum(r.drift_healed)} healed`,
    ...(r.preview ? [`${sum(r.preview_differs)} values in ${r.records_differing ?? 0} records not written ` +
                     "yet differ from billing (going live writes them)"] : []),
  ];
  if (r.records_gone) parts.push(`${r.records_gone} records merged or deleted in the CRM (${r.re_resolved ?? 0} linked again)`);
  const errors = (r.errors || []).length ? ` Errors: ${r.errors.join("; ")}` : "";
  const notices = (r.notices || []).length ? ` Note: ${r.notices.join("; ")}` : "";
  return `Reconcile finished at ${when(run.finished_at)}: ${parts.join(", ")}.${errors}${notices}`;
}

// ---------------------------------------------------------------------------------------------
// Accounts, writes, decisions, unmatched.

function renderAccounts(data) {
  const table = $("accounts");
  const fields = data.fields.filter((f) => f !== "billing_updated_at");
  table.replaceChildren(el("tr", {}, el("th", {}, "customer"), el("th", {}, "CRM record"),
    el("th", {}, "sequence"), ...fields.map((f) => el("th", {}, words(f)))));
  for (const a of data.accounts) {
    const record = a.crm_record_id ? "company " + a.crm_record_id : pill(a.match_status);
    table.append(el("tr", {}, el("td", {}, a.customer_id, el("br"), el("span", { class: "muted" }, a.name || "")),
      el("td", { title: a.match_detail }, record), el("td", { class: "wrap" }, a.sequence || ""),
      ...fields.map((f) => {
        const v = a.fields[f];
        if (["payment_status", "risk_segment"].includes(f)) return el("td", {}, pill(v));
        if (f === "payment_link" && v) return el("td", {}, el("a", { href: v }, "link"));
        return el("td", {}, v);
      })));
  }
  const past = data.accounts.filter((a) => a.fields.payment_status === "past_due").length;
  const erased = data.erased ? `; ${data.erased} erased on the customer's deletion, not shown` : "";
  $("accounts-summary").textContent = `${data.accounts.length} customers, ${past} past due${erased}`;
}

function renderWrites(data, inst) {
  $("writes-title").textContent = inst.preview ? "CRM writes that would be made (preview)" : "CRM writes";
  $("writes-summary").textContent = `${data.pending} pending · last runs: ` +
    data.runs.map((r) => `${r.kind} ${r.outcome}`).join("; ");
  const table = $("writes");
  table.replaceChildren(el("tr", {}, ...["when", "customer", "record", "status", "values / outcome"].map((h) => el("th", {}, h))));
  for (const w of data.writes) {
    const values = Object.entries(w.values).map(([k, v]) => `${k} = ${v === "" ? "(clear)" : v}`).join("\n");
    table.append(el("tr", {}, el("td", {}, when(w.at)), el("td", {}, w.customer_id),
      el("td", {}, w.record_id || ""), el("td", {}, pill(w.status)),
      el("td", { class: "values" }, el("pre", {}, values || w.outcome || w.last_error))));
  }
}

async function loadDecisions() {
  // The playbook's feed; an older server without it shows no tab rather than an error.
  let data;
  try { data = await getJSON(api("/decisions")); } catch (err) {
    state.decisionsAvailable = false;
    document.querySelector('[data-tab="decisions"]').hidden = true;
    return;
  }
  state.decisionsAvailable = true;
  document.querySelector('[data-tab="decisions"]').hidden = false;
  const cap = data.daily_cap || {};
  $("decisions-summary").textContent = `${data.mode} · daily cap ${cap.used ?? 0}/${cap.limit ?? "–"}` +
    (cap.deferred ? ` · ${cap.deferred} deferred` : "");
  const table = $("decisions");
  table.replaceChildren(el("tr", {}, ...["decided", "customer", "touch point", "what", "why", "status", "result"]
    .map((h) => el("th", {}, h))));
  for (const d of data.decisions || []) {
    table.append(el("tr", {}, el("td", {}, when(d.decided_at)),
      el("td", {}, d.customer_id, el("br"), el("span", { class: "muted" }, d.customer_name || "")),
      el("td", {}, d.touch_point_label || d.touch_point), el("td", {}, d.what),
      el("td", { class: "wrap" }, d.why), el("td", {}, pill(d.status, d.status_label)),
      el("td", { class: "wrap" }, d.result || "")));
  }
  if (!(data.decisions || []).length) table.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No decision yet.")));
}

function renderUnmatched(data) {
  $("unmatched-count").textContent = data.customers.length ? String(data.customers.length) : "";
  const table = $("unmatched");
  table.replaceChildren(el("tr", {}, ...["customer", "email domain", "match", "why", "payment status", "segment"]
    .map((h) => el("th", {}, h))));
  for (const c of data.customers) {
    table.append(el("tr", {}, el("td", {}, c.customer_id, el("br"), el("span", { class: "muted" }, c.name || "")),
      el("td", {}, c.email_domain || ""), el("td", {}, pill(c.match_status)), el("td", { class: "wrap" }, c.detail),
      el("td", {}, pill(c.payment_status)), el("td", {}, pill(c.risk_segment))));
  }
  if (!data.customers.length) table.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "Every customer has its CRM record.")));
}

// ---------------------------------------------------------------------------------------------
// Settings: the server validates; a refused value is shown with its message, the old settings stay.

const RISK_FIELDS = [
  ["high_risk_threshold", "High-risk score threshold", "number"],
  ["hard_decline_days", "Days past due that make a hard decline high risk", "number"],
  ["habitual_episodes", "Episodes in 365 days that make an account habitual", "number"],
  ["points_per_day", "Points per day past due", "number"],
  ["days_points_cap", "Cap on day points", "number"],
  ["hard_decline_points", "Hard decline points", "number"],
  ["medium_decline_points", "Insufficient funds / authentication points", "number"],
  ["other_decline_points", "Other decline points", "number"],
  ["no_retry_points", "No retry scheduled points", "number"],
  ["dispute_points", "Open dispute points", "number"],
  ["earlier_episode_points", "Points for 0, 1, 2, 3+ earlier episodes", "list"],
  ["amount_ratio_points", "Owed ÷ median invoice → points (ratio:points, …)", "pairs"],
];
const PLAYBOOK_FIELDS = [
  ["gentle_sequence_id", "Gentle sequence id (first-time late)", "text"],
  ["firm_sequence_id", "Firm sequence id (habitual late)", "text"],
  ["pre_due_reminder", "Pre-due reminder", "checkbox"],
  ["pre_due_sequence_id", "Pre-due sequence id", "text"],
  ["pre_due_days", "Days before the due date", "number"],
  ["touch_point_days", "Touch points (days after the episode starts)", "list"],
  ["working_hour", "Working hour for task due times", "number"],
  ["daily_cap", "Daily cap on new tasks and enrollments", "number"],
  ["region", "Holiday region within the country", "text"],
  ["fallback_owner_id", "Fallback task owner id", "text"],
  ["fallback_sender_user_id", "Fallback sender user id", "text"],
  ["fallback_sender_email", "Fallback sender email", "text"],
  ["card_expiry_reminder", "Card-expiry pre-dunning (reach the customer before the card fails)", "checkbox"],
  ["card_update_sequence_id", "Card-update sequence id (without one: a TODO task with the link)", "text"],
];

function fieldInput(section, [name, label, kind], value) {
  const id = `${section}-${name}`;
  let input;
  if (kind === "checkbox") input = el("input", { id, name, type: "checkbox", checked: !!value });
  else {
    let text = value ?? "";
    if (kind === "list") text = (value || []).join(", ");
    if (kind === "pairs") text = (value || []).map((p) => p.join(":")).join(", ");
    input = el("input", { id, name, type: "text", inputmode: kind === "number" ? "decimal" : undefined, value: text });
  }
  input.dataset.kind = kind;
  return el("div", { class: "field" }, el("label", { for: id }, label), input);
}

function readField(input) {
  const raw = input.value.trim();
  switch (input.dataset.kind) {
    case "checkbox": return input.checked;
    case "text": return raw === "" ? null : raw;
    case "number": return raw === "" ? undefined : (Number.isFinite(Number(raw)) ? Number(raw) : raw);
    case "list": return raw === "" ? undefined : raw.split(",").map((s) => (Number.isFinite(Number(s.trim())) && s.trim() !== "" ? Number(s.trim()) : s.trim()));
    case "pairs": return raw === "" ? undefined : raw.split(",").map((p) => p.split(":").map((s) => Number(s.trim())));
    default: return raw;
  }
}

function renderSettings(s) {
  const inst = state.current;
  $("mode-line").replaceChildren(inst.preview ? "Preview: decisions and writes are shown, not sent. " : "Live: writes are sent to the CRM. ",
    inst.sandbox ? "(The demo sandbox stays in preview.)" : el("button", { type: "button", class: "secondary", onclick: () => setMode(!inst.preview) },
      inst.preview ? "Go live" : "Back to preview"));
  $("risk-fields").replaceChildren(el("legend", {}, "Risk score and segments"),
    ...RISK_FIELDS.map((f) => fieldInput("risk", f, s.risk[f[0]])));
  $("playbook-fields").replaceChildren(el("legend", {}, "Playbook: sequences, tasks and calendar"),
    ...PLAYBOOK_FIELDS.map((f) => fieldInput("playbook", f, s.playbook[f[0]])));
  $("calendar-fields").replaceChildren(el("legend", {}, "Time zone and country"),
    fieldInput("calendar", ["timezone", "Time zone (IANA name)", "text"], s.timezone),
    fieldInput("calendar", ["country", "Country of the business-day calendar (ISO code: US, GB, DE…)", "text"], s.country));
}

function collectSettings() {
  const out = { risk: {}, playbook: {} };
  for (const section of ["risk", "playbook"]) {
    for (const input of $(`${section}-fields`).querySelectorAll("input")) {
      const value = readField(input);
      if (value !== undefined) out[section][input.name] = value;
    }
  }
  out.timezone = $("calendar-timezone").value.trim();
  out.country = $("calendar-country").value.trim();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Billing connection: one per installation; the forms connect or reconnect (a new key).

function renderConnections(data) {
  const conns = data.connections;
  const list = conns.map((c) => el("li", {},
    el("strong", {}, c.provider === "stripe" ? "Stripe" : "Chargebee"), " ", pill(c.mode === "live" ? "live" : "preview", c.mode),
    c.account ? ` · ${c.account}` : "", c.has_api_key ? "" : " · no API key (reconcile cannot re-read missed events)",
    ` · last webhook: ${c.last_event_at ? when(c.last_event_at) : "none yet"}`,
    el("br"), "Webhook URL: ", el("span", { class: "secret" }, c.webhook_url),
    c.webhook_username ? [el("br"), "Webhook user: ", el("span", { class: "secret" }, c.webhook_username),
      " (reconnect to see the password again)"] : "",
    c.webhook_endpoint ? ` (endpoint ${c.webhook_endpoint})` : ""));
  $("billing-connections").replaceChildren(conns.length
    ? el("ul", { class: "connections" }, list)
    : el("p", { class: "muted" }, "No billing account is connected yet: connect Stripe or Chargebee below."));
  // One billing connection per installation: offer only its provider's form once connected.
  // The demo's sandbox is fed sample events and must not reach a real provider: no forms there.
  const provider = conns.length ? conns[0].provider : null;
  const sandbox = state.current.sandbox;
  $("stripe-form").hidden = sandbox || provider === "chargebee";
  $("chargebee-form").hidden = sandbox || provider === "stripe";
  if (sandbox) $("billing-connections").append(el("p", { class: "muted" },
    "The demo sandbox is fed the bundled sample events; billing accounts are connected in a real installation."));
  $("stripe-legend").textContent = provider === "stripe" ? "Reconnect Stripe (a new key)" : "Connect Stripe";
  $("chargebee-legend").textContent = provider === "chargebee" ? "Reconnect Chargebee (a new key)" : "Connect Chargebee";
}

async function connectBilling(event, provider) {
  event.preventDefault();
  const form = event.target;
  const body = {};
  for (const input of form.querySelectorAll("input, select")) {
    body[input.name] = input.type === "checkbox" ? input.checked : input.value.trim();
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const { status, data } = await send("POST", api(`/${provider}`), body);
    if (status === 409) throw new HttpError(409, data.message);
    for (const input of form.querySelectorAll("input[type=password]")) input.value = "";
    const rows = [["Webhook URL", data.webhook_url]];
    if (data.webhook_username) rows.push(["Webhook user", data.webhook_username], ["Webhook password", data.webhook_password]);
    $("billing-result").replaceChildren(...definitions(rows, () => ({ class: "secret" })));
    $("billing-result").hidden = false;
    showMessage($("billing-message"), provider === "stripe"
      ? `Stripe (${data.mode}) connected; the webhook endpoint at Stripe posts to the URL below.`
      : `Chargebee (${data.mode}) connected. In Chargebee, add a webhook with the URL, user and password below ` +
        "(Settings → Configure Chargebee → Webhooks, with Basic authentication).", "ok");
    await getJSON(api("/connections")).then(renderConnections);
    loadOverview().catch(reportError);
  } catch (err) {
    $("billing-result").hidden = true;
    showMessage($("billing-message"), "Not connected: " + err.message, "error");
  } finally {
    button.disabled = false;
  }
}

async function saveSettings(event) {
  event.preventDefault();
  const msg = $("settings-message");
  try {
    const { data } = await send("POST", api("/settings"), collectSettings());
    renderSettings(data.settings);
    showMessage(msg, `Settings saved. ${data.refreshed} account${data.refreshed === 1 ? "" : "s"} re-scored.`, "ok");
    loadOverview().catch(reportError);
  } catch (err) {
    showMessage(msg, "Not saved: " + err.message + " The previous settings are still in force.", "error");
  }
}

// ---------------------------------------------------------------------------------------------
// Loading.

function reportError(err) {
  if (err instanceof HttpError && err.status === 401) return;
  console.error(err);
  showMessage($("load-error"), "Could not load: " + err.message, "error");
}

function renderCardExpiry(c) {
  const rows = c.enabled || c.touch_points_sent || c.previewed
    ? [
      ["Cards caught before they failed", c.cards_caught_before_failing],
      ["Reminders sent", c.touch_points_sent],
      ["Failed anyway", c.failed_anyway],
      ["Refreshed by the card updater (reminder cancelled)", c.refreshed_by_card_updater],
      ["Waiting (daily cap)", c.waiting],
      ["Shown in preview", c.previewed],
    ]
    : [["Off", "Turn on card-expiry pre-dunning in Settings to reach customers before an expired card fails."]];
  if (!c.enabled && rows.length > 1) rows.unshift(["Off", "Turned off in Settings; figures of earlier reminders below."]);
  $("card-expiry-figures").replaceChildren(...definitions(rows, (k) => ({ "data-figure": k })));
}

async function loadHealth() { renderHealth(await getJSON(api("/health"))); }

async function loadOverview() {
  await Promise.all([
    loadHealth(),
    getJSON(api("/segments")).then(renderSegments),
    loadRecovery(),
    getJSON(api("/unmatched")).then(renderUnmatched),
    getJSON(api("/card-expiry")).then(renderCardExpiry),
  ]);
}

async function selectInstallation(id) {
  state.installations = await getJSON("/api/installations");
  state.current = state.installations.find((i) => i.id === Number(id)) || state.installations[0];
  $("installation-select").value = String(state.current.id);
  renderInstallationCard(state.current);
  await Promise.all([
    loadOverview(),
    getJSON(api("/accounts")).then(renderAccounts),
    getJSON(api("/writes")).then((d) => renderWrites(d, state.current)),
    getJSON(api("/settings")).then(renderSettings),
    getJSON(api("/connections")).then(renderConnections),
    loadDecisions(),
  ]);
  document.body.dataset.loaded = String(state.current.id);
}

function showTab() {
  const tab = (location.hash || "#overview").slice(1);
  for (const page of document.querySelectorAll(".page")) page.hidden = page.dataset.page !== tab;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.tab === tab);
}

async function load() {
  state.session = await getJSON("/api/session");
  $("who").textContent = "Signed in: " + state.session.name;
  $("demo-banner").hidden = !state.session.demo;
  state.installations = await getJSON("/api/installations");
  if (!state.installations.length) {
    $("load-error").hidden = false;
    $("load-error").textContent = "No installation yet: install the app from your CRM.";
    return;
  }
  $("tabs").hidden = false;
  $("installation-select").replaceChildren(...state.installations.map((i) =>
    el("option", { value: i.id }, i.name || `${i.crm} ${i.external_id}`)));
  $("installation-picker").hidden = state.installations.length < 2;
  showTab();
  await selectInstallation(state.installations[0].id);
}

window.addEventListener("hashchange", showTab);
$("installation-select").addEventListener("change", (e) => selectInstallation(e.target.value).catch(reportError));
$("period-select").addEventListener("change", () => loadRecovery().catch(reportError));
$("period-month").addEventListener("change", () => loadRecovery().catch(reportError));
$("currency-select").addEventListener("change", renderRecovery);
$("reconcile-button").addEventListener("click", () => reconcile(false));
$("reconcile-full-button").addEventListener("click", () => reconcile(true));
$("settings-form").addEventListener("submit", saveSettings);
$("stripe-form").addEventListener("submit", (e) => connectBilling(e, "stripe"));
$("chargebee-form").addEventListener("submit", (e) => connectBilling(e, "chargebee"));
load().catch(reportError);
