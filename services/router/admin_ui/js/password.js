// The admin password dialog: the current password and the new one twice. The router judges the new
// password's length (one rule, the one production applies to ADMIN_PASSWORD) and ends every other session.

import { api } from "./api.js";
import { $, clearError, showError, toast } from "./dom.js";

function openPasswordDialog() {
  $("#password-form").reset();
  clearError($("#password-error"));
  $("#password-dialog").showModal();
}

async function changePassword(event) {
  event.preventDefault();
  const error = $("#password-error");
  clearError(error);
  const next = $("#password-new").value;
  if (next !== $("#password-repeat").value) {
    showError(error, "The new passwords do not match.");
    $("#password-repeat").select();
    return;
  }
  try {
    await api("POST", "/password", { current_password: $("#password-current").value, new_password: next });
  } catch (err) {
    // a session that has ended shows the login form: the dialog must not stay open over it
    if (err.status === 401) $("#password-dialog").close();
    else showError(error, err);
    return;
  }
  $("#password-dialog").close();
  toast("Password changed. Every other session was signed out.");
}

export function wirePassword() {
  $("#password-button").addEventListener("click", openPasswordDialog);
  $("#password-form").addEventListener("submit", changePassword);
  // no password stays in the page once the dialog is closed
  $("#password-dialog").addEventListener("close", () => $("#password-form").reset());
}
