// The staff API as the admin page uses it (the admin key, see ../staff-api.js).

import { ApiError, keyStore, readJson, send } from "../staff-api.js";

export { ApiError };
const store = keyStore("shouzhen.adminKey");
export const adminKey = store.get;
export const setAdminKey = store.set;

export async function request(method, path) {
  return readJson(await send(adminKey(), method, path));
}

export const getReport = (from, to) =>
  request("GET", `/api/reports/quality?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
export const getEvents = (status) =>
  request("GET", `/api/events?limit=50${status ? `&status=${encodeURIComponent(status)}` : ""}`);
export const getTargets = () => request("GET", "/api/event-targets");
export const retryEvent = (eventId) =>
  request("POST", `/api/events/${encodeURIComponent(eventId)}/retry`);
