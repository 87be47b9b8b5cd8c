// The admin API client: every call the panel makes goes through `api`.

const API = "/admin/api";

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// what to do when the session has ended (set by main.js: show the login form)
let onUnauthorized = () => {};

export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

function errorMessage(status, body) {
  if (body && typeof body === "object") {
    const detail = body.detail ?? body.error ?? body.message;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const where = (d.loc || []).filter((p) => p !== "body").join(".");
        return where ? `${where}: ${d.msg}` : d.msg;
      }).join("\n");
    }
    if (detail && typeof detail === "object" && detail.message) return detail.message;
  }
  return `Request failed (HTTP ${status})`;
}

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { "X-Requested-With": "kiro-stack-admin" } };
  if (body instanceof Blob) {
    init.headers["Content-Type"] = "application/octet-stream";
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${API}${path}`, init);
  } catch (err) {
    throw new ApiError(0, "The router does not answer. Check that it is running.");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (response.status === 401 && path !== "/login") {
    onUnauthorized();
    throw new ApiError(401, "Your session has ended. Sign in again.");
  }
  if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, data));
  return data;
}
