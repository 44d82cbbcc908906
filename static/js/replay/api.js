// The auditor API as the replay page uses it. The auditor key is kept in this tab's
// sessionStorage only and never put in a URL; recordings and the export are fetched with a
// short-lived playback grant instead (a <video> element cannot send headers).

const KEY_STORAGE = "shouzhen.auditorKey";
const TIMEOUT_MS = 60000; // verification hashes every file of a consult

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status === 0 ? "network" : "http_error");
    this.detail = problem.detail || (status === 0 ? "network" : `HTTP ${status}`);
  }
}

export function auditorKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setAuditorKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

async function send(method, path, { accept = "application/json" } = {}) {
  const key = auditorKey();
  if (!key) throw new ApiError(401, { code: "no_key" });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
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

export async function request(method, path) {
  const response = await send(method, path);
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

/** An image the photo API serves (auditor keys accepted there) as an object URL. */
export async function imageUrl(path) {
  const response = await send("GET", path, { accept: "image/*" });
  if (!response.ok) throw new ApiError(response.status);
  return URL.createObjectURL(await response.blob());
}

export function listConsults(filters) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) {
    if (value !== "" && value !== null && value !== undefined) query.set(name, value);
  }
  return request("GET", `/api/replay/consults?${query}`);
}

const base = (id) => `/api/replay/consults/${encodeURIComponent(id)}`;
export const getConsult = (id) => request("GET", base(id));
export const grantPlayback = (id) => request("POST", `${base(id)}/playback`);
export const verifyConsult = (id) => request("POST", `${base(id)}/verify`);
