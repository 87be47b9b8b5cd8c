// Import (kiro-cli config.json or database), backup export and restore of the accounts.

import { loadAccounts } from "./accounts.js";
import { api } from "./api.js";
import { $, clearError, h, parseJsonField, showError, toast } from "./dom.js";

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
    carried(report),
  ];
  box.replaceChildren(...parts.filter(Boolean)); // an empty list is null, which would print as "null"
}

// what a kiro-go import carried besides accounts: its settings and its clients' key (never the key)
function carried(report) {
  const settings = Object.entries(report.settings || {});
  const keys = report.client_keys || {};
  const lines = [];
  const shown = (v) => (typeof v === "object" ? Object.entries(v).map(([a, b]) => `${a} → ${b}`).join(", ") : v);
  if (settings.length) lines.push(`Settings applied: ${settings.map(([k, v]) => `${k} = ${shown(v)}`).join(", ")}.`);
  if (keys.created || keys.existing) {
    const made = `${keys.created} client key${keys.created === 1 ? "" : "s"} created`;
    lines.push(`${made}${keys.existing ? ` (${keys.existing} already there)` : ""}: its clients keep their key.`);
  }
  return lines.length ? h("div", { class: "report-carried" }, lines.map((line) => h("p", {}, line))) : null;
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

export function wireBackup() {
  $("#import-button").addEventListener("click", openImport);
  $("#import-form").addEventListener("submit", submitImport);
  $("#import-file").addEventListener("change", chooseImportFile);
  $("#export-button").addEventListener("click", exportBackup);
  $("#restore-button").addEventListener("click", openRestore);
  $("#restore-form").addEventListener("submit", submitRestore);
}
