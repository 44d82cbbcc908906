// The staff API as the admin page uses it. The admin key is kept in sessionStorage only:
// it leaves with the tab, and is never put in a URL.

const KEY_STORAGE = "shouzhen.adminKey";
const TIMEOUT_MS = 20000;

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status === 0 ? "network" : "http_error");
    this.detail = problem.detail || (status === 0 ? "network" : `HTTP ${status}`);
  }
}

export function adminKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setAdminKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

export async function request(method, path) {
  const key = adminKey();
  if (!key) throw new ApiError(401, { code: "no_key" });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method, cache: "no-store", signal: controller.signal,
      headers: { Authorization: `Bearer ${key}`, Accept: "application/json" },
    });
  } catch {
    throw new ApiError(0);
  } finally {
    clearTimeout(timer);
  }
  const text = await response.text();
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export const getReport = (from, to) =>
  request("GET", `/api/reports/quality?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
export const getEvents = (status) =>
  request("GET", `/api/events?limit=50${status ? `&status=${encodeURIComponent(status)}` : ""}`);
export const getTargets = () => request("GET", "/api/event-targets");
export const retryEvent = (eventId) =>
  request("POST", `/api/events/${encodeURIComponent(eventId)}/retry`);
