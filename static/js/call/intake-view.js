// The intake as submitted, read-only, for the physician: the same labels as the form, codes
// shown as words (面颊 rather than "cheek"), units after numbers.
import { STRINGS } from "../strings.js";
import { el } from "./text.js";

const LABELS = {
  current: "call.intake.section.current", previous_measurements: "call.intake.section.previous",
  birth: "call.intake.section.birth", feeding: "call.intake.section.feeding",
  diet_record: "call.intake.section.diet", lesion_sites: "call.intake.section.lesions",
  measured_on: "call.intake.measured_on", height_cm: "call.intake.height", position: "call.intake.position",
  weight_kg: "call.intake.weight", head_circumference_cm: "call.intake.head",
  gestational_age_weeks: "call.intake.gestational_age", birth_weight_kg: "call.intake.birth_weight",
  birth_length_cm: "call.intake.birth_length", father_height_cm: "call.intake.father_height",
  mother_height_cm: "call.intake.mother_height", concerns: "call.intake.concerns",
  milk: "call.intake.milk", complementary_food_from_months: "call.intake.complementary_from",
  meals_per_day: "call.intake.meals_per_day", picky_eating: "call.intake.picky",
  supplements: "call.intake.supplements", notes: "call.intake.feeding_notes",
  meal: "call.intake.meal", foods: "call.intake.foods", amount: "call.intake.amount",
  allergies: "call.intake.allergies", site: "call.intake.site", laterality: "call.intake.laterality",
  duration_days: "call.intake.duration", symptoms: "call.intake.symptoms",
  treatments_tried: "call.intake.treatments", photo_ids: "call.intake.photos",
};
const UNITS = {
  height_cm: "call.unit.cm", head_circumference_cm: "call.unit.cm", birth_length_cm: "call.unit.cm",
  father_height_cm: "call.unit.cm", mother_height_cm: "call.unit.cm", weight_kg: "call.unit.kg",
  birth_weight_kg: "call.unit.kg", gestational_age_weeks: "call.unit.weeks",
  complementary_food_from_months: "call.unit.months", duration_days: "call.unit.days",
};
const CODES = {
  position: "call.intake.position", milk: "call.intake.milk", meal: "call.intake.meal",
  laterality: "call.intake.laterality", site: "call.site", symptoms: "call.intake.symptom",
};

function label(name) {
  return LABELS[name] ? el("span", { text: LABELS[name] }) : name;
}

function scalar(name, value) {
  if (typeof value === "boolean") return el("span", { text: value ? "call.yes" : "call.no" });
  if (CODES[name] && STRINGS[`${CODES[name]}.${value}`]) return el("span", { text: `${CODES[name]}.${value}` });
  if (UNITS[name]) return el("span", { text: "call.intake.with_unit", vars: { value, unit: { key: UNITS[name] } } });
  return String(value);
}

function inline(item) {
  // One row of a list (a measurement, a meal, a lesion site) on one line.
  const parts = [];
  for (const [name, value] of Object.entries(item)) {
    if (value === null || value === "" || value === undefined) continue;
    if (parts.length) parts.push(" · ");
    parts.push(label(name), el("span", { text: "call.sep.colon" }), scalar(name, value));
  }
  return el("li", {}, ...parts);
}

function value(name, data) {
  if (Array.isArray(data)) {
    if (!data.length) return el("span", { class: "muted", text: "call.intake.none" });
    if (typeof data[0] === "object") return el("ol", { class: "intake-rows" }, ...data.map(inline));
    return el("span", {}, ...data.flatMap((v, i) => [i ? el("span", { text: "call.sep.list" }) : "", scalar(name, v)]));
  }
  if (data && typeof data === "object") return renderIntake(data);
  return scalar(name, data);
}

export function renderIntake(data) {
  const list = el("dl", { class: "intake-view" });
  for (const [name, item] of Object.entries(data)) {
    if (item === null || item === "" || item === undefined) continue;
    if (Array.isArray(item) && !item.length && name === "photo_ids") continue;
    list.append(el("dt", {}, label(name)), el("dd", {}, value(name, item)));
  }
  return list;
}

/** The intake block: data as submitted, or a note that there is none yet. */
export function renderIntakeInto(container, intake) {
  if (!intake) {
    container.replaceChildren(el("p", { class: "muted", text: "call.intake.not_yet" }));
    return;
  }
  container.replaceChildren(
    el("p", { class: "muted small", text: "call.intake.revision",
      vars: { revision: intake.revision, at: { datetime: intake.updated_at } } }),
    renderIntake(intake.data));
}
