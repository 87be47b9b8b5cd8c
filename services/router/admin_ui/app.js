"use strict";
// Kiro Stack admin panel: plain DOM, no framework, no build step. Data only ever enters the page as text.

const API = "/admin/api";
const REFRESH_MS = 5000;
const STATES = ["active", "pending", "cooldown", "exhausted", "disabled", "needs_relogin", "invalid"];
const STATE_LABELS = {
  active: "Active", pending: "Pending", cooldown: "Cooldown", exhausted: "Exhausted", disabled: "Disabled",
  needs_relogin: "Needs re-login", invalid: "Invalid",
};

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Build an element: h("td", {class: "num"}, "12"). Children are text or nodes, never HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// --- API --------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function errorMessage(status, body) {
  if (body && typeof body === "object") {
    const detail = body.detail ?? body.error ?? body.message;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const where = (d.loc || []).filter((p) => p !== "body").join(".");
        return where ? `${where}: ${d.msg}` : d.msg;
      }).join("\n");
    }
    if (detail && typeof detail === "object" && detail.message) return detail.message;
  }
  return `Request failed (HTTP ${status})`;
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { "X-Requested-With": "kiro-stack-admin" } };
  if (body instanceof Blob) {
    init.headers["Content-Type"] = "application/octet-stream";
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${API}${path}`, init);
  } catch (err) {
    throw new ApiError(0, "The router does not answer. Check that it is running.");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (response.status === 401 && path !== "/login") {
    showLogin();
    throw new ApiError(401, "Your session has ended. Sign in again.");
  }
  if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, data));
  return data;
}

// --- formatting -------------------------------------------------------------------------------

const nf = new Intl.NumberFormat();
const fmtNum = (n) => nf.format(Math.round(Number(n) || 0));
const fmtCredits = (n) => (Number(n) || 0).toLocaleString(undefined, { maximumFractionDigits: 2 });

function fmtDate(ts) {
  if (!ts) return "—";
  return new Date(ts * 1000).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

function fmtRelative(ts) {
  if (!ts) return "—";
  const diff = ts - Date.now() / 1000;
  const abs = Math.abs(diff);
  const unit = abs < 90 ? [Math.round(abs), "s"] : abs < 5400 ? [Math.round(abs / 60), "min"]
    : abs < 172800 ? [Math.round(abs / 3600), "h"] : [Math.round(abs / 86400), "d"];
  return diff >= 0 ? `in ${unit[0]} ${unit[1]}` : `${unit[0]} ${unit[1]} ago`;
}

function toast(message, kind = "info") {
  const el = $("#toast");
  el.textContent = message;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 7000 : 3500);
}

function showError(el, err) {
  el.textContent = err instanceof Error ? err.message : String(err);
  el.hidden = false;
}

function clearError(el) { el.hidden = true; el.textContent = ""; }

// --- views ------------------------------------------------------------------------------------

let refreshTimer = null;
let currentTab = "dashboard";

function showLogin() {
  stopRefresh();
  $("#app-view").hidden = true;
  $("#login-view").hidden = false;
  $("#login-password").value = "";
  $("#login-password").focus();
}

function showApp() {
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  selectTab(location.hash.slice(1) || "dashboard");
  startRefresh();
}

function selectTab(tab) {
  if (!["dashboard", "accounts", "keys", "requests", "settings"].includes(tab)) tab = "dashboard";
  currentTab = tab;
  for (const link of $$(".tabs a")) {
    if (link.dataset.tab === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const page of $$(".page")) page.hidden = page.id !== `tab-${tab}`;
  refresh(true);
}

function startRefresh() {
  stopRefresh();
  refreshTimer = setInterval(() => refresh(false), REFRESH_MS);
}

function stopRefresh() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

async function refresh(initial) {
  if ($("#app-view").hidden) return;
  try {
    if (currentTab === "dashboard") await loadDashboard();
    else if (currentTab === "accounts") await loadAccounts();
    else if (currentTab === "keys") await loadKeys();
    else if (currentTab === "requests") await loadRequests(initial);
    else if (currentTab === "settings" && initial) await loadSettings();
    $("#refresh-indicator").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err.status !== 401) toast(err.message, "error");
  }
}

// --- dashboard --------------------------------------------------------------------------------

function statCard(value, label, cls = "") {
  return h("div", { class: `stat ${cls}` }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}

async function loadDashboard() {
  const stats = await api("GET", "/stats");
  const pool = stats.pool || {};
  $("#pool-cards").replaceChildren(
    statCard(fmtNum(pool.total ?? 0), "Accounts"),
    ...STATES.map((s) => statCard(fmtNum(pool[s] ?? 0), STATE_LABELS[s], `s-${s}`)),
  );
  const t = stats.totals || {};
  $("#total-cards").replaceChildren(
    statCard(fmtNum(t.requests), "Requests"),
    statCard(fmtNum(t.errors), "Errors"),
    statCard(fmtNum(t.input_tokens), "Input tokens"),
    statCard(fmtNum(t.output_tokens), "Output tokens"),
    statCard(fmtCredits(t.credits), "Credits"),
  );
  const rows = (stats.keys || []).map((k) => h("tr", {},
    h("td", {}, k.name || k.id),
    h("td", { class: "num" }, fmtNum(k.requests)),
    h("td", { class: "num" }, fmtNum(k.tokens)),
    h("td", { class: "num" }, fmtNum(k.errors)),
  ));
  $("#key-stats-table tbody").replaceChildren(...(rows.length ? rows
    : [h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No client keys yet."))]));
}

// --- accounts ---------------------------------------------------------------------------------

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
    h("div", { class: "cell-sub" }, a.usage_reset_at ? `resets ${fmtDate(a.usage_reset_at)}` : a.subscription_title || ""),
  );
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
      a.last_refresh_error ? h("span", { class: "reason" }, `refresh: ${a.last_refresh_error}`) : null),
    h("td", { class: "num weight" }, fmtNum(a.weight)),
    usageCell(a),
    h("td", { title: a.access_expires_at ? new Date(a.access_expires_at * 1000).toLocaleString() : "" }, expiry),
    h("td", { class: "num" }, fmtNum(stats.requests)),
    h("td", { class: "num" }, fmtNum(stats.errors)),
    h("td", {}, h("div", { class: "row-actions" },
      a.enabled
        ? h("button", { type: "button", class: "btn btn-sm", onclick: () => accountAction(a, "disable") }, "Disable")
        : h("button", { type: "button", class: "btn btn-sm", onclick: () => accountAction(a, "enable") }, "Enable"),
      h("button", { type: "button", class: "btn btn-sm", onclick: () => accountAction(a, "refresh") }, "Refresh"),
      h("button", { type: "button", class: "btn btn-sm", onclick: () => openEdit(a) }, "Edit"),
      h("button", { type: "button", class: "btn btn-sm btn-link-danger", onclick: () => deleteAccount(a),
        "aria-label": `Delete ${name}` }, "Delete"),
    )),
  );
}

async function loadAccounts() {
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

function confirmDialog(text, okLabel = "Delete") {
  const dialog = $("#confirm-dialog");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "cancel";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
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
  clearError($("#edit-error"));
  $("#edit-dialog").showModal();
}

function intValue(input) {
  const raw = input.value.trim();
  return raw === "" ? null : Number(raw);
}

async function saveEdit(event) {
  event.preventDefault();
  const patch = {
    label: $("#edit-label").value.trim(),
    weight: intValue($("#edit-weight")),
    max_concurrency: intValue($("#edit-max_concurrency")) ?? 0,
    proxy_url: $("#edit-proxy_url").value.trim(),
    min_interval_ms: intValue($("#edit-min_interval_ms")) ?? -1,
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

// --- add account ------------------------------------------------------------------------------

let addMode = "social";
let devicePoll = null;

function setAddMode(mode) {
  addMode = mode;
  for (const tab of $$("#add-dialog [role=tab]")) tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
  for (const pane of $$("#add-dialog [data-pane]")) pane.hidden = !pane.dataset.pane.split(" ").includes(mode);
  $("#device-status").hidden = true;
  $("#add-submit").textContent = mode === "device" ? "Start device login" : "Add account";
  $("#add-submit").disabled = false;
  $("#add-submit").hidden = false;
  $("#add-dialog [data-close]").textContent = "Cancel";
  clearError($("#add-error"));
}

function openAdd() {
  $("#add-form").reset();
  stopDevicePoll();
  setAddMode("social");
  $("#add-dialog").showModal();
}

function optional(value) {
  const v = value.trim();
  return v === "" ? undefined : v;
}

function parseJsonField(text, what) {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} is not valid JSON.`);
  }
}

