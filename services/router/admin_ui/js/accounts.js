// The accounts tab: the pool's accounts, their actions and the edit dialog.

import { checkButton, checkCell } from "./account_check.js";
import { detailButton } from "./account_detail.js";
import { api } from "./api.js";
import { $, clearError, confirmDialog, h, intValue, showError, toast } from "./dom.js";
import { STATE_LABELS, fmtCredits, fmtDate, fmtDateTime, fmtNum, fmtRelative } from "./format.js";
import { runwayCell } from "./runway.js";

function barFill(pct) {
  const fill = h("span");
  fill.style.width = `${pct}%`; // CSSOM, not a style attribute: allowed by the page's CSP
  return fill;
}

function usageCell(a) {
  if (!a.usage_limit) {
    return h("td", { class: "usage" }, h("span", { class: "muted" }, a.subscription_title || "unknown"));
  }
  const pct = Math.min(100, (a.usage_current / a.usage_limit) * 100);
  const cls = pct >= 100 ? "bar full" : pct >= 80 ? "bar high" : "bar";
  return h("td", { class: "usage" },
    h("div", { class: "small" }, `${fmtCredits(a.usage_current)} / ${fmtCredits(a.usage_limit)}`),
    h("div", { class: cls, role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": Math.round(pct), "aria-label": "Usage of limit" }, barFill(pct)),
    h("div", { class: "cell-sub usage-reset" }, resetText(a)),
  );
}

// getUsageLimits' nextDateReset, with the whole days left (usage_reset_days, from the admin API)
function resetText(a) {
  if (!a.usage_reset_at) return a.subscription_title || "";
  const days = a.usage_reset_days;
  const left = days == null ? "" : days === 0 ? " (today)" : days === 1 ? " (in 1 day)" : ` (in ${days} days)`;
  return `resets ${fmtDate(a.usage_reset_at)}${left}`;
}

function accountRow(a) {
  const name = a.label || a.email || a.id;
  const stats = a.stats || {};
  const kind = [a.auth_kind, a.provider].filter(Boolean).join(" · ");
  const expiry = a.access_expires_at ? fmtRelative(a.access_expires_at) : (a.has_access_token ? "—" : "no token yet");
  return h("tr", { "data-account-id": a.id },
    h("td", {}, h("div", { class: "cell-title" }, name), h("div", { class: "cell-sub" }, kind),
      a.proxy_url ? h("div", { class: "cell-sub" }, `proxy ${a.proxy_url}`) : null),
    h("td", {}, h("span", { class: `badge badge-${a.state}` }, STATE_LABELS[a.state] || a.state),
      a.state_reason ? h("span", { class: "reason" }, a.state_reason) : null,
      a.usable_at ? h("span", { class: "reason usable-at" }, `usable again ${fmtRelative(a.usable_at)}`) : null,
      a.last_refresh_error ? h("span", { class: "reason" }, `refresh: ${a.last_refresh_error}`) : null),
    h("td", { class: "num weight" }, fmtNum(a.weight)),
    usageCell(a),
    runwayCell(a),
    h("td", { title: a.access_expires_at ? fmtDateTime(a.access_expires_at) : "" }, expiry),
    h("td", { class: "num" }, fmtNum(stats.requests)),
    h("td", { class: "num" }, fmtNum(stats.errors)),
    checkCell(a),
    h("td", {}, h("div", { class: "row-actions" },
      a.enabled
        ? h("button", { type: "button", class: "btn btn-sm", onclick: () => accountAction(a, "disable") }, "Disable")
        : h("button", { type: "button", class: "btn btn-sm", onclick: () => accountAction(a, "enable") }, "Enable"),
      h("button", { type: "button", class: "btn btn-sm", onclick: () => accountAction(a, "refresh") }, "Refresh"),
      checkButton(a, loadAccounts),
      detailButton(a),
      h("button", { type: "button", class: "btn btn-sm", onclick: () => openEdit(a) }, "Edit"),
      h("button", { type: "button", class: "btn btn-sm btn-link-danger", onclick: () => deleteAccount(a),
        "aria-label": `Delete ${name}` }, "Delete"),
    )),
  );
}


export async function loadAccounts() {
  const data = await api("GET", "/accounts");
  const accounts = (data.accounts || []).sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
  $("#accounts-table tbody").replaceChildren(...accounts.map(accountRow));
  $("#accounts-empty").hidden = accounts.length > 0;
  const invalid = data.invalid || [];
  const box = $("#invalid-accounts");
  box.hidden = invalid.length === 0;
  box.replaceChildren(
    h("strong", {}, `${invalid.length} stored account record(s) cannot be read:`),
    h("ul", {}, invalid.map((i) => h("li", {}, h("span", { class: "mono" }, i.id), ` — ${i.reason}`))),
  );
}

async function accountAction(a, action) {
  try {
    await api("POST", `/accounts/${encodeURIComponent(a.id)}/${action}`);
    toast(action === "refresh" ? "Token refresh queued." : `Account ${action}d.`);
    await loadAccounts();
  } catch (err) {
    toast(err.message, "error");
  }
}

async function deleteAccount(a) {
  const name = a.label || a.email || a.id;
  if (!(await confirmDialog(`Delete account “${name}”? Its tokens are removed from this stack for good.`))) return;
  try {
    await api("DELETE", `/accounts/${encodeURIComponent(a.id)}`);
    toast("Account deleted.");
    await loadAccounts();
  } catch (err) {
    toast(err.message, "error");
  }
}

let editing = null;

function openEdit(a) {
  editing = a;
  $("#edit-title").textContent = `Edit ${a.label || a.email || a.id}`;
  $("#edit-label").value = a.label || "";
  $("#edit-weight").value = a.weight;
  $("#edit-max_concurrency").value = a.max_concurrency;
  $("#edit-proxy_url").value = a.proxy_url || "";
  $("#edit-min_interval_ms").value = a.min_interval_ms;
  $("#edit-api_region").value = a.api_region || "";
  clearError($("#edit-error"));
  $("#edit-dialog").showModal();
}

async function saveEdit(event) {
  event.preventDefault();
  const patch = {
    label: $("#edit-label").value.trim(),
    weight: intValue($("#edit-weight")),
    max_concurrency: intValue($("#edit-max_concurrency")) ?? 0,
    proxy_url: $("#edit-proxy_url").value.trim(),
    min_interval_ms: intValue($("#edit-min_interval_ms")) ?? -1,
    api_region: $("#edit-api_region").value.trim(),
  };
  try {
    await api("PATCH", `/accounts/${encodeURIComponent(editing.id)}`, patch);
    $("#edit-dialog").close();
    toast("Account saved.");
    await loadAccounts();
  } catch (err) {
    showError($("#edit-error"), err);
  }
}

export function wireAccounts() {
  $("#edit-form").addEventListener("submit", saveEdit);
}
