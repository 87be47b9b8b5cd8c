// Stacked bar charts drawn as inline SVG: one bar per day, one coloured segment per series.
// Every value enters the chart as text or a number attribute, never as markup.

import { h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 640;
const H = 220;
const PAD = { left: 48, right: 8, top: 12, bottom: 26 };
const MAX_BAR = 48;

/** Fixed series colours (Tableau 10); the grey is kept for "Other". */
export const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f"];
export const OTHER_COLOUR = "#bab0ac";

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 2 });

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

/** The day label under a bar: "Dec 5" in the reader's language (the days are UTC days). */
function dayLabel(day) {
  const options = { month: "short", day: "numeric", timeZone: "UTC" };
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, options);
}

/** A round step for about `count` ticks up to `max` (1, 2 or 5 times a power of ten). */
function tickStep(max, count, integer) {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
  return integer ? Math.max(1, Math.round(step)) : step;
}

function legend(series) {
  return h("ul", { class: "chart-legend" }, series.map((s) => h("li", {},
    swatch(s.colour),
    h("span", {}, s.name),
  )));
}

function swatch(colour) {
  const box = svg("svg", { width: 10, height: 10, viewBox: "0 0 10 10", "aria-hidden": "true" });
  box.append(svg("rect", { width: 10, height: 10, rx: 2, fill: colour }));
  return box;
}

/**
 * Draw `series` ([{name, colour, values}], one value per day of `days`) stacked per day into `host`.
 * `unit` names the values in hover texts ("requests"), `format` writes one value, `integer` keeps the
 * axis on whole numbers; `empty` is shown instead of the chart when every value is zero.
 */
export function stackedBars(host, { title, days, series, unit, format, integer = false, empty }) {
  const totals = days.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const max = Math.max(0, ...totals);
  if (!series.length || max <= 0) {
    host.replaceChildren(h("p", { class: "chart-empty" }, empty));
    return;
  }
  const step = tickStep(max, 4, integer);
  const top = step * Math.ceil(max / step);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const slot = plotW / days.length;
  const barW = Math.min(MAX_BAR, Math.max(2, slot * 0.72));

  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart-svg" });
  for (let tick = 0; tick <= top + step / 2; tick += step) {
    chart.append(
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(tick), y2: y(tick), class: "chart-gridline" }),
      svg("text", { x: PAD.left - 6, y: y(tick) + 4, "text-anchor": "end", class: "chart-tick" },
        compact.format(tick)),
    );
  }
  const labelEvery = Math.ceil(days.length / 8);
  const readout = h("p", { class: "chart-readout muted small", "aria-live": "polite" }, "Hover a bar for its values.");
  days.forEach((day, i) => {
    const x = PAD.left + slot * i + (slot - barW) / 2;
    const bar = svg("g", { class: "chart-bar", "data-day": day });
    let base = 0;
    for (const s of series) {
      const value = s.values[i] || 0;
      if (value <= 0) continue;
      const text = `${day} · ${s.name}: ${format(value)} ${unit}`;
      bar.append(svg("rect", { x, y: y(base + value), width: barW, height: y(base) - y(base + value), fill: s.colour },
        svg("title", {}, text)));
      base += value;
    }
    const parts = series.filter((s) => (s.values[i] || 0) > 0).map((s) => `${s.name} ${format(s.values[i])}`);
    const summary = `${dayLabel(day)}: ${format(totals[i])} ${unit}${parts.length ? ` (${parts.join(", ")})` : ""}`;
    bar.addEventListener("pointerenter", () => { readout.textContent = summary; });
    chart.append(bar);
    if (i % labelEvery === 0) {
      chart.append(svg("text", { x: x + barW / 2, y: H - 8, "text-anchor": "middle", class: "chart-tick" },
        dayLabel(day)));
    }
  });
  chart.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), class: "chart-axis" }));
  host.replaceChildren(chart, legend(series), readout);
}
