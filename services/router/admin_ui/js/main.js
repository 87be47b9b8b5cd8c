// Kiro Stack admin panel: plain DOM, no framework, no build step. Data only ever enters the page as text.
// This module signs in and out and wires every view's controls; each tab lives in its own module.

import { wireAccounts } from "./accounts.js";
import { wireAddAccount } from "./add_account.js";
import { api, whenUnauthorized } from "./api.js";
import { wireBackup } from "./backup.js";
import { wireDashboard } from "./dashboard.js";
import { $, $$, clearError, showError } from "./dom.js";
import { wireKeys } from "./keys.js";
import { wirePassword } from "./password.js";
import { wireRequests } from "./requests.js";
import { wireSettings } from "./settings.js";
import { refresh, showApp, showLogin, wireTabs } from "./tabs.js";

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
  whenUnauthorized(showLogin);
  $("#login-form").addEventListener("submit", login);
  $("#logout-button").addEventListener("click", logout);
  for (const button of $$("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  wireTabs();
  wireDashboard(() => refresh(true));
  wireAddAccount();
  wireAccounts();
  wireBackup();
  wireKeys();
  wirePassword();
  wireSettings();
  wireRequests(() => refresh(true));
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