function addBody() {
  const common = { label: optional($("#add-label").value), proxy_url: optional($("#add-proxy_url").value) };
  const weight = intValue($("#add-weight"));
  if (weight !== null) common.weight = weight;
  if (addMode === "file") {
    const text = $("#add-token_json").value.trim();
    if (!text) throw new Error("Choose the kiro-auth-token.json file or paste its contents.");
    const body = { ...common, kiro_auth_token: parseJsonField(text, "kiro-auth-token.json") };
    const reg = $("#add-registration_json").value.trim();
    if (reg) body.client_registration = parseJsonField(reg, "The client registration");
    return body;
  }
  const body = { ...common, auth_kind: addMode, refresh_token: $("#add-refresh_token").value.trim() };
  if (addMode === "idc") {
    body.client_id = optional($("#add-client_id").value);
    body.client_secret = optional($("#add-client_secret").value);
    body.auth_region = optional($("#add-auth_region").value);
    body.start_url = optional($("#add-start_url").value);
  }
  return body;
}

async function submitAdd(event) {
  event.preventDefault();
  clearError($("#add-error"));
  if (addMode === "device") return startDeviceFlow();
  try {
    const account = await api("POST", "/accounts", addBody());
    $("#add-dialog").close();
    toast(`Account ${account.label || account.id} added.`);
    await loadAccounts();
  } catch (err) {
    showError($("#add-error"), err);
  }
}

