// The add-account dialog: a refresh token (social, IdC, enterprise IdP), a kiro-auth-token.json file, or an
// AWS device login.

import { loadAccounts } from "./accounts.js";
import { api } from "./api.js";
import { $, $$, clearError, h, intValue, optional, parseJsonField, showError, toast } from "./dom.js";

let addMode = "social";
let devicePoll = null;

function setAddMode(mode) {
  addMode = mode;
  for (const tab of $$("#add-dialog [role=tab]")) tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
  for (const pane of $$("#add-dialog [data-pane]")) pane.hidden = !pane.dataset.pane.split(" ").includes(mode);
  $("#device-status").hidden = true;
  $("#add-submit").textContent = mode === "device" ? "Start device login" : "Add account";
  $("#add-submit").disabled = false;
  $("#add-submit").hidden = false;
  $("#add-dialog [data-close]").textContent = "Cancel";
  clearError($("#add-error"));
}

function openAdd() {
  $("#add-form").reset();
  stopDevicePoll();
  setAddMode("social");
  $("#add-dialog").showModal();
}

function addBody() {
  const common = { label: optional($("#add-label").value), proxy_url: optional($("#add-proxy_url").value) };
  const weight = intValue($("#add-weight"));
  if (weight !== null) common.weight = weight;
  if (addMode === "file") {
    const text = $("#add-token_json").value.trim();
    if (!text) throw new Error("Choose the kiro-auth-token.json file or paste its contents.");
    const body = { ...common, kiro_auth_token: parseJsonField(text, "kiro-auth-token.json") };
    const reg = $("#add-registration_json").value.trim();
    if (reg) body.client_registration = parseJsonField(reg, "The client registration");
    return body;
  }
  const body = { ...common, auth_kind: addMode, refresh_token: $("#add-refresh_token").value.trim() };
  if (addMode === "idc") {
    body.client_id = optional($("#add-client_id").value);
    body.client_secret = optional($("#add-client_secret").value);
    body.auth_region = optional($("#add-auth_region").value);
    body.start_url = optional($("#add-start_url").value);
  }
  if (addMode === "external_idp") {
    body.client_id = optional($("#add-client_id").value);
    body.token_endpoint = optional($("#add-token_endpoint").value);
    body.scopes = optional($("#add-scopes").value);
    body.profile_arn = optional($("#add-profile_arn").value);
  }
  return body;
}

async function submitAdd(event) {
  event.preventDefault();
  clearError($("#add-error"));
  if (addMode === "device") return startDeviceFlow();
  try {
    const account = await api("POST", "/accounts", addBody());
    $("#add-dialog").close();
    toast(`Account ${account.label || account.id} added.`);
    await loadAccounts();
  } catch (err) {
    showError($("#add-error"), err);
  }
}

async function startDeviceFlow() {
  const body = {
    auth_region: optional($("#add-auth_region").value),
    start_url: optional($("#add-start_url").value),
    label: optional($("#add-label").value),
  };
  $("#add-submit").disabled = true;
  try {
    const flow = await api("POST", "/accounts/device-flow", body);
    const box = $("#device-status");
    box.hidden = false;
    box.replaceChildren(
      h("p", {}, "Open the link, sign in, and confirm this code:"),
      h("div", { class: "user-code", id: "device-user-code" }, flow.user_code),
      h("p", {}, h("a", { href: flow.verification_uri_complete, target: "_blank", rel: "noopener noreferrer" },
        flow.verification_uri_complete)),
      h("p", { class: "muted", id: "device-state" }, "Waiting for you to confirm…"),
    );
    const every = Math.max(2, Number(flow.interval) || 5) * 1000;
    devicePoll = setInterval(() => pollDeviceFlow(flow.flow_id), every);
  } catch (err) {
    $("#add-submit").disabled = false;
    showError($("#add-error"), err);
  }
}

async function pollDeviceFlow(flowId) {
  try {
    const status = await api("GET", `/accounts/device-flow/${encodeURIComponent(flowId)}`);
    const line = $("#device-state");
    if (status.status === "pending") return;
    stopDevicePoll();
    $("#add-submit").disabled = false;
    if (status.status === "complete") {
      line.textContent = "Signed in. The account was added.";
      $("#add-dialog [data-close]").textContent = "Done";
      $("#add-submit").hidden = true;
      toast("Device login complete: account added.");
      await loadAccounts();
    } else {
      line.textContent = "";
      const why = { expired: "The code expired before it was confirmed.", denied: "The login was denied." };
      showError($("#add-error"), why[status.status] || status.error || "The device login failed.");
    }
  } catch (err) {
    stopDevicePoll();
    $("#add-submit").disabled = false;
    showError($("#add-error"), err);
  }
}

function stopDevicePoll() {
  if (devicePoll) clearInterval(devicePoll);
  devicePoll = null;
}

function fileIntoTextarea(input, textarea) {
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (file) textarea.value = await file.text();
  });
}

export function wireAddAccount() {
  $("#add-dialog").addEventListener("close", stopDevicePoll);
  $("#add-account-button").addEventListener("click", openAdd);
  for (const tab of $$("#add-dialog [role=tab]")) tab.addEventListener("click", () => setAddMode(tab.dataset.mode));
  $("#add-form").addEventListener("submit", submitAdd);
  fileIntoTextarea($("#add-token_file"), $("#add-token_json"));
}
