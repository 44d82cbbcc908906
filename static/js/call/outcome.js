// The end of the road for this page: the consult's outcome (printable for the guardian),
// or a link that cannot be used, said plainly with what to do next.
import { show } from "./screens.js";
import { renderSummary } from "./summary.js";
import { el, setText } from "./text.js";

const $ = (id) => document.getElementById(id);
const OUTCOMES = new Set(["completed", "referred", "aborted"]);

function item(labelKey, ...value) {
  return [el("dt", { text: labelKey }), el("dd", {}, ...value)];
}

const pair = (value) => el("span", { text: "call.value", vars: { value } });

/** Where to go, how urgently, and the number to show there; the number first and big. */
function renderReferral(referral) {
  const parts = [];
  if (referral.reference_number) {
    parts.push(el("div", { class: "reference-block" },
      el("p", { class: "reference-label", text: "call.ended.referral.reference" }),
      el("p", { class: "reference", id: "reference-number" }, referral.reference_number)));
  }
  const list = el("dl", { class: "summary outcome-detail" });
  list.append(
    ...item("call.ended.referral.department", el("strong", {}, pair(referral.department_name)),
      referral.hospital ? ` · ${referral.hospital}` : ""),
    ...item("call.ended.referral.urgency", el("strong", { class: `urgency urgency-${referral.urgency}` }, pair(referral.urgency_name))));
  if (referral.instructions) list.append(...item("call.ended.referral.instructions", el("span", { class: "instructions" }, referral.instructions)));
  if (referral.suggested_examinations?.length) {
    list.append(...item("call.ended.referral.examinations", referral.suggested_examinations.join(" / ")));
  }
  list.append(...item("call.ended.referral.reason", pair(referral.reason_name),
    referral.reason_text ? ` · ${referral.reason_text}` : ""));
  parts.push(list);
  return parts;
}

function renderPrescription(items) {
  return el("div", {},
    el("ol", { class: "rx-list" }, items.map((rx) => el("li", {},
      el("strong", {}, rx.drug), ` ${rx.strength} · `,
      el("span", { text: "call.ended.rx_line", vars: {
        dose: rx.dose, route: { key: `call.rx.route.${rx.route}` }, frequency: rx.frequency,
        days: rx.duration_days, quantity: rx.quantity } })))),
    el("p", { class: "muted small", text: "call.ended.prescription_review", vars: { n: items.length } }));
}

/** What the family takes away: diagnosis and advice, or where to go and how urgently. */
function renderDetail(detail) {
  if (!detail) return [];
  const out = [];
  if (detail.referral) out.push(...renderReferral(detail.referral));
  const list = el("dl", { class: "summary outcome-detail" });
  const text = (key, value) => value && list.append(...item(key, value));
  text("call.ended.diagnosis", detail.diagnosis);
  text("call.ended.advice", detail.advice);
  text("call.ended.follow_up", typeof detail.follow_up === "string" && detail.outcome !== "aborted" ? detail.follow_up : "");
  if (detail.prescription?.length) list.append(...item("call.ended.prescription", renderPrescription(detail.prescription)));
  // The server stops a call whose physician was suspended or revoked: say it was not the family.
  if (detail.outcome === "aborted" && detail.reason === "physician_unavailable") {
    list.append(...item("call.ended.abort_reason", el("span", { text: "call.ended.abort_reason.physician_unavailable" })));
  }
  if (detail.outcome === "aborted" && detail.follow_up === "reschedule") {
    list.append(...item("call.ended.follow_up", el("span", { text: "call.ended.reschedule" })));
  }
  if (list.childElementCount) out.push(list);
  return out;
}

/** The outcome screen; the guardian is addressed as the family, the physician plainly. */
export function showEnded(consult, outcome, role = "guardian") {
  const code = OUTCOMES.has(outcome) ? outcome : "unknown";
  const detail = consult?.outcome_detail || null;
  // An emergency comes before everything else on the page, in words nobody can miss.
  const emergency = detail?.referral?.urgency === "emergency";
  $("ended-emergency").hidden = !emergency;
  setText($("ended-outcome"), role === "physician" ? `call.outcome.recorded.${code}` : `call.outcome.${code}`);
  $("ended-outcome").dataset.outcome = code;
  if (consult) renderSummary($("ended-summary"), consult);
  $("ended-referral").replaceChildren(...renderDetail(detail));
  $("print-button").onclick = () => window.print();
  show("ended");
}

// API problem codes and Socket.IO refusal codes → what the guardian reads.
const DEAD_REASONS = {
  no_token: "no_token",
  unauthenticated: "invalid",
  forbidden: "invalid",
  not_found: "invalid",
  consult_not_found: "invalid",
  consult_closed: "closed",
  cancelled: "cancelled",
  no_show: "no_show",
  physician_not_whitelisted: "physician",
  network: "network",
  socket: "network",
};

/** @param {string} reason a key of DEAD_REASONS, or "expired" */
export function showDead(reason, detail = "") {
  const kind = reason === "expired" ? "expired" : DEAD_REASONS[reason] || "error";
  setText($("dead-title"), `call.dead.${kind}.title`);
  setText($("dead-text"), `call.dead.${kind}.text`);
  // The server's own words (English), for the hospital's support desk.
  if (detail) setText($("dead-detail"), "call.dead.detail", { detail });
  $("dead-detail").hidden = !detail;
  $("dead-help").hidden = kind === "network";
  $("dead-retry").hidden = kind !== "network";
  $("dead-retry").onclick = () => location.reload();
  show("dead");
}

/** A failed API call before the consult could be shown. */
export function showDeadForApiError(error) {
  if (error.status === 401 && /expired/i.test(error.detail)) showDead("expired", error.detail);
  else if (error.status === 0) showDead("network");
  else showDead(error.code in DEAD_REASONS ? error.code : "error", error.detail);
}