async function startDeviceFlow() {
  const body = {
    auth_region: optional($("#add-auth_region").value),
    start_url: optional($("#add-start_url").value),
    label: optional($("#add-label").value),
  };
  $("#add-submit").disabled = true;
  try {
    const flow = await api("POST", "/accounts/device-flow", body);
    const box = $("#device-status");
    box.hidden = false;
    box.replaceChildren(
      h("p", {}, "Open the link, sign in, and confirm this code:"),
      h("div", { class: "user-code", id: "device-user-code" }, flow.user_code),
      h("p", {}, h("a", { href: flow.verification_uri_complete, target: "_blank", rel: "noopener noreferrer" },
        flow.verification_uri_complete)),
      h("p", { class: "muted", id: "device-state" }, "Waiting for you to confirm…"),
    );
    const every = Math.max(2, Number(flow.interval) || 5) * 1000;
    devicePoll = setInterval(() => pollDeviceFlow(flow.flow_id), every);
  } catch (err) {
    $("#add-submit").disabled = false;
    showError($("#add-error"), err);
  }
}

async function pollDeviceFlow(flowId) {
  try {
    const status = await api("GET", `/accounts/device-flow/${encodeURIComponent(flowId)}`);
    const line = $("#device-state");
    if (status.status === "pending") return;
    stopDevicePoll();
    $("#add-submit").disabled = false;
    if (status.status === "complete") {
      line.textContent = "Signed in. The account was added.";
      $("#add-dialog [data-close]").textContent = "Done";
      $("#add-submit").hidden = true;
      toast("Device login complete: account added.");
      await loadAccounts();
    } else {
      line.textContent = "";
      const why = { expired: "The code expired before it was confirmed.", denied: "The login was denied." };
      showError($("#add-error"), why[status.status] || status.error || "The device login failed.");
    }
  } catch (err) {
    stopDevicePoll();
    $("#add-submit").disabled = false;
    showError($("#add-error"), err);
  }
}

function stopDevicePoll() {
  if (devicePoll) clearInterval(devicePoll);
  devicePoll = null;
}

function fileIntoTextarea(input, textarea) {
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (file) textarea.value = await file.text();
  });
}

// --- import / export / restore ----------------------------------------------------------------

function reportList(title, items, render) {
  if (!items || items.length === 0) return null;
  return h("div", {}, h("strong", {}, `${title} (${items.length})`), h("ul", {}, items.map((i) => h("li", {}, render(i)))));
}

