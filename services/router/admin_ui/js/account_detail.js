// The account detail view: the Details button of an accounts row opens everything known about the account
// (`GET /accounts/{id}/detail`): its real state and when it is usable, connection, usage, last check, its
// last errors and refreshes, and the requests it served or failed over from.

import { errorText } from "./account_check.js";
import { api } from "./api.js";
import { $, h, toast } from "./dom.js";
import { STATE_LABELS, fmtCredits, fmtDate, fmtDateTime, fmtMs, fmtNum, fmtRelative } from "./format.js";

const TRIGGER_LABELS = { scheduled: "scheduled", forced: "forced", on_demand: "on demand" };
const accountName = (a) => a.label || a.email || a.id;

// a time as "12/5/2026, 07:12:31 (3 min ago)"
function when(ts) {
  return `${fmtDateTime(ts)} (${fmtRelative(ts)})`;
}

function section(id, title, ...body) {
  return h("section", { class: "detail-section", id: `detail-${id}`, "aria-labelledby": `detail-${id}-h` },
    h("h3", { id: `detail-${id}-h` }, title), ...body);
}

// label → value pairs; values are text or nodes
function facts(pairs) {
  return h("dl", { class: "detail-facts" },
    pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
      .flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]));
}

function table(columns, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows)));
}

function stateSection(d) {
  const usable = d.usable_at ? `usable again at ${when(d.usable_at)}`
    : d.usable_since ? `usable since ${when(d.usable_since)}` : null;
  return section("state", "State", facts([
    ["State", h("span", {}, h("span", { class: `badge badge-${d.state}` }, STATE_LABELS[d.state] || d.state),
      d.state_reason ? ` ${d.state_reason}` : "")],
    ["Usable", usable],
    ["Enabled", d.enabled ? "yes" : "no"],
    ["Last refresh", d.last_refresh_at ? when(d.last_refresh_at) : "never"],
    ["Refresh error", d.last_refresh_error],
  ]));
}

function connectionSection(d) {
  return section("connection", "Connection", facts([
    ["Login", [d.auth_kind, d.provider].filter(Boolean).join(" · ")],
    ["Email", d.email],
    ["API region", d.region.api],
    ["Auth region", d.region.auth],
    ["Proxy", d.proxy_url || "the global proxy (or none)"],
  ]));
}

function usageSection(d) {
  const limits = d.usage_limit ? `${fmtCredits(d.usage_current)} / ${fmtCredits(d.usage_limit)}` : "unknown";
  const stats = d.stats || {};
  return section("usage", "Usage", facts([
    ["Plan", d.subscription_title],
    ["Used / limit", limits],
    ["Resets", d.usage_reset_at ? `${fmtDate(d.usage_reset_at)} (${fmtRelative(d.usage_reset_at)})` : null],
    ["Fetched", d.usage_updated_at ? when(d.usage_updated_at) : null],
    ["Today", `${fmtNum(stats.requests)} requests, ${fmtNum(stats.errors)} errors, `
      + `${fmtNum(stats.input_tokens)} / ${fmtNum(stats.output_tokens)} tokens, ${fmtCredits(stats.credits)} credits`],
  ]));
}

function checkSection(d) {
  const c = d.last_check;
  if (!c) return section("check", "Last check", h("p", { class: "muted" }, "Never checked."));
  const failed = (c.steps || []).filter((s) => s.status === "failed");
  return section("check", "Last check", facts([
    ["Result", h("span", { class: `badge badge-check-${c.ok ? "ok" : "failed"}` }, c.ok ? "OK" : "Failed")],
    ["Ran", `${when(c.checked_at)}, took ${fmtMs(c.duration_ms)}`],
    ["Failed steps", failed.map((s) => (s.error ? `${s.name}: ${errorText(s.error)}` : s.name)).join("; ")],
  ]));
}

function errorsSection(d) {
  const rows = d.errors.map((e) => h("tr", { "data-kind": e.kind },
    h("td", { title: when(e.at) }, fmtDateTime(e.at)),
    h("td", {}, h("span", { class: "mono" }, e.kind)),
    h("td", {}, e.source),
    h("td", {}, e.reason || h("span", { class: "muted" }, "—"))));
  return section("errors", "Last errors", table(["Time", "Kind", "Seen by", "Reason"], rows, "No errors recorded."));
}

function refreshesSection(d) {
  const rows = d.refreshes.map((r) => h("tr", { "data-outcome": r.outcome },
    h("td", { title: when(r.at) }, fmtDateTime(r.at)),
    h("td", {}, h("span", { class: `badge ${r.outcome === "ok" ? "badge-active" : "badge-disabled"}` },
      r.outcome === "ok" ? "OK" : r.outcome)),
    h("td", {}, TRIGGER_LABELS[r.trigger] || r.trigger),
    h("td", {}, r.reason || "")));
  return section("refreshes", "Token refreshes", table(["Time", "Outcome", "Trigger", "Reason"], rows,
    "No refresh recorded."));
}

function requestRows(entries, accountId) {
  return entries.map((r) => {
    const step = (r.tried || []).find((t) => t.account === accountId);
    return h("tr", { "data-request-id": r.request_id },
      h("td", { title: when(r.at) }, fmtDateTime(r.at)),
      h("td", {}, r.model || "—"),
      h("td", {}, `${r.outcome} ${r.status}`),
      h("td", {}, step ? `${step.reason}; served by ${r.account || "none"}` : fmtMs(r.duration_ms)));
  });
}

function requestsSection(d) {
  return section("requests", "Requests",
    h("h4", {}, "Served"),
    h("div", { id: "detail-served" }, table(["Time", "Model", "Outcome", "Duration"],
      requestRows(d.requests.served, d.id), "None in the request log.")),
    h("h4", {}, "Failed over to another account"),
    h("div", { id: "detail-failed-over" }, table(["Time", "Model", "Outcome", "Why"],
      requestRows(d.requests.failed_over, d.id), "None in the request log.")));
}

/** Open the detail dialog of account `a` (a row of the accounts table). */
export async function showDetail(a) {
  let d;
  try {
    d = await api("GET", `/accounts/${encodeURIComponent(a.id)}/detail`);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  $("#detail-title").textContent = `Account ${accountName(d)}`;
  $("#detail-body").replaceChildren(
    h("p", { class: "cell-sub mono" }, d.id),
    h("div", { class: "detail-grid" }, stateSection(d), connectionSection(d), usageSection(d), checkSection(d)),
    errorsSection(d), refreshesSection(d), requestsSection(d));
  const dialog = $("#detail-dialog");
  if (!dialog.open) dialog.showModal();
}

/** The row's Details button. */
export function detailButton(a) {
  return h("button", { type: "button", class: "btn btn-sm", onclick: () => showDetail(a),
    "aria-label": `Details of ${accountName(a)}` }, "Details");
}
