// The quality and safety report (server/records/quality_report.py) as tables.
import { t } from "../i18n.js";
import { el, minutes, named, percent, table, when } from "./tables.js";

const OUTCOME_COLUMNS = [
  { label: "admin.col.consults", value: (r) => r.consults, num: true },
  { label: "admin.col.completed", value: (r) => r.completed, num: true },
  { label: "admin.col.referred", value: (r) => r.referred, num: true },
  { label: "admin.col.aborted", value: (r) => r.aborted, num: true },
  { label: "admin.col.cancelled", value: (r) => r.cancelled, num: true },
  { label: "admin.col.no_show", value: (r) => r.no_show, num: true },
  { label: "admin.col.open", value: (r) => r.open, num: true },
  { label: "admin.col.referral_rate", value: (r) => percent(r.referral_rate), num: true },
];

const TALLY = [
  { label: "admin.col.reason", value: (r) => named(r) },
  { label: "admin.col.count", value: (r) => r.count, num: true },
];

function section(titleKey, ...content) {
  return el("div", {}, el("h3", { text: t(titleKey) }), ...content);
}

function figures(rows) {
  return table([
    { label: "admin.col.measure", value: (r) => t(r[0]) },
    { label: "admin.col.value", value: (r) => r[1], num: true },
  ], rows);
}

export function renderReport(report) {
  const p = report.period;
  const w = report.waiting_room;
  const q = report.call_quality;
  const r = report.referrals;
  return el("div", {},
    el("p", { class: "muted", text: t("admin.report.period", { from: p.from, to: p.to, timezone: p.timezone }) }),
    section("admin.report.totals", table(OUTCOME_COLUMNS, [report.totals])),
    section("admin.report.by_specialty", table(
      [{ label: "admin.col.specialty", value: (row) => named(row.specialty) }, ...OUTCOME_COLUMNS],
      report.by_specialty)),
    section("admin.report.by_physician", table(
      [{ label: "admin.col.physician", value: (row) => row.name }, ...OUTCOME_COLUMNS],
      report.by_physician)),
    el("div", { class: "grid" },
      section("admin.report.referrals", figures([
        ["admin.referrals.rate", percent(r.referral_rate)],
        ["admin.referrals.with_aborted", `${r.total_with_aborted} · ${percent(r.rate_with_aborted)}`],
      ]), table(TALLY, r.by_reason)),
      section("admin.report.waiting", figures([
        ["admin.wait.admitted", w.admitted],
        ["admin.wait.average", minutes(w.average_seconds)],
        ["admin.wait.p90", minutes(w.p90_seconds)],
        ["admin.wait.max", minutes(w.max_seconds)],
        ["admin.wait.never", w.joined_but_never_admitted],
      ])),
      section("admin.report.quality", figures([
        ["admin.quality.poor", q.by_kind.poor_quality],
        ["admin.quality.interrupted", q.by_kind.interrupted],
        ["admin.quality.overflow", q.by_kind.queue_overflow],
        ["admin.quality.affected", q.consults_affected],
        ["admin.quality.share", percent(q.share_of_calls_affected)],
      ]))),
    section("admin.report.aborted", table(TALLY, report.aborted.by_reason), report.aborted.count ? table([
      { label: "admin.col.consult", value: (row) => row.consult_id, cls: "mono" },
      { label: "admin.col.ended_at", value: (row) => when(row.ended_at) },
      { label: "admin.col.reason", value: (row) => row.reason },
      { label: "admin.col.description", value: (row) => row.reason_text },
      { label: "admin.col.follow_up", value: (row) => row.follow_up },
      { label: "admin.col.automatic", value: (row) => row.automatic },
    ], report.aborted.consults) : null),
    section("admin.report.adverse", table([
      { label: "admin.col.consult", value: (row) => row.consult_id, cls: "mono" },
      { label: "admin.col.category", value: (row) => named(report.adverse_events.by_category.find((c) => c.code === row.category)) },
      { label: "admin.col.severity", value: (row) => named(report.adverse_events.by_severity.find((c) => c.code === row.severity)) },
      { label: "admin.col.description", value: (row) => row.description },
      { label: "admin.col.reported_at", value: (row) => when(row.reported_at) },
    ], report.adverse_events.events)),
  );
}
