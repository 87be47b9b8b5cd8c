// The dashboard tab: pool states, totals and per-key usage.

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { STATES, STATE_LABELS, fmtCredits, fmtNum } from "./format.js";
import { loadPoolRunway } from "./runway.js";

function statCard(value, label, cls = "") {
  return h("div", { class: `stat ${cls}` }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}

export async function loadDashboard() {
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
  await loadPoolRunway();
}
