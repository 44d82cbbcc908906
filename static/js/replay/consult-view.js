// Rendering one archived consult for the auditor: summary, timeline, outcome and referral,
// photos, legal holds, retention and the verification result. Everything the server sent is
// shown as text (never markup); catalogue text re-renders on a language switch (call/text.js).
import { currentLang } from "../i18n.js";
import { STRINGS } from "../strings.js";
import { el } from "../call/text.js";

const TIME_ZONE = "Asia/Shanghai";
// Media and connection events are many and say little to a reviewer: hidden unless asked.
export const TECHNICAL = new Set(["media"]);

function locale() {
  return currentLang() === "zh" ? "zh-CN" : "en-GB";
}

/** Seconds on the replay's time base as m:ss.s (negative: before the recordings). */
export function formatOffset(seconds) {
  const sign = seconds < 0 ? "−" : "";
  const value = Math.abs(seconds);
  const minutes = Math.floor(value / 60);
  const rest = (value - minutes * 60).toFixed(1).padStart(4, "0");
  return `${sign}${minutes}:${rest}`;
}

/** An instant as Beijing time with seconds. */
export function formatInstant(iso, withDate = false) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso ?? "");
  const options = { timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit",
    hour12: false };
  if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat(locale(), options).format(when);
}

const pair = (value) => (value && typeof value === "object" ? value : { zh: value, en: value });
const txt = (key, vars) => el("span", { text: key, vars });
const known = (key) => Object.hasOwn(STRINGS, key);

/** A code as words when the catalogue has them (面颊 rather than "cheek"), else the code. */
function word(prefix, code) {
  if (code === null || code === undefined || code === "") return null;
  return known(`${prefix}.${code}`) ? txt(`${prefix}.${code}`) : String(code);
}

/** Body site, side and view of a photo or a capture request, as words. */
function where(d) {
  const parts = [word("call.site", d.body_site), word("call.intake.laterality", d.laterality),
    word("replay.view", d.view)].filter(Boolean);
  return parts.flatMap((part, i) => (i ? [" · ", part] : [part]));
}

function fact(labelKey, ...value) {
  return [el("dt", { text: labelKey }), el("dd", {}, ...value)];
}

export function renderSummary(view) {
  const c = view.consult;
  const child = c.child;
  const facts = [
    ...fact("replay.fact.specialty", txt("replay.value", { value: pair(c.specialty) })),
    ...fact("replay.fact.state", txt(`replay.state.${c.state}`),
      c.outcome ? " · " : "", c.outcome ? txt(`replay.outcome.${c.outcome}`) : ""),
    ...fact("replay.fact.physician", c.physician.name, " · ", word("call.title", c.physician.title),
      " · ", c.physician.department),
    ...fact("replay.fact.child", txt("replay.child_value", {
      name: child.name, sex: { key: `replay.sex.${child.sex}` }, birth_date: child.birth_date,
      patient_id: child.patient_id || "—" })),
    ...fact("replay.fact.guardian", txt("replay.guardian_value", {
      name: c.guardian.name, relationship: { key: `call.relationship.${c.guardian.relationship}` },
      phone: c.guardian.phone || "—" })),
    ...fact("replay.fact.scheduled", formatInstant(c.scheduled_start, true)),
    ...fact("replay.fact.admitted", c.admitted_at ? formatInstant(c.admitted_at, true) : "—"),
    ...fact("replay.fact.ended", c.ended_at ? formatInstant(c.ended_at, true) : "—"),
  ];
  if (view.archive) {
    facts.push(...fact("replay.fact.sealed", formatInstant(view.archive.sealed_at, true)),
      ...fact("replay.fact.manifest", el("code", {}, view.archive.manifest_sha256)));
  } else {
    facts.push(...fact("replay.fact.sealed", txt("replay.not_sealed")));
  }
  return facts;
}

// -- the timeline ---------------------------------------------------------------------------

function eventLabel(item) {
  if (known(`replay.event.${item.action}`)) return txt(`replay.event.${item.action}`);
  const category = known(`replay.category.${item.category}`) ? item.category : "other";
  return txt("replay.event.generic", { category: { key: `replay.category.${category}` },
    action: item.action });
}

function actor(item) {
  const role = known(`replay.actor.${item.actor_role}`) ? item.actor_role : "other";
  const staff = ["admin", "auditor"].includes(item.actor_role);
  return el("span", { class: "who" }, txt(`replay.actor.${role}`),
    staff ? ` ${item.actor_id}` : "");
}

