// The dashboard tab: pool states, today's totals, the last days per account or key, all-time totals.

import { api } from "./api.js";
import { OTHER_COLOUR, PALETTE, stackedBars } from "./chart.js";
import { $, $$, h } from "./dom.js";
import { STATES, STATE_LABELS, fmtCredits, fmtNum } from "./format.js";
import { loadPoolRunway } from "./runway.js";

// what the history shows, chosen with the pickers and kept across the tab's refreshes
const view = { days: 7, by: "account" };
let loads = 0; // an answer to an older load (made before another pick) is dropped
let drawn = ""; // the history on screen: the same figures are not redrawn, so a hovered bar keeps its readout
// The history costs the router (accounts or keys) × (days + 1) Redis reads: it is read again when the tab
// opens, on a pick, and once a minute; the tab's 5 s refresh in between reads today's figures only.
const HISTORY_MS = 60_000;
let historyAt = -Infinity;

function statCard(value, label, cls = "") {
  return h("div", { class: `stat ${cls}` }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}

function counterCards(t = {}) {
  return [
    statCard(fmtNum(t.requests), "Requests"),
    statCard(fmtNum(t.errors), "Errors"),
    statCard(fmtNum(t.input_tokens), "Input tokens"),
    statCard(fmtNum(t.output_tokens), "Output tokens"),
    statCard(fmtCredits(t.credits), "Credits"),
  ];
}

const spanTotal = (s, name) => s.days.reduce((sum, d) => sum + d[name], 0);

/** The series worth a colour: those with traffic in the span, the busiest first past the palette's size,
 * the rest added up as "Other". */
function chartSeries(series) {
  let shown = series.filter((s) => spanTotal(s, "requests") > 0 || spanTotal(s, "credits") > 0);
  let rest = [];
  if (shown.length > PALETTE.length) {
    shown = [...shown].sort((a, b) => spanTotal(b, "requests") - spanTotal(a, "requests"));
    rest = shown.splice(PALETTE.length - 1);
  }
  const out = shown.map((s, i) => ({ name: s.name, colour: PALETTE[i], days: s.days }));
  if (rest.length) {
    const days = rest[0].days.map((d, i) => ({
      requests: rest.reduce((sum, s) => sum + s.days[i].requests, 0),
      credits: rest.reduce((sum, s) => sum + s.days[i].credits, 0),
    }));
    out.push({ name: `Other (${rest.length})`, colour: OTHER_COLOUR, days });
  }
  return out;
}

function showHistory(stats) {
  const figures = JSON.stringify([view, stats.series, stats.all_time]);
  if (figures === drawn) return;
  drawn = figures;
  const days = (stats.day_totals || []).map((d) => d.day);
  const series = chartSeries(stats.series || []);
  const what = view.by === "key" ? "client key" : "account";
  const span = view.days === 1 ? "today" : `the last ${view.days} days`;
  const none = (stats.series || []).length ? null : view.by === "key" ? "No client keys yet." : "No accounts yet.";
  stackedBars($("#chart-requests"), {
    title: `Requests per day by ${what}, ${span}`, days, unit: "requests", format: fmtNum, integer: true,
    series: series.map((s) => ({ ...s, values: s.days.map((d) => d.requests) })),
    empty: none || `No requests ${span}.`,
  });
  stackedBars($("#chart-credits"), {
    title: `Credits per day by ${what}, ${span}`, days, unit: "credits", format: fmtCredits,
    series: series.map((s) => ({ ...s, values: s.days.map((d) => d.credits) })),
    empty: none || `No credits used ${span}.`,
  });
  $("#all-time-cards").replaceChildren(...counterCards(stats.all_time));
  $("#all-time-table th.entity").textContent = view.by === "key" ? "Key" : "Account";
  const rows = (stats.series || []).map((s) => h("tr", {},
    h("td", {}, s.name),
    h("td", { class: "num" }, fmtNum(s.all_time.requests)),
    h("td", { class: "num" }, fmtNum(s.all_time.errors)),
    h("td", { class: "num" }, fmtNum(s.all_time.input_tokens)),
    h("td", { class: "num" }, fmtNum(s.all_time.output_tokens)),
    h("td", { class: "num" }, fmtCredits(s.all_time.credits)),
  ));
  $("#all-time-table tbody").replaceChildren(...(rows.length ? rows
    : [h("tr", {}, h("td", { colspan: 6, class: "empty" }, none))]));
}

/** Reload the dashboard; `initial` (the tab opened or a pick changed) reads the history again too. */
export async function loadDashboard(initial = false) {
  const load = ++loads;
  if (initial) historyAt = -Infinity; // until an answer with the history is shown, every load asks for it
  const withHistory = Date.now() - historyAt >= HISTORY_MS;
  const stats = await api("GET", `/stats?days=${withHistory ? view.days : 1}&by=${view.by}`);
  if (load !== loads) return;
  const pool = stats.pool || {};
  $("#pool-cards").replaceChildren(
    statCard(fmtNum(pool.total ?? 0), "Accounts"),
    ...STATES.map((s) => statCard(fmtNum(pool[s] ?? 0), STATE_LABELS[s], `s-${s}`)),
  );
  $("#total-cards").replaceChildren(...counterCards(stats.totals));
  if (withHistory) {
    historyAt = Date.now();
    showHistory(stats);
  }
  const rows = (stats.keys || []).map((k) => h("tr", {},
    h("td", {}, k.name || k.id),
    h("td", { class: "num" }, fmtNum(k.requests)),
    h("td", { class: "num" }, fmtNum(k.tokens)),
    h("td", { class: "num" }, fmtNum(k.errors)),
  ));
  $("#key-stats-table tbody").replaceChildren(...(rows.length ? rows
    : [h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No client keys yet."))]));
  await loadPoolRunway();
}

function showPicks() {
  for (const button of $$("#history-days button")) {
    button.setAttribute("aria-pressed", String(Number(button.value) === view.days));
  }
  for (const button of $$("#history-by button")) button.setAttribute("aria-pressed", String(button.value === view.by));
}

/** The pickers of the history: `reload` loads the tab again with the new choice. */
export function wireDashboard(reload) {
  for (const button of $$("#history-days button, #history-by button")) {
    button.addEventListener("click", () => {
      if (button.closest("#history-days")) view.days = Number(button.value);
      else view.by = button.value;
      showPicks();
      reload();
    });
  }
  showPicks();
}
