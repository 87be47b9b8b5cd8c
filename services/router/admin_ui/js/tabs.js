// Which view is shown (login or app, and which tab), and the timer that keeps the tab fresh.

import { loadAccounts } from "./accounts.js";
import { loadDashboard } from "./dashboard.js";
import { $, $$, toast } from "./dom.js";
import { loadKeys } from "./keys.js";
import { loadRequests } from "./requests.js";
import { loadSettings } from "./settings.js";

const REFRESH_MS = 5000;
const TABS = ["dashboard", "accounts", "keys", "requests", "settings"];

let refreshTimer = null;
let currentTab = "dashboard";

export function showLogin() {
  stopRefresh();
  $("#app-view").hidden = true;
  $("#login-view").hidden = false;
  $("#login-password").value = "";
  $("#login-password").focus();
}

export function showApp() {
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  selectTab(location.hash.slice(1) || "dashboard");
  startRefresh();
}

function selectTab(tab) {
  if (!TABS.includes(tab)) tab = "dashboard";
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

/** Reload the shown tab; `initial` when it was just opened or its filters changed. */
export async function refresh(initial) {
  if ($("#app-view").hidden) return;
  try {
    if (currentTab === "dashboard") await loadDashboard(initial);
    else if (currentTab === "accounts") await loadAccounts();
    else if (currentTab === "keys") await loadKeys();
    else if (currentTab === "requests") await loadRequests(initial);
    else if (currentTab === "settings" && initial) await loadSettings();
    $("#refresh-indicator").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err.status !== 401) toast(err.message, "error");
  }
}

export function wireTabs() {
  window.addEventListener("hashchange", () => selectTab(location.hash.slice(1)));
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopRefresh();
    else if (!$("#app-view").hidden) { startRefresh(); refresh(false); }
  });
}