function renderReport(box, report) {
  const added = report.added || [];
  const updated = report.updated || [];
  const skipped = report.skipped || [];
  box.hidden = false;
  const parts = [
    h("p", { class: "report-summary" }, `${added.length} added, ${updated.length} updated, ${skipped.length} skipped.`),
    reportList("Added", added, (i) => (typeof i === "string" ? i : i.label || i.id)),
    reportList("Updated", updated, (i) => (typeof i === "string" ? i : i.label || i.id)),
    reportList("Skipped", skipped, (i) => `${i.entry}: ${i.reason}`),
  ];
  box.replaceChildren(...parts.filter(Boolean)); // an empty list is null, which would print as "null"
}

// a kiro-cli database chosen in the import dialog (sent as it is), else null
let importDatabase = null;
const SQLITE_HEADER = "SQLite format 3\u0000";

function setImportDatabase(file) {
  importDatabase = file;
  const textarea = $("#import-json");
  textarea.disabled = Boolean(file);
  textarea.placeholder = file ? `kiro-cli database: ${file.name}` : "";
  if (file) textarea.value = "";
}

async function chooseImportFile() {
  const file = $("#import-file").files && $("#import-file").files[0];
  if (!file) return setImportDatabase(null);
  const head = new TextDecoder("latin1").decode(await file.slice(0, 16).arrayBuffer());
  if (head === SQLITE_HEADER) return setImportDatabase(file);
  setImportDatabase(null);
  $("#import-json").value = await file.text();
}

function openImport() {
  $("#import-form").reset();
  setImportDatabase(null);
  $("#import-report").hidden = true;
  clearError($("#import-error"));
  $("#import-dialog").showModal();
}

async function submitImport(event) {
  event.preventDefault();
  clearError($("#import-error"));
  const text = $("#import-json").value.trim();
  try {
    if (!text && !importDatabase) throw new Error("Choose the config.json file or paste its contents.");
    const report = importDatabase
      ? await api("POST", "/accounts/import/kiro-cli", importDatabase)
      : await api("POST", "/accounts/import", parseJsonField(text, "config.json"));
    renderReport($("#import-report"), report);
    await loadAccounts();
  } catch (err) {
    showError($("#import-error"), err);
  }
}

