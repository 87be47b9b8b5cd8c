// The request log tab: the latest requests, newest first, with older pages on demand.

import { api } from "./api.js";
import { $, h, toast } from "./dom.js";
import { fmtCredits, fmtMs, fmtNum } from "./format.js";

const OUTCOME_LABELS = {
  served: "Served", error: "Error", cut: "Cut", disconnected: "Disconnected", failed_over: "Failed over",
  refused: "Refused",
};
const OUTCOME_BADGES = { served: "badge-active", disconnected: "badge-pending" };
let requestsOlder = null; // `next_before` of the last page shown
let requestsPaged = false; // older pages are shown: auto refresh would drop them

function trailList(tried) {
  if (!tried.length) return null;
  return h("div", { class: "cell-sub trail" }, "failed over: ",
    tried.flatMap((t, i) => [i ? " → " : "", h("span", { class: "mono" }, t.account), ` (${t.reason})`]));
}

// the model asked for, and the one that served it when the gateway mapped it to another
function modelCell(r) {
  if (!r.served_model || r.served_model === r.model) return r.model || "—";
  return h("span", { class: "model-mapped", title: "asked for → served by" }, `${r.model || "—"} → ${r.served_model}`);
}

function requestRow(r) {
  const when = new Date(r.at * 1000);
  const outcome = h("span", { class: `badge ${OUTCOME_BADGES[r.outcome] || "badge-disabled"}` },
    OUTCOME_LABELS[r.outcome] || r.outcome);
  return h("tr", { "data-request-id": r.request_id, class: `outcome-${r.outcome}` },
    h("td", { title: when.toLocaleString() }, when.toLocaleTimeString(),
      h("div", { class: "cell-sub mono" }, r.request_id)),
    h("td", {}, r.key || h("span", { class: "muted" }, "—")),
    h("td", {}, r.route, h("div", { class: "cell-sub" }, modelCell(r))),
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

export async function loadRequests(initial) {
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

export function wireRequests(reload) {
  $("#requests-errors").addEventListener("change", reload);
  $("#requests-auto").addEventListener("change", reload);
  $("#requests-more").addEventListener("click", loadOlderRequests);
}
