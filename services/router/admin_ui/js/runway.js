// Credit runway (GET /admin/api/runway, and `runway` on each account): the accounts table's Runway cell and
// the dashboard's pool runway card. Warned when the credits run out within 3 days, before the reset.

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { fmtCredits } from "./format.js";

const SOON_DAYS = 3;

const soon = (r) => r.runs_out_before_reset && r.days_left !== null && r.days_left < SOON_DAYS;

const burnText = (r) => (r.burn_per_day ? `${fmtCredits(r.burn_per_day)} credits/day` : "");

export function runwayCell(a) {
  const r = a.runway;
  if (!r) return h("td", { class: "runway" }, "—");
  return h("td", { class: soon(r) ? "runway runway-soon" : "runway" },
    h("div", { class: "small runway-text" }, r.text),
    h("div", { class: "cell-sub" }, burnText(r)),
  );
}

export async function loadPoolRunway() {
  const r = (await api("GET", "/runway")).pool;
  const days = r.days_left === null ? "—" : `${fmtCredits(r.days_left)} days`;
  const left = r.limit ? `${fmtCredits(r.remaining)} of ${fmtCredits(r.limit)} left` : "";
  $("#pool-runway").replaceChildren(
    h("div", { class: soon(r) ? "stat runway-soon" : "stat" },
      h("div", { class: "value" }, days),
      h("div", { class: "label" }, "Pool runway"),
      h("div", { class: "cell-sub runway-text" }, r.text),
      h("div", { class: "cell-sub" }, [burnText(r), left].filter(Boolean).join(" · ")),
    ),
  );
}