async function exportBackup() {
  try {
    const backup = await api("GET", "/accounts/export");
    const blob = new Blob([JSON.stringify(backup, null, 2)], { type: "application/json" });
    const link = h("a", { href: URL.createObjectURL(blob), download: `kiro-stack-backup-${new Date().toISOString().slice(0, 10)}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    toast("Backup downloaded. It holds encrypted tokens: keep it private.");
  } catch (err) {
    toast(err.message, "error");
  }
}

function openRestore() {
  $("#restore-form").reset();
  $("#restore-report").hidden = true;
  clearError($("#restore-error"));
  $("#restore-dialog").showModal();
}

async function submitRestore(event) {
  event.preventDefault();
  clearError($("#restore-error"));
  try {
    const file = $("#restore-file").files[0];
    if (!file) throw new Error("Choose a backup file.");
    const report = await api("POST", "/accounts/restore", parseJsonField(await file.text(), "The backup"));
    renderReport($("#restore-report"), report);
    await loadAccounts();
  } catch (err) {
    showError($("#restore-error"), err);
  }
}

// --- client keys ------------------------------------------------------------------------------

function modelsList(text) {
  return text.split(",").map((m) => m.trim()).filter(Boolean);
}

function keyRow(k) {
  const usage = k.usage || {};
  const budget = k.daily_tokens ? `${fmtNum(usage.tokens)} / ${fmtNum(k.daily_tokens)}` : `${fmtNum(usage.tokens)} / ∞`;
  return h("tr", { "data-key-id": k.id },
    h("td", { class: "cell-title" }, k.name),
    h("td", { class: "mono" }, k.hint || "—"),
    h("td", {}, h("span", { class: `badge ${k.enabled ? "badge-active" : "badge-disabled"}` }, k.enabled ? "Enabled" : "Disabled")),
    h("td", {}, (k.allowed_models || []).length ? k.allowed_models.join(", ") : h("span", { class: "muted" }, "all")),
    h("td", { class: "num" }, k.rpm ? fmtNum(k.rpm) : "∞"),
    h("td", {}, budget),
    h("td", { class: "num" }, fmtNum(usage.requests)),
    h("td", {}, h("div", { class: "row-actions" },
      h("button", { type: "button", class: "btn btn-sm", onclick: () => toggleKey(k) }, k.enabled ? "Disable" : "Enable"),
      h("button", { type: "button", class: "btn btn-sm", onclick: () => openKeyEdit(k) }, "Edit"),
      h("button", { type: "button", class: "btn btn-sm btn-link-danger", onclick: () => deleteKey(k),
        "aria-label": `Delete key ${k.name}` }, "Delete"),
    )),
  );
}

async function loadKeys() {
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
      rpm: intValue($("#key-rpm")) ?? 0,
      daily_tokens: intValue($("#key-daily")) ?? 0,
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
  clearError($("#kedit-error"));
  $("#key-edit-dialog").showModal();
}

async function saveKeyEdit(event) {
  event.preventDefault();
  try {
    await api("PATCH", `/keys/${encodeURIComponent(editingKey.id)}`, {
      name: $("#kedit-name").value.trim(),
      allowed_models: modelsList($("#kedit-models").value),
      rpm: intValue($("#kedit-rpm")) ?? 0,
      daily_tokens: intValue($("#kedit-daily")) ?? 0,
    });
    $("#key-edit-dialog").close();
    toast("Key saved.");
    await loadKeys();
  } catch (err) {
    showError($("#kedit-error"), err);
  }
}

// --- request log ------------------------------------------------------------------------------

const OUTCOME_LABELS = {
  served: "Served", error: "Error", cut: "Cut", disconnected: "Disconnected", failed_over: "Failed over",
  refused: "Refused",
};
const OUTCOME_BADGES = { served: "badge-active", disconnected: "badge-pending" };
let requestsOlder = null; // `next_before` of the last page shown
let requestsPaged = false; // older pages are shown: auto refresh would drop them

function fmtMs(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

function trailList(tried) {
  if (!tried.length) return null;
  return h("div", { class: "cell-sub trail" }, "failed over: ",
    tried.flatMap((t, i) => [i ? " → " : "", h("span", { class: "mono" }, t.account), ` (${t.reason})`]));
}

function requestRow(r) {
  const when = new Date(r.at * 1000);
  const outcome = h("span", { class: `badge ${OUTCOME_BADGES[r.outcome] || "badge-disabled"}` },
    OUTCOME_LABELS[r.outcome] || r.outcome);
  return h("tr", { "data-request-id": r.request_id, class: `outcome-${r.outcome}` },
    h("td", { title: when.toLocaleString() }, when.toLocaleTimeString(),
      h("div", { class: "cell-sub mono" }, r.request_id)),
    h("td", {}, r.key || h("span", { class: "muted" }, "—")),
    h("td", {}, r.route, h("div", { class: "cell-sub" }, r.model || "—")),
    h("td", {}, r.account ? h("span", { class: "mono" }, r.account) : h("span", { class: "muted" }, "none"),
      trailList(r.tried || [])),
    h("td", {}, outcome, ` ${r.status}`, r.reason ? h("span", { class: "reason" }, r.reason) : null),
    h("td", { class: "num" }, `${fmtNum(r.input_tokens)} / ${fmtNum(r.output_tokens)}`),
    h("td", { class: "num" }, fmtCredits(r.credits)),
    h("td", { class: "num" }, fmtMs(r.ttfb_ms)),
    h("td", { class: "num" }, fmtMs(r.duration_ms)),
  );
}

function requestsQuery(before) {
  const params = new URLSearchParams({ limit: "100" });
  if ($("#requests-errors").checked) params.set("status", "error");
  if (before) params.set("before", before);
  return `/requests?${params}`;
}

async function loadRequests(initial) {
  if (!initial && (requestsPaged || !$("#requests-auto").checked)) return;
  requestsPaged = false;
  const data = await api("GET", requestsQuery(null));
  const entries = data.entries || [];
  $("#requests-table tbody").replaceChildren(...entries.map(requestRow));
  $("#requests-empty").hidden = entries.length > 0;
  $("#requests-off").hidden = data.size !== 0;
  requestsOlder = data.next_before;
  $("#requests-more").hidden = !requestsOlder;
}

async function loadOlderRequests() {
  if (!requestsOlder) return;
  try {
    const data = await api("GET", requestsQuery(requestsOlder));
    requestsPaged = true;
    $("#requests-table tbody").append(...(data.entries || []).map(requestRow));
    requestsOlder = data.next_before;
    $("#requests-more").hidden = !requestsOlder;
  } catch (err) {
    if (err.status !== 401) toast(err.message, "error");
  }
}

// --- settings ---------------------------------------------------------------------------------

const SETTING_NUMBERS = ["failover_attempts", "max_concurrency", "min_interval_ms"];

async function loadSettings() {
  const s = await api("GET", "/settings");
  $("#set-thinking_suffix").value = s.thinking_suffix ?? "";
  $("#set-openai_thinking_format").value = s.openai_thinking_format ?? "reasoning_content";
  $("#set-default_model").value = s.default_model ?? "";
  $("#set-model_aliases").value = Object.entries(s.model_aliases || {}).map(([a, m]) => `${a} = ${m}`).join("\n");
  $("#set-auto_continue").checked = Boolean(s.auto_continue);
  for (const name of SETTING_NUMBERS) $(`#set-${name}`).value = s[name] ?? "";
}

function parseAliases(text) {
  const aliases = {};
  text.split("\n").forEach((line, i) => {
    const trimmed = line.trim();
    if (!trimmed) return;
    const at = trimmed.indexOf("=");
    if (at < 1 || at === trimmed.length - 1) throw new Error(`Model aliases line ${i + 1}: write it as “alias = model”.`);
    aliases[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim();
  });
  return aliases;
}

async function saveSettings(event) {
  event.preventDefault();
  const error = $("#settings-error");
  clearError(error);
  try {
    const body = {
      thinking_suffix: $("#set-thinking_suffix").value.trim(),
      openai_thinking_format: $("#set-openai_thinking_format").value,
      default_model: $("#set-default_model").value.trim(),
      model_aliases: parseAliases($("#set-model_aliases").value),
      auto_continue: $("#set-auto_continue").checked,
    };
    for (const name of SETTING_NUMBERS) {
      const value = intValue($(`#set-${name}`));
      if (value !== null) body[name] = value;
    }
    await api("PUT", "/settings", body);
    toast("Settings saved.");
    await loadSettings();
  } catch (err) {
    showError(error, err);
  }
}

// --- start ------------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  const error = $("#login-error");
  clearError(error);
  try {
    await api("POST", "/login", { password: $("#login-password").value });
    showApp();
  } catch (err) {
    showError(error, err);
    $("#login-password").select();
  }
}

async function logout() {
  try {
    await api("POST", "/logout");
  } finally {
    showLogin();
  }
}

function wire() {
  $("#login-form").addEventListener("submit", login);
  $("#logout-button").addEventListener("click", logout);
  window.addEventListener("hashchange", () => selectTab(location.hash.slice(1)));
  for (const button of $$("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  $("#add-dialog").addEventListener("close", stopDevicePoll);
  $("#add-account-button").addEventListener("click", openAdd);
  for (const tab of $$("#add-dialog [role=tab]")) tab.addEventListener("click", () => setAddMode(tab.dataset.mode));
  $("#add-form").addEventListener("submit", submitAdd);
  fileIntoTextarea($("#add-token_file"), $("#add-token_json"));
  $("#edit-form").addEventListener("submit", saveEdit);
  $("#import-button").addEventListener("click", openImport);
  $("#import-form").addEventListener("submit", submitImport);
  $("#import-file").addEventListener("change", chooseImportFile);
  $("#export-button").addEventListener("click", exportBackup);
  $("#restore-button").addEventListener("click", openRestore);
  $("#restore-form").addEventListener("submit", submitRestore);
  $("#create-key-button").addEventListener("click", openCreateKey);
  $("#key-form").addEventListener("submit", submitCreateKey);
  $("#key-copy").addEventListener("click", copyKey);
  $("#key-dialog").addEventListener("close", () => { $("#key-plain").value = ""; });
  $("#key-edit-form").addEventListener("submit", saveKeyEdit);
  $("#settings-form").addEventListener("submit", saveSettings);
  $("#requests-errors").addEventListener("change", () => refresh(true));
  $("#requests-auto").addEventListener("change", () => refresh(true));
  $("#requests-more").addEventListener("click", loadOlderRequests);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopRefresh();
    else if (!$("#app-view").hidden) { startRefresh(); refresh(false); }
  });
}

async function start() {
  wire();
  try {
    await api("GET", "/session");
    showApp();
  } catch {
    showLogin();
  }
}

document.addEventListener("DOMContentLoaded", start);
