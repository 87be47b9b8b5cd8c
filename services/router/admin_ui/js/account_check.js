// The account check: the Check button, the last-check badge of the accounts table, the details dialog.
// The router queues the check for the refresher and answers its result, or 202 while it still runs; the
// panel then polls the stored result.

import { api } from "./api.js";
import { $, h, toast } from "./dom.js";
import { fmtDateTime, fmtMs, fmtRelative } from "./format.js";

const POLL_MS = 1000;
const POLL_LIMIT_MS = 180_000;
const STEP_LABELS = { token: "Token", models: "List models", usage: "Usage limits", chat: "Chat" };
const STATUS_LABELS = { ok: "OK", failed: "Failed", skipped: "Skipped" };

// accounts whose check runs now: the table is re-rendered meanwhile and must keep showing it
const checking = new Set();

const accountName = (a) => a.label || a.email || a.id;

/** Kiro's answer as the CLI prints it: "HTTP 403 AccessDeniedException: Your account …". */
export function errorText(e) {
  const head = e.status ? `HTTP ${e.status}` : "no answer";
  const parts = [head, e.type, e.reason].filter(Boolean).join(" ");
  return e.message ? `${parts}: ${e.message}` : parts;
}

/** The "Last check" cell: a badge opening the details, and how long ago it ran. */
export function checkCell(a) {
  const last = a.last_check;
  if (!last) {
    return h("td", { class: "last-check" }, h("span", { class: "muted" }, checking.has(a.id) ? "checking…" : "never"));
  }
  const verdict = last.ok ? "OK" : "Failed";
  return h("td", { class: "last-check" },
    h("button", { type: "button", class: `badge badge-button badge-check-${last.ok ? "ok" : "failed"}`,
      onclick: () => showCheck(a, last), "aria-label": `Last check of ${accountName(a)}: ${verdict}` }, verdict),
    h("div", { class: "cell-sub" }, checking.has(a.id) ? "checking…" : fmtRelative(last.checked_at)),
  );
}

/** The row's Check button (disabled while that account's check runs). */
export function checkButton(a, reload) {
  const busy = checking.has(a.id);
  return h("button", { type: "button", class: "btn btn-sm", disabled: busy, onclick: () => runCheck(a, reload),
    "aria-label": `Check ${accountName(a)}` }, busy ? "Checking…" : "Check");
}

async function runCheck(a, reload) {
  const previous = a.last_check ? a.last_check.checked_at : 0;
  checking.add(a.id);
  await reload();
  try {
    let result = await api("POST", `/accounts/${encodeURIComponent(a.id)}/check`);
    if (result && result.queued) {
      toast("The check is still running; its result opens here when it is done.");
      result = await storedResultAfter(a.id, previous);
    }
    if (result) showCheck(a, result);
  } catch (err) {
    toast(err.message, "error");
  } finally {
    checking.delete(a.id);
    await reload();
  }
}

async function storedResultAfter(accountId, previous) {
  const deadline = Date.now() + POLL_LIMIT_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      const stored = await api("GET", `/accounts/${encodeURIComponent(accountId)}/check`);
      if (stored.checked_at > previous) return stored;
    } catch (err) {
      if (err.status !== 404) throw err;
    }
  }
  toast("The check has not finished after 3 minutes: is the refresher running?", "error");
  return null;
}

function attemptItem(attempt) {
  const where = `${attempt.endpoint} (origin ${attempt.origin}, ${attempt.host})`;
  const said = attempt.error ? errorText(attempt.error) : `answered “${attempt.answer || ""}”`;
  return h("li", { class: attempt.status === "ok" ? "" : "check-error" },
    `${where}: ${STATUS_LABELS[attempt.status] || attempt.status}, ${fmtMs(attempt.latency_ms)} — ${said}`);
}

function stepRow(step) {
  const details = [h("div", {}, step.detail || "")];
  if (step.error && !step.attempts) details.push(h("div", { class: "check-error" }, `Kiro said: ${errorText(step.error)}`));
  if (step.attempts && step.attempts.length) details.push(h("ul", { class: "check-attempts" }, step.attempts.map(attemptItem)));
  return h("tr", { "data-step": step.name },
    h("td", {}, STEP_LABELS[step.name] || step.name),
    h("td", {}, h("span", { class: `badge badge-check-${step.status}` }, STATUS_LABELS[step.status] || step.status)),
    h("td", { class: "num" }, step.status === "skipped" ? "—" : fmtMs(step.latency_ms)),
    h("td", {}, details),
  );
}

/** The details dialog of one check result. */
export function showCheck(a, result) {
  $("#check-title").textContent = `Check of ${accountName(a)}`;
  const when = fmtDateTime(result.checked_at);
  $("#check-summary").replaceChildren(
    h("span", { class: `badge badge-check-${result.ok ? "ok" : "failed"}` }, result.ok ? "OK" : "Failed"),
    ` ran ${when}, took ${fmtMs(result.duration_ms)}${result.source ? `, from ${result.source}` : ""}`,
  );
  $("#check-steps tbody").replaceChildren(...result.steps.map(stepRow));
  const dialog = $("#check-dialog");
  if (!dialog.open) dialog.showModal();
}
