// Delivery of events to hospital systems (server/events/event_delivery.py): targets, recent
// events with each target's state, and a retry button for what is not yet acknowledged.
import { t } from "../i18n.js";
import { el, fmt, table, when } from "./tables.js";

function statusText(status, overdue) {
  const text = t(`admin.status.${status}`);
  if (overdue) return el("span", { class: "warn", text: `${text} · ${t("admin.events.overdue")}` });
  return el("span", { class: status === "delivered" ? "ok" : "", text });
}

export function renderTargets(targets) {
  return table([
    { label: "admin.col.target", value: (r) => r.target, cls: "mono" },
    { label: "admin.col.configured", value: (r) => r.configured },
    { label: "admin.status.pending", value: (r) => r.pending, num: true },
    { label: "admin.status.retrying", value: (r) => r.retrying, num: true },
    { label: "admin.status.delivered", value: (r) => r.delivered, num: true },
    { label: "admin.col.overdue", value: (r) => r.overdue ? el("span", { class: "warn", text: String(r.overdue) }) : "0", num: true },
    { label: "admin.col.oldest", value: (r) => when(r.oldest_undelivered_at) },
  ], targets);
}

export function renderEvents(events, onRetry) {
  const rows = events.flatMap((event) => (event.deliveries.length ? event.deliveries : [null])
    .map((delivery, i) => ({ event, delivery, first: i === 0 })));
  return table([
    { label: "admin.col.created_at", value: (r) => (r.first ? when(r.event.created_at) : "") },
    { label: "admin.col.type", value: (r) => (r.first ? r.event.type : "") },
    { label: "admin.col.consult", value: (r) => (r.first ? fmt(r.event.consult_id) : ""), cls: "mono" },
    { label: "admin.col.target", value: (r) => fmt(r.delivery?.target), cls: "mono" },
    { label: "admin.col.status", value: (r) => statusText(r.delivery?.status || r.event.status, r.delivery?.overdue) },
    { label: "admin.col.attempts", value: (r) => fmt(r.delivery?.attempts), num: true },
    { label: "admin.col.next_attempt", value: (r) => when(r.delivery?.next_attempt_at) },
    { label: "admin.col.last_error", value: (r) => fmt(r.delivery?.last_error) },
    {
      label: "admin.col.action",
      value: (r) => (r.first && r.event.status !== "delivered" && r.event.deliveries.length
        ? el("button", { class: "small", type: "button", text: t("admin.events.retry"), onclick: () => onRetry(r.event.event_id) })
        : ""),
    },
  ], rows, "admin.events.none");
}
