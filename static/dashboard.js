// Admin dashboard: plain DOM, no build step. Every value is inserted as text, never as HTML.
"use strict";

const state = { session: null };

async function getJSON(url) {
  const resp = await fetch(url, { credentials: "same-origin" });
  if (resp.status === 401) { document.getElementById("signin").hidden = false; throw new Error("signed out"); }
  if (!resp.ok) throw new Error(url + " answered " + resp.status);
  return resp.json();
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

const pill = (value) => value ? el("span", { class: "pill " + value }, value.replace(/_/g, " ")) : "";

function renderInstallations(list) {
  const box = document.getElementById("installations");
  box.replaceChildren(el("h2", {}, "Installations"));
  for (const inst of list) {
    const mode = inst.preview ? "Preview: writes are recorded, not sent" : "Live: writes are sent to the CRM";
    const toggle = el("button", { class: "secondary", onclick: () => setMode(inst, !inst.preview) },
      inst.preview ? "Go live" : "Back to preview");
    box.append(el("p", {},
      el("strong", {}, inst.name || (inst.crm + " " + inst.external_id)), " · ", inst.crm,
      inst.sandbox ? " (sandbox)" : "", " · ", pill(inst.status === "active" ? "current" : "failed"),
      " ", inst.status, inst.status_reason ? " — " + inst.status_reason : "", " · ", mode, " ",
      inst.sandbox ? "" : toggle));
  }
}

async function setMode(inst, preview) {
  const resp = await fetch(`/api/installations/${inst.id}/mode`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.session.csrf },
    body: JSON.stringify({ preview }),
  });
  if (!resp.ok) { alert((await resp.json()).message || "Refused"); return; }
  load();
}

function renderAccounts(data) {
  const table = document.getElementById("accounts");
  const fields = data.fields.filter((f) => f !== "billing_updated_at");
  table.replaceChildren(el("tr", {}, el("th", {}, "customer"), el("th", {}, "CRM record"),
    ...fields.map((f) => el("th", {}, f))));
  for (const a of data.accounts) {
    const record = a.crm_record_id ? "company " + a.crm_record_id : pill(a.match_status);
    table.append(el("tr", {}, el("td", {}, a.customer_id, el("br"), el("span", { class: "muted" }, a.name || "")),
      el("td", { title: a.match_detail }, record),
      ...fields.map((f) => {
        const v = a.fields[f];
        if (["payment_status", "risk_segment"].includes(f)) return el("td", {}, pill(v));
        if (f === "payment_link" && v) return el("td", {}, el("a", { href: v }, "link"));
        return el("td", {}, v);
      })));
  }
  const past = data.accounts.filter((a) => a.fields.payment_status === "past_due").length;
  document.getElementById("accounts-summary").textContent =
    `${data.accounts.length} customers, ${past} past due`;
}

function renderWrites(data, inst) {
  document.getElementById("writes-title").textContent =
    inst.preview ? "CRM writes that would be made (preview)" : "CRM writes";
  document.getElementById("writes-summary").textContent =
    `${data.pending} pending · last runs: ` +
    data.runs.map((r) => `${r.kind} ${r.outcome} (${Object.entries(r.counts).filter(([k, v]) => v && k !== "errors").map(([k, v]) => k + " " + v).join(", ")})`).join("; ");
  const table = document.getElementById("writes");
  table.replaceChildren(el("tr", {}, ...["when", "customer", "record", "status", "values / outcome"].map((h) => el("th", {}, h))));
  for (const w of data.writes) {
    const values = Object.entries(w.values).map(([k, v]) => `${k} = ${v === "" ? "(clear)" : v}`).join("\n");
    table.append(el("tr", {}, el("td", {}, w.at.replace("T", " ").slice(0, 19)), el("td", {}, w.customer_id),
      el("td", {}, w.record_id || ""), el("td", {}, pill(w.status)),
      el("td", { class: "values" }, el("pre", {}, values || w.outcome || w.last_error))));
  }
}

async function load() {
  state.session = await getJSON("/api/session");
  document.getElementById("who").textContent = "Signed in: " + state.session.name;
  document.getElementById("demo-banner").hidden = !state.session.demo;
  const installations = await getJSON("/api/installations");
  renderInstallations(installations);
  if (!installations.length) return;
  const inst = installations[0];
  renderAccounts(await getJSON(`/api/installations/${inst.id}/accounts`));
  renderWrites(await getJSON(`/api/installations/${inst.id}/writes`), inst);
}

load().catch((err) => console.error(err));
