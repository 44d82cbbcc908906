// What the staff pages (admin, auditor) share to call the API: a key kept in this tab's
// sessionStorage only (it leaves with the tab and is never put in a URL), a fetch with a
// timeout, and problem documents turned into errors.

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status === 0 ? "network" : "http_error");
    this.detail = problem.detail || (status === 0 ? "network" : `HTTP ${status}`);
  }
}

export function keyStore(storageKey) {
  return {
    get: () => sessionStorage.getItem(storageKey) || "",
    set: (key) => (key ? sessionStorage.setItem(storageKey, key) : sessionStorage.removeItem(storageKey)),
  };
}

export async function send(key, method, path, { accept = "application/json", timeoutMs = 20000 } = {}) {
  if (!key) throw new ApiError(401, { code: "no_key" });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(path, {
      method, cache: "no-store", signal: controller.signal,
      headers: { Authorization: `Bearer ${key}`, Accept: accept },
    });
  } catch {
    throw new ApiError(0);
  } finally {
    clearTimeout(timer);
  }
}

export async function readJson(response) {
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
