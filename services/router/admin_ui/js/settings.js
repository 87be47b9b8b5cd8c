// The settings tab: the runtime options the settings API reports, edited and saved.

import { api } from "./api.js";
import { $, clearError, h, intValue, showError, toast } from "./dom.js";

const SETTING_NUMBERS = ["failover_attempts", "max_concurrency", "min_interval_ms"];
// what the API reported last: its values, and the defaults an emptied field goes back to
let shown = { defaults: {} };

export async function loadSettings() {
  // every value comes from the API (stored, else the one set of defaults in shared/runtime_options.py)
  const s = shown = await api("GET", "/settings");
  $("#set-thinking_suffix").value = s.thinking_suffix;
  $("#set-openai_thinking_format").value = s.openai_thinking_format;
  $("#set-claude_thinking_format").value = s.claude_thinking_format;
  $("#set-default_model").value = s.default_model;
  $("#set-model_aliases").value = pairsText(s.model_aliases);
  $("#set-auto_continue").checked = Boolean(s.auto_continue);
  $("#set-endpoint_order").value = s.endpoint_order;
  $("#set-endpoint_origins").value = pairsText(s.endpoint_origins);
  for (const name of SETTING_NUMBERS) $(`#set-${name}`).value = s[name];
  showBuiltInAliases(s.built_in_aliases || []);
  setLoaded(true);
}

// until the stored values are in, the form is read-only: a choice made earlier would be overwritten by
// them, and a save would store the page's placeholders
function setLoaded(loaded) {
  const form = $("#settings-form");
  form.setAttribute("aria-busy", String(!loaded));
  for (const control of form.elements) control.disabled = !loaded;
}

// the built-in table of retired model names (read-only), and the operator aliases that replace an entry
function showBuiltInAliases(entries) {
  $("#builtin-aliases tbody").replaceChildren(...entries.map((e) => {
    const overrides = Object.entries(e.overridden_by || {});
    // an alias of the name as listed replaces the entry for every spelling; one of a single spelling
    // (say, with a date) for that spelling only
    const replaced = overrides.some(([alias]) => alias === e.name);
    return h("tr", { "data-name": e.name, class: replaced ? "overridden" : null },
      h("td", { class: "mono" }, e.name),
      h("td", { class: "mono" }, e.model),
      h("td", {}, overrides.length
        ? overrides.flatMap(([alias, model], i) => [i ? ", " : "", h("span", { class: "mono" }, `${alias} = ${model}`)])
        : h("span", { class: "muted" }, "—")));
  }));
}

function pairsText(pairs) {
  return Object.entries(pairs || {}).map(([name, value]) => `${name} = ${value}`).join("\n");
}

// "name = value" lines → {name: value}; `field` and `shape` name the field in the error message
function parsePairs(text, field, shape) {
  const pairs = {};
  text.split("\n").forEach((line, i) => {
    const trimmed = line.trim();
    if (!trimmed) return;
    const at = trimmed.indexOf("=");
    if (at < 1 || at === trimmed.length - 1) throw new Error(`${field} line ${i + 1}: write it as “${shape}”.`);
    pairs[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim();
  });
  return pairs;
}

async function saveSettings(event) {
  event.preventDefault();
  const error = $("#settings-error");
  clearError(error);
  try {
    const body = {
      thinking_suffix: $("#set-thinking_suffix").value.trim(),
      openai_thinking_format: $("#set-openai_thinking_format").value,
      claude_thinking_format: $("#set-claude_thinking_format").value,
      default_model: $("#set-default_model").value.trim(),
      model_aliases: parsePairs($("#set-model_aliases").value, "Model aliases", "alias = model"),
      auto_continue: $("#set-auto_continue").checked,
      endpoint_order: $("#set-endpoint_order").value.trim() || shown.defaults.endpoint_order,
      endpoint_origins: parsePairs($("#set-endpoint_origins").value, "Endpoint origins", "endpoint = origin"),
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

export function wireSettings() {
  setLoaded(false);
  $("#settings-form").addEventListener("submit", saveSettings);
}
