// The client keys tab: the keys, their limits, and the create and edit dialogs.

import { api } from "./api.js";
import { $, clearError, confirmDialog, h, intValue, showError, toast } from "./dom.js";
import { fmtCredits, fmtNum } from "./format.js";

function modelsList(text) {
  return text.split(",").map((m) => m.trim()).filter(Boolean);
}

// Expiry travels as unix seconds; the dialogs show and take it as a UTC date and time.
function expiryInput(ts) {
  return ts ? new Date(ts * 1000).toISOString().slice(0, 16) : "";
}

function expiryValue(input) {
  return input.value ? Math.floor(Date.parse(`${input.value}:00Z`) / 1000) : 0;
}

function expiryCell(k) {
  if (!k.expires_at) return h("span", { class: "muted" }, "never");
  const when = `${expiryInput(k.expires_at).replace("T", " ")} UTC`;
  return k.expired ? h("span", { class: "badge badge-disabled", title: when }, `Expired ${when}`) : when;
}

function statusBadge(k) {
  if (k.expired) return h("span", { class: "badge badge-exhausted" }, "Expired");
  return h("span", { class: `badge ${k.enabled ? "badge-active" : "badge-disabled"}` }, k.enabled ? "Enabled" : "Disabled");
}

const ofLimit = (used, limit, fmt) => `${fmt(used)} / ${limit ? fmt(limit) : "∞"}`;

function limitFields(prefix) {
  return {
    rpm: intValue($(`#${prefix}-rpm`)) ?? 0,
    daily_tokens: intValue($(`#${prefix}-daily`)) ?? 0,
    max_concurrency: intValue($(`#${prefix}-concurrency`)) ?? 0,
    monthly_credits: intValue($(`#${prefix}-credits`)) ?? 0,
    expires_at: expiryValue($(`#${prefix}-expires`)),
    note: $(`#${prefix}-note`).value.trim(),
  };
}

function keyRow(k) {
  const usage = k.usage || {};
  return h("tr", { "data-key-id": k.id },
    h("td", { class: "cell-title" }, k.name, k.note ? h("div", { class: "muted key-note" }, k.note) : ""),
    h("td", { class: "mono" }, k.hint || "—"),
    h("td", {}, statusBadge(k)),
    h("td", {}, (k.allowed_models || []).length ? k.allowed_models.join(", ") : h("span", { class: "muted" }, "all")),
    h("td", { class: "num" }, k.rpm ? fmtNum(k.rpm) : "∞"),
    h("td", { class: "key-concurrency" }, ofLimit(k.in_flight, k.max_concurrency, fmtNum)),
    h("td", {}, ofLimit(usage.tokens, k.daily_tokens, fmtNum)),
    h("td", { class: "num key-credits-today" }, fmtCredits(usage.credits)),
    h("td", { class: "key-credits-month" }, ofLimit(k.month_credits, k.monthly_credits, fmtCredits)),
    h("td", { class: "key-expires" }, expiryCell(k)),
    h("td", { class: "num" }, fmtNum(usage.requests)),
    h("td", {}, h("div", { class: "row-actions" },
      h("button", { type: "button", class: "btn btn-sm", onclick: () => toggleKey(k) }, k.enabled ? "Disable" : "Enable"),
      h("button", { type: "button", class: "btn btn-sm", onclick: () => openKeyEdit(k) }, "Edit"),
      h("button", { type: "button", class: "btn btn-sm btn-link-danger", onclick: () => deleteKey(k),
        "aria-label": `Delete key ${k.name}` }, "Delete"),
    )),
  );
}

export async function loadKeys() {
  const data = await api("GET", "/keys");
  const keys = data.keys || [];
  $("#keys-table tbody").replaceChildren(...keys.map(keyRow));
  $("#keys-empty").hidden = keys.length > 0;
}

async function toggleKey(k) {
  try {
    await api("PATCH", `/keys/${encodeURIComponent(k.id)}`, { enabled: !k.enabled });
    await loadKeys();
  } catch (err) {
    toast(err.message, "error");
  }
}

async function deleteKey(k) {
  if (!(await confirmDialog(`Delete client key “${k.name}”? Clients using it stop working at once.`))) return;
  try {
    await api("DELETE", `/keys/${encodeURIComponent(k.id)}`);
    toast("Key deleted.");
    await loadKeys();
  } catch (err) {
    toast(err.message, "error");
  }
}

function openCreateKey() {
  $("#key-form").reset();
  $("#key-fields").hidden = false;
  $("#key-created").hidden = true;
  $("#key-submit").hidden = false;
  $("#key-close").textContent = "Cancel";
  clearError($("#key-error"));
  $("#key-dialog").showModal();
}

async function submitCreateKey(event) {
  event.preventDefault();
  clearError($("#key-error"));
  try {
    const created = await api("POST", "/keys", {
      name: $("#key-name").value.trim(),
      allowed_models: modelsList($("#key-models").value),
      ...limitFields("key"),
    });
    $("#key-fields").hidden = true;
    $("#key-submit").hidden = true;
    $("#key-created").hidden = false;
    $("#key-plain").value = created.key;
    $("#key-close").textContent = "Done";
    $("#key-plain").select();
    await loadKeys();
  } catch (err) {
    showError($("#key-error"), err);
  }
}

async function copyKey() {
  const input = $("#key-plain");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand("copy");
  }
  toast("Key copied to the clipboard.");
}

let editingKey = null;

function openKeyEdit(k) {
  editingKey = k;
  $("#kedit-name").value = k.name;
  $("#kedit-models").value = (k.allowed_models || []).join(", ");
  $("#kedit-rpm").value = k.rpm || 0;
  $("#kedit-daily").value = k.daily_tokens || 0;
  $("#kedit-concurrency").value = k.max_concurrency || 0;
  $("#kedit-credits").value = k.monthly_credits || 0;
  $("#kedit-expires").value = expiryInput(k.expires_at);
  $("#kedit-note").value = k.note || "";
  clearError($("#kedit-error"));
  $("#key-edit-dialog").showModal();
}

async function saveKeyEdit(event) {
  event.preventDefault();
  try {
    await api("PATCH", `/keys/${encodeURIComponent(editingKey.id)}`, {
      name: $("#kedit-name").value.trim(),
      allowed_models: modelsList($("#kedit-models").value),
      ...limitFields("kedit"),
    });
    $("#key-edit-dialog").close();
    toast("Key saved.");
    await loadKeys();
  } catch (err) {
    showError($("#kedit-error"), err);
  }
}

export function wireKeys() {
  $("#create-key-button").addEventListener("click", openCreateKey);
  $("#key-form").addEventListener("submit", submitCreateKey);
  $("#key-copy").addEventListener("click", copyKey);
  $("#key-dialog").addEventListener("close", () => { $("#key-plain").value = ""; });
  $("#key-edit-form").addEventListener("submit", saveKeyEdit);
}
