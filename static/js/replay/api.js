// The auditor API as the replay page uses it. The auditor key is kept in this tab's
// sessionStorage only and never put in a URL; recordings and the export are fetched with a
// short-lived playback grant instead (a <video> element cannot send headers).

import { ApiError, keyStore, readJson, send as sendWithKey } from "../staff-api.js";

export { ApiError };
const TIMEOUT_MS = 60000; // verification hashes every file of a consult
const store = keyStore("shouzhen.auditorKey");
export const auditorKey = store.get;
export const setAuditorKey = store.set;

function send(method, path, { accept = "application/json" } = {}) {
  return sendWithKey(auditorKey(), method, path, { accept, timeoutMs: TIMEOUT_MS });
}

export async function request(method, path) {
  return readJson(await send(method, path));
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