/** A few words of what happened, from the entry's details. Pure over the data. */
export function eventDetail(item) {
  const d = item.details || {};
  switch (item.action) {
    case "chat.message":
      return `“${d.text ?? ""}”`;
    case "capture.requested":
    case "capture.stored":
      return [...where(d), d.width ? ` · ${d.width}×${d.height}` : ""];
    case "consult.ended":
      return [d.outcome && txt(`replay.outcome.${d.outcome}`),
        d.referral_reference ? ` · ${d.referral_reference}` : ""];
    case "recording.segment_closed":
      return [txt(`replay.side.${d.participant}`), ` #${d.segment_index} · ${Number(d.duration_s).toFixed(1)} s`];
    case "access.refused":
      return `${d.status ?? ""} ${d.reason ?? ""}`.trim();
    case "record.viewed":
      return d.what ?? "";
    case "archive.verified":
      return txt(d.ok ? "replay.verify.short_ok" : "replay.verify.short_failed");
    case "retention.purged":
      return d.path ?? "";
    case "legal_hold.set":
    case "legal_hold.cleared":
      return d.reason ?? "";
    default:
      if (item.action.startsWith("media.")) {
        return [d.role, d.state, d.media, d.codec].filter(Boolean).join(" · ");
      }
      return "";
  }
}

export function renderTimeline(items, { duration, showTechnical, onSeek }) {
  const rows = [];
  for (const item of items) {
    if (!showTechnical && TECHNICAL.has(item.category)) continue;
    const offset = item.offset_s ?? 0;
    const inRecording = offset >= 0 && offset <= duration;
    const button = el("button", {
      type: "button", class: `event cat-${item.category}`, dataset: {
        action: item.action, offset: String(offset), seq: String(item.seq) },
      title: item.action, onclick: () => onSeek(Math.min(Math.max(offset, 0), duration)),
    },
    el("time", { class: "offset" }, inRecording ? formatOffset(offset) : ""),
    el("span", { class: "wall" }, formatInstant(item.at)),
    el("span", { class: "label" }, eventLabel(item)),
    actor(item),
    el("span", { class: "detail" }, eventDetail(item)));
    if (!inRecording) {
      button.append(el("span", { class: "tag", text: offset < 0 ? "replay.timeline.before" : "replay.timeline.after_rec" }));
    }
    rows.push(el("li", {}, button));
  }
  return rows;
}

/** Ticks on the seek bar for the events a reviewer jumps to. */
export function renderMarks(items, duration) {
  if (!duration) return [];
  return items.filter((i) => !TECHNICAL.has(i.category) && i.offset_s >= 0 && i.offset_s <= duration)
    .map((i) => {
      // Positioned through the CSSOM: the CSP allows no style attributes.
      const mark = el("span", { class: `mark cat-${i.category}` });
      mark.style.left = `${(100 * i.offset_s) / duration}%`;
      return mark;
    });
}

// -- outcome, intake, photos, holds, retention ----------------------------------------------

export function renderOutcome(consult) {
  const o = consult.outcome_detail;
  if (!o) return [el("p", { class: "muted", text: "replay.outcome.none" })];
  const facts = [...fact("replay.fact.outcome", txt(`replay.outcome.${o.outcome}`))];
  if (o.diagnosis) facts.push(...fact("replay.fact.diagnosis", o.diagnosis, o.icd10 ? ` (${o.icd10})` : ""));
  if (o.advice) facts.push(...fact("replay.fact.advice", o.advice));
  if (o.follow_up && typeof o.follow_up === "string") facts.push(...fact("replay.fact.follow_up", o.follow_up));
  if (o.reason) facts.push(...fact("replay.fact.abort_reason", o.reason, o.reason_text ? ` · ${o.reason_text}` : ""));
  if (o.prescription?.length) {
    facts.push(...fact("replay.fact.prescription", el("ol", {}, ...o.prescription.map((p) =>
      el("li", {}, [p.drug, p.strength, p.dose, p.route, p.frequency,
        p.duration_days && `${p.duration_days} d`, p.quantity].filter(Boolean).join(" · "))))));
  }
  const r = o.referral;
  if (r) {
    facts.push(
      ...fact("replay.fact.referral_reference", el("strong", {}, r.reference_number || o.referral_reference || "—")),
      ...fact("replay.fact.referral_reason", txt("replay.value", { value: pair(r.reason_name) })),
      ...fact("replay.fact.referral_urgency", txt("replay.value", { value: pair(r.urgency_name) })),
      ...fact("replay.fact.referral_department", txt("replay.value", { value: pair(r.department_name) })));
    if (r.instructions) facts.push(...fact("replay.fact.referral_instructions", r.instructions));
    if (r.suggested_examinations?.length) {
      facts.push(...fact("replay.fact.referral_examinations", r.suggested_examinations.join("、")));
    }
  }
  if (o.notes) facts.push(...fact("replay.fact.notes", o.notes));
  facts.push(...fact("replay.fact.recorded_at", formatInstant(o.recorded_at, true)));
  return [el("dl", { class: "facts" }, ...facts)];
}

