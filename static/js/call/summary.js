// The consult summary card: who the physician is, which specialty, when, for which child.
import { el } from "./text.js";

/** Whole years and months between a birth date and today (Beijing calendar is close enough). */
export function ageOf(birthDate, on = new Date()) {
  const birth = new Date(`${birthDate}T00:00:00`);
  let months = (on.getFullYear() - birth.getFullYear()) * 12 + (on.getMonth() - birth.getMonth());
  if (on.getDate() < birth.getDate()) months -= 1;
  return { years: Math.floor(months / 12), months: months % 12 };
}

function row(labelKey, ...value) {
  return [el("dt", { text: labelKey }), el("dd", {}, ...value)];
}

/** A value from the server wrapped so that it is rendered as is (names are not translated). */
function value(key, vars) {
  return el("span", { text: key, vars });
}

export function renderSummary(container, consult) {
  const { physician, child, guardian, specialty } = consult;
  const age = ageOf(child.birth_date);
  container.replaceChildren(
    el("h2", { text: "call.summary.title" }),
    el("dl", { class: "summary" },
      row("call.summary.specialty", value("call.value", { value: { zh: specialty.zh, en: specialty.en } })),
      row("call.summary.physician",
        el("strong", {}, physician.name), " ",
        value("call.summary.physician_title", {
          title: { key: `call.title.${physician.title}` }, department: physician.department,
        })),
      row("call.summary.time", value("call.summary.time_value", { time: { datetime: consult.scheduled_start } })),
      row("call.summary.child",
        el("strong", {}, child.name), " ",
        value("call.summary.child_detail", {
          sex: { key: `call.sex.${child.sex}` }, years: age.years, months: age.months,
        })),
      row("call.summary.guardian",
        guardian.name, value("call.summary.relationship", { relationship: { key: `call.relationship.${guardian.relationship}` } }))));
}