export function renderPhotos(photos, { thumbnail, open }) {
  if (!photos.length) return [el("p", { class: "muted", text: "replay.photos.none" })];
  return photos.map((photo) => {
    const img = el("img", { alt: photo.body_site || photo.id, loading: "lazy" });
    thumbnail(photo, img);
    return el("figure", { class: "photo" },
      el("button", { type: "button", class: "thumb", onclick: () => open(photo) }, img),
      el("figcaption", { class: "small" },
        ...where(photo),
        el("br"), txt(`replay.photo.source.${photo.source}`), ` · ${photo.width}×${photo.height}`,
        photo.needs_retake ? el("span", { class: "warn", text: "replay.photo.retake" }) : "",
        el("br"), formatInstant(photo.captured_at)));
  });
}

export function renderHolds(holds) {
  if (!holds.length) return [el("p", { class: "muted", text: "replay.holds.none" })];
  return [el("ul", { class: "holds" }, ...holds.map((h) => el("li", {},
    el("strong", { class: h.active ? "warn" : "muted", text: h.active ? "replay.holds.active" : "replay.holds.cleared" }),
    ` ${h.reason}`, el("br"),
    el("span", { class: "muted small" }, `${h.set_by} · ${formatInstant(h.set_at, true)}`,
      h.cleared_at ? ` → ${h.cleared_by} · ${formatInstant(h.cleared_at, true)}${h.cleared_reason ? ` · ${h.cleared_reason}` : ""}` : ""))))];
}

export function renderRetention(retention) {
  if (!retention) return [el("p", { class: "muted", text: "replay.not_sealed" })];
  if (retention.error) return [el("p", { class: "warn" }, retention.error)];
  return [el("table", {},
    el("thead", {}, el("tr", {}, ...["replay.col.path", "replay.col.class", "replay.col.expires",
      "replay.col.state"].map((key) => el("th", { text: key })))),
    el("tbody", {}, ...retention.artefacts.map((a) => el("tr", {},
      el("td", { class: "mono" }, a.path), el("td", { text: `replay.class.${a.retention_class}` }),
      el("td", {}, formatInstant(a.expires_at, true)),
      el("td", { class: a.state === "present" ? "" : "warn", text: `replay.artefact.${a.state}` })))))];
}

// -- verification ---------------------------------------------------------------------------

export function renderVerification(result) {
  const headline = result.ok
    ? el("p", { class: "verdict ok", text: "replay.verify.ok" })
    : el("p", { class: "verdict bad", text: "replay.verify.failed", vars: { n: result.problems.length } });
  const chain = result.chain.ok
    ? txt("replay.chain.ok", { n: result.chain.entries_checked })
    : txt("replay.chain.broken", { seq: result.chain.first_broken_seq, problem: result.chain.problem });
  const manifest = result.manifest.matches_seal
    ? txt("replay.manifest.ok") : txt("replay.manifest.changed");
  const parts = [headline,
    el("ul", { class: "checks" }, el("li", {}, chain), el("li", {}, manifest),
      el("li", {}, txt("replay.verify.counts", result.counts)))];
  if (result.problems.length) {
    parts.push(el("ul", { class: "problems" }, ...result.problems.map((p) => el("li", { class: "warn" }, p))));
  }
  if (result.warnings.length) {
    parts.push(el("ul", { class: "warnings" }, ...result.warnings.map((w) => el("li", { class: "muted" }, w))));
  }
  parts.push(el("table", { class: "artefacts" },
    el("thead", {}, el("tr", {}, ...["replay.col.path", "replay.col.class", "replay.col.result"]
      .map((key) => el("th", { text: key })))),
    el("tbody", {}, ...result.artefacts.map((a) => el("tr", { dataset: { status: a.status } },
      el("td", { class: "mono" }, a.path),
      el("td", {}, a.retention_class ? txt(`replay.class.${a.retention_class}`) : "—"),
      el("td", { class: a.status === "verified" || a.status === "purged" ? "ok" : "warn" },
        txt(`replay.status.${a.status}`), a.detail && a.status !== "verified" ? ` — ${a.detail}` : ""))))));
  parts.push(el("p", { class: "muted small" }, formatInstant(result.checked_at, true)));
  return parts;
}
