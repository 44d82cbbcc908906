// The pre-consultation intake form (预问诊) for the consult's specialty, matching
// server/clinical/intake.py field for field (the server refuses unknown fields).
//
// The form is a small tree of parts — fields, groups (JSON objects) and rows (JSON lists) —
// each able to read its value, fill itself from a saved intake, check itself lightly, and
// show an error. A server error's `field` ("previous_measurements.1.weight_kg") is followed
// down the same tree to the part it names; an error deeper than the form goes (or about a
// whole list) lands on the nearest part that exists.
import { STRINGS } from "../strings.js";
import { t } from "../i18n.js";
import { fieldMessage } from "./field-messages.js";
import { el, setText, showMessage } from "./text.js";

// Body sites for lesion sites: the same codes as the physician's photo requests
// (server/photos/body_sites.py), by region, with the sides each allows — M: midline only (nose,
// navel), P: left/right/both (cheek, hand), A: any of the four (chest, back).
// Labels: call.site.<code>, regions: call.region.<region>.
export const BODY_SITES = {
  head_neck: "scalp:A face:A forehead:A temple:P periorbital:P nose:M cheek:P perioral:A lips:A chin:M ear:P postauricular:P neck:A",
  trunk: "chest:A abdomen:A umbilicus:M upper_back:A lower_back:A axilla:P flank:P buttock:P",
  upper_limb: "shoulder:P upper_arm:P antecubital_fossa:P elbow:P forearm:P wrist:P palm:P hand_dorsum:P fingers:P fingernails:P",
  lower_limb: "groin:P thigh:P knee:P popliteal_fossa:P lower_leg:P ankle:P foot_dorsum:P sole:P heel:P toes:P toenails:P",
  perineum_genitals: "diaper_area:M perineum:M perianal:M genitals:M",
};
const SIDES = { M: ["midline"], P: ["left", "right", "bilateral"], A: ["left", "right", "midline", "bilateral"] };
const SITE_SIDES = Object.fromEntries(Object.values(BODY_SITES).flatMap((list) =>
  list.split(" ").map((entry) => entry.split(":"))));

// Used when the form's JSON Schema (GET /api/intake-forms/{specialty}) cannot be fetched.
const FALLBACK_CHOICES = {
  symptoms: ["itch", "pain", "fever", "spreading", "bleeding", "oozing", "blistering", "scaling"],
  laterality: ["left", "right", "midline", "bilateral"],
  milk: ["breast_exclusive", "breast_mixed", "formula", "cow_milk", "none"],
  meal: ["breakfast", "morning_snack", "lunch", "afternoon_snack", "dinner", "night"],
};

const HEAD_CIRCUMFERENCE_UNDER_YEARS = 3;
let nextId = 0;

/** The first `enum` found for property `name` anywhere in a JSON Schema. */
export function findEnum(schema, name) {
  const seen = new Set();
  const walk = (node) => {
    if (!node || typeof node !== "object" || seen.has(node)) return null;
    seen.add(node);
    const prop = node.properties?.[name];
    if (prop) {
      const candidates = [prop, prop.items, ...(prop.anyOf || []), ...(prop.anyOf || []).map((a) => a.items)];
      for (const c of candidates) if (Array.isArray(c?.enum)) return c.enum;
    }
    for (const child of Object.values(node)) {
      const found = walk(child);
      if (found) return found;
    }
    return null;
  };
  return walk(schema);
}

/** Catalogue label for a code, or the code itself if the catalogue does not know it yet. */
function choiceLabel(prefix, code) {
  const key = `${prefix}.${code}`;
  return STRINGS[key] ? { text: key } : { text: "call.value", vars: { value: code } };
}

/** Numbers as phones type them: full-width digits, a decimal comma. */
export function parseNumber(text) {
  const normal = String(text).trim()
    .replace(/[０-９．，]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(",", ".");
  if (normal === "") return undefined;
  const number = Number(normal);
  return Number.isFinite(number) ? number : NaN;
}

export function todayInBeijing() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
}

function wholeYears(birthDate, onDate) {
  const [by, bm, bd] = birthDate.split("-").map(Number);
  const [y, m, d] = onDate.split("-").map(Number);
  return y - by - (m < bm || (m === bm && d < bd) ? 1 : 0);
}

// ---- parts ----------------------------------------------------------------------------

class Field {
  /**
   * kind: date | number | integer | text | textarea | lines | select | checkbox | checkboxes
   */
  constructor(kind, labelKey, { required = false, unit, choices, groups, help, max, placeholder, emptyKey } = {}) {
    this.kind = kind;
    this.required = required;
    this.emptyKey = emptyKey || (required ? "call.intake.choose" : "call.intake.not_given");
    this.visible = true;
    const id = `intake-${++nextId}`;
    this.error = el("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true });
    const label = el("label", { for: id },
      el("span", { text: labelKey }),
      unit ? el("span", { class: "unit", text: "call.unit.paren", vars: { unit: { key: unit } } }) : null,
      required ? el("span", { class: "required", "aria-hidden": "true" }, "*") : null);
    const common = { id, "aria-describedby": `${id}-error`, required: required || undefined };
    if (kind === "checkboxes") {
      this.boxes = choices.map(({ value, label: choice }) => el("input", { type: "checkbox", value }));
      this.input = el("fieldset", { class: "checkboxes", id },
        el("legend", { text: labelKey }),
        ...this.boxes.map((box, i) => el("label", { class: "check" }, box, el("span", choices[i].label))));
      this.node = el("div", { class: "field" }, this.input, this.error);
      return;
    }
    if (kind === "checkbox") {
      this.input = el("input", { type: "checkbox", ...common });
      this.node = el("div", { class: "field" }, el("label", { class: "check", for: id }, this.input,
        el("span", { text: labelKey })), this.error);
      return;
    }
    if (kind === "select") {
      this.input = el("select", common);
      this.setChoices(choices, groups);
    } else if (kind === "textarea" || kind === "lines") {
      this.input = el("textarea", { ...common, rows: 3, maxlength: max || 2000 });
    } else if (kind === "date") {
      this.input = el("input", { ...common, type: "date", max: todayInBeijing() });
    } else {
      const numeric = kind === "number" || kind === "integer";
      // type=text with a numeric keyboard: type=number silently empties "99,5" and
      // full-width digits, which Chinese keyboards produce.
      this.input = el("input", {
        ...common, type: "text", autocomplete: "off", maxlength: max || 300,
        inputmode: numeric ? (kind === "integer" ? "numeric" : "decimal") : undefined,
        placeholder,
      });
      if (numeric) this.input.classList.add("numeric");
    }
    this.node = el("div", { class: "field" }, label, help ? el("p", { class: "help", text: help }) : null,
      this.input, this.error);
  }

  /** A select's options: `choices` [{value, label}], or `groups` [{labelKey, choices}]. */
  setChoices(choices = [], groups = null) {
    const option = ({ value, label }) => el("option", { value, ...label });
    const previous = this.input.value;
    this.input.replaceChildren(
      el("option", { value: "", text: this.emptyKey }),
      ...(groups
        ? groups.map((g) => {
          const group = el("optgroup", { dataset: { i18nLabel: g.labelKey } }, ...g.choices.map(option));
          group.setAttribute("label", t(g.labelKey)); // re-rendered by text.js on a language switch
          return group;
        })
        : choices.map(option)));
    if ([...this.input.options].some((o) => o.value === previous)) this.input.value = previous;
  }

  setVisible(visible) {
    this.visible = visible;
    this.node.hidden = !visible;
  }

  read() {
    if (!this.visible) return undefined;
    const raw = this.input.value ?? "";
    switch (this.kind) {
      case "checkbox": return this.input.checked;
      case "checkboxes": return this.boxes.filter((b) => b.checked).map((b) => b.value);
      case "lines": return raw.split(/\n+/).map((s) => s.trim()).filter(Boolean);
      case "number": return parseNumber(raw);
      case "integer": {
        const n = parseNumber(raw);
        return n === undefined || Number.isNaN(n) ? n : Number.isInteger(n) ? n : NaN;
      }
      case "textarea": return raw.trim();
      default: return raw.trim() === "" ? undefined : raw.trim();
    }
  }

  fill(value) {
    if (value === undefined || value === null) return;
    if (this.kind === "checkbox") this.input.checked = Boolean(value);
    else if (this.kind === "checkboxes") for (const b of this.boxes) b.checked = value.includes(b.value);
    else if (this.kind === "lines") this.input.value = value.join("\n");
    else this.input.value = String(value);
    this.input.dispatchEvent(new Event("change"));
  }

  check(problems) {
    if (!this.visible) return;
    const value = this.read();
    if (Number.isNaN(value)) problems.push([this, { key: this.kind === "integer" ? "call.fieldmsg.integer" : "call.fieldmsg.number" }]);
    else if (this.required && (value === undefined || value === "")) problems.push([this, { key: "call.fieldmsg.required" }]);
  }

  target() {
    return this;
  }

  showError(message) {
    showMessage(this.error, message.key, message.vars);
    this.input.setAttribute("aria-invalid", "true");
    this.node.classList.add("invalid");
  }

  clearErrors() {
    showMessage(this.error, null);
    this.input.removeAttribute("aria-invalid");
    this.node.classList.remove("invalid");
  }

  focus() {
    (this.boxes?.[0] || this.input).focus();
  }
}

/** What Group and Rows share: an error line of their own above their parts. */
class Composite {
  showError(message) {
    showMessage(this.error, message.key, message.vars);
    this.node.classList.add("invalid");
  }

  clearErrors() {
    showMessage(this.error, null);
    this.node.classList.remove("invalid");
    for (const part of this.children()) part.clearErrors();
  }
}

class Group extends Composite {
  /** parts: [name, part] pairs (a part may be a plain node for layout). */
  constructor(parts, { legendKey, helpKey, optional = false, open = true, className = "", keyFields = null } = {}) {
    super();
    this.parts = parts.filter(([, part]) => part && !(part instanceof Node));
    this.optional = optional; // JSON null/absent when nothing in it is filled…
    this.keyFields = keyFields; // …or, if given, when none of these is (others hold defaults)
    this.error = el("p", { class: "field-error", role: "alert", hidden: true });
    const body = parts.filter(([, part]) => part).map(([, part]) => (part instanceof Node ? part : part.node));
    if (legendKey && !open) {
      this.node = el("details", { class: `group ${className}` },
        el("summary", { text: legendKey }), helpKey ? el("p", { class: "help", text: helpKey }) : null,
        this.error, ...body);
    } else if (legendKey) {
      this.node = el("fieldset", { class: `group ${className}` },
        el("legend", { text: legendKey }), helpKey ? el("p", { class: "help", text: helpKey }) : null,
        this.error, ...body);
    } else {
      this.node = el("div", { class: `group ${className}` }, this.error, ...body);
    }
  }

  part(name) {
    return this.parts.find(([n]) => n === name)?.[1];
  }

  read() {
    const out = {};
    for (const [name, part] of this.parts) {
      const value = part.read();
      if (value !== undefined) out[name] = value;
    }
    const blank = (v) => v === undefined || v === "" || (Array.isArray(v) && !v.length);
    const significant = this.keyFields ? this.keyFields.map((name) => out[name]) : Object.values(out);
    if (this.optional && significant.every(blank)) return undefined;
    return out;
  }

  fill(data) {
    if (!data) return;
    for (const [name, part] of this.parts) part.fill(data[name]);
  }

  check(problems) {
    if (this.optional && this.read() === undefined) return;
    for (const [, part] of this.parts) part.check(problems);
  }

  target(path) {
    if (!path.length) return this;
    const part = this.part(path[0]);
    return part ? part.target(path.slice(1)) : this;
  }

  children() {
    return this.parts.map(([, part]) => part);
  }

  focus() {
    (this.parts[0]?.[1] || { focus: () => this.node.focus() }).focus();
  }
}

class Rows extends Composite {
  /** makeRow(index) → Group; a list in the JSON. */
  constructor(makeRow, { legendKey, helpKey, addKey, min = 0, start = 0 }) {
    super();
    this.makeRow = makeRow;
    this.min = min;
    this.rows = [];
    this.list = el("div", { class: "rows" });
    this.error = el("p", { class: "field-error", role: "alert", hidden: true });
    const add = el("button", { type: "button", class: "add-row", text: addKey, onclick: () => this.add(true) });
    this.node = el("fieldset", { class: "group" }, el("legend", { text: legendKey }),
      helpKey ? el("p", { class: "help", text: helpKey }) : null, this.error, this.list, add);
    for (let i = 0; i < Math.max(min, start); i += 1) this.add(false);
  }

  add(focus) {
    const row = this.makeRow(this.rows.length);
    const remove = el("button", { type: "button", class: "link-button remove-row", text: "call.intake.remove_row",
      onclick: () => this.remove(row) });
    row.node.classList.add("row");
    row.node.append(remove);
    this.rows.push(row);
    this.list.append(row.node);
    this.updateRemovable();
    if (focus) row.focus();
    return row;
  }

  remove(row) {
    this.rows = this.rows.filter((r) => r !== row);
    row.node.remove();
    this.updateRemovable();
  }

  updateRemovable() {
    for (const row of this.rows) row.node.querySelector(".remove-row").hidden = this.rows.length <= this.min;
  }

  read() {
    return this.rows.map((row) => row.read()).filter((v) => v !== undefined);
  }

  fill(list) {
    if (!Array.isArray(list)) return;
    for (const row of [...this.rows]) this.remove(row);
    for (const item of list) this.add(false).fill(item);
    while (this.rows.length < this.min) this.add(false);
  }

  check(problems) {
    const filled = this.read().length;
    if (filled < this.min) {
      // Point at the blank row to fill in rather than at the list as a whole.
      const blank = this.rows.find((row) => row.read() === undefined);
      if (blank) problems.push([blank.parts[0][1], { key: "call.fieldmsg.required" }]);
      else problems.push([this, { key: "call.fieldmsg.min_items", vars: { n: this.min } }]);
    }
    for (const row of this.rows) row.check(problems);
  }

  target(path) {
    if (!path.length) return this;
    // The server numbers the rows it was sent: blank rows were left out.
    const row = this.rows.filter((r) => r.read() !== undefined)[Number(path[0])];
    return row ? row.target(path.slice(1)) : this;
  }

  children() {
    return this.rows;
  }

  focus() {
    (this.rows[0] || { focus: () => this.node.focus() }).focus();
  }
}

// ---- the three specialties ------------------------------------------------------------

function measurement({ current, birthDate, legendKey }) {
  const date = new Field("date", "call.intake.measured_on", { required: true });
  const head = new Field("number", "call.intake.head", { unit: "call.unit.cm", required: current });
  const parts = [
    ["measured_on", date],
    ["height_cm", new Field("number", "call.intake.height", { unit: "call.unit.cm", required: current })],
  ];
  if (current) {
    parts.push(["position", new Field("select", "call.intake.position", {
      emptyKey: "call.intake.position.by_age",
      choices: ["recumbent", "standing"].map((v) => ({ value: v, label: { text: `call.intake.position.${v}` } })),
    })]);
  }
  // When the server asks whether a weight was given in 斤, the guardian may confirm it is kg;
  // the confirmation belongs to the value asked about, so a new value withdraws it.
  const weight = new Field("number", "call.intake.weight", { unit: "call.unit.kg", required: current });
  const weightConfirmed = new Field("checkbox", "call.intake.weight_confirmed");
  weightConfirmed.setVisible(false);
  const showWeightError = weight.showError.bind(weight);
  weight.showError = (message) => {
    showWeightError(message);
    if (message.key === "call.fieldmsg.jin_confirm") weightConfirmed.setVisible(true);
  };
  const fillConfirmed = weightConfirmed.fill.bind(weightConfirmed);
  weightConfirmed.fill = (value) => { // an intake sent before keeps its confirmation
    fillConfirmed(value);
    if (value) weightConfirmed.setVisible(true);
  };
  weight.input.addEventListener("input", () => {
    weightConfirmed.input.checked = false;
    weightConfirmed.setVisible(false);
  });
  parts.push(["weight_kg", weight], ["weight_kg_confirmed", weightConfirmed],
    ["head_circumference_cm", head]);
  // Head circumference is asked for (and required) for children under 3 on the day measured.
  const updateHead = () => {
    const on = date.input.value || todayInBeijing();
    head.setVisible(!birthDate || wholeYears(birthDate, on) < HEAD_CIRCUMFERENCE_UNDER_YEARS);
  };
  date.input.addEventListener("change", updateHead);
  if (current) date.input.value = todayInBeijing();
  updateHead();
  // An earlier-measurement row left blank is not sent (it is not an error either).
  return new Group(parts, { legendKey, optional: !current, className: current ? "" : "measurement-row" });
}

function growthBasics(birthDate) {
  return [
    ["current", measurement({ current: true, birthDate, legendKey: "call.intake.section.current" })],
    ["previous_measurements", new Rows(() => measurement({ current: false, birthDate }), {
      legendKey: "call.intake.section.previous", helpKey: "call.intake.previous.help",
      addKey: "call.intake.previous.add",
    })],
    ["birth", new Group([
      ["gestational_age_weeks", new Field("integer", "call.intake.gestational_age", { unit: "call.unit.weeks" })],
      ["birth_weight_kg", new Field("number", "call.intake.birth_weight", { unit: "call.unit.kg" })],
      ["birth_length_cm", new Field("number", "call.intake.birth_length", { unit: "call.unit.cm" })],
    ], { legendKey: "call.intake.section.birth", optional: true, open: false })],
  ];
}

function choices(list, prefix) {
  return list.map((value) => ({ value, label: choiceLabel(prefix, value) }));
}

function growthForm({ birthDate }) {
  return new Group([
    ...growthBasics(birthDate),
    ["father_height_cm", new Field("number", "call.intake.father_height", { unit: "call.unit.cm" })],
    ["mother_height_cm", new Field("number", "call.intake.mother_height", { unit: "call.unit.cm" })],
    ["concerns", new Field("textarea", "call.intake.concerns")],
  ]);
}

function nutritionForm({ birthDate, lists }) {
  const dietRow = () => new Group([
    ["meal", new Field("select", "call.intake.meal", { required: true, choices: choices(lists.meal, "call.intake.meal") })],
    ["foods", new Field("text", "call.intake.foods", { required: true, max: 300 })],
    ["amount", new Field("text", "call.intake.amount", { max: 100 })],
  ], { optional: true, className: "diet-row", keyFields: ["foods", "amount"] });
  const dietRows = new Rows(dietRow, {
    legendKey: "call.intake.section.diet", helpKey: "call.intake.diet.help",
    addKey: "call.intake.diet.add", min: 1, start: 3,
  });
  // Three main meals to start from: fewer taps than choosing each.
  dietRows.rows.forEach((row, i) => {
    const meal = row.part("meal").input;
    if (lists.meal.includes(["breakfast", "lunch", "dinner"][i])) meal.value = ["breakfast", "lunch", "dinner"][i];
  });
  return new Group([
    ...growthBasics(birthDate),
    ["feeding", new Group([
      ["milk", new Field("select", "call.intake.milk", { required: true, choices: choices(lists.milk, "call.intake.milk") })],
      ["complementary_food_from_months", new Field("integer", "call.intake.complementary_from", { unit: "call.unit.months" })],
      ["meals_per_day", new Field("integer", "call.intake.meals_per_day")],
      ["picky_eating", new Field("checkbox", "call.intake.picky")],
      ["supplements", new Field("lines", "call.intake.supplements", { help: "call.intake.one_per_line" })],
      ["notes", new Field("textarea", "call.intake.feeding_notes")],
    ], { legendKey: "call.intake.section.feeding" })],
    ["diet_record", dietRows],
    ["allergies", new Field("lines", "call.intake.allergies", { help: "call.intake.one_per_line" })],
    ["concerns", new Field("textarea", "call.intake.concerns")],
  ]);
}

function dermatologyForm({ lists }) {
  const groups = Object.entries(BODY_SITES).map(([region, list]) => ({
    labelKey: `call.region.${region}`,
    choices: choices(list.split(" ").map((entry) => entry.split(":")[0]), "call.site"),
  }));
  const siteRow = () => {
    const site = new Field("select", "call.intake.site", { required: true, groups });
    const side = new Field("select", "call.intake.laterality", { choices: choices(lists.laterality, "call.intake.laterality") });
    // Offer only the sides the site has: a nose is midline, a cheek left, right or both.
    site.input.addEventListener("change", () => {
      const allowed = SIDES[SITE_SIDES[site.input.value]] || lists.laterality;
      side.setChoices(choices(lists.laterality.filter((v) => allowed.includes(v)), "call.intake.laterality"));
      if (allowed.length === 1) side.input.value = allowed[0];
    });
    return new Group([["site", site], ["laterality", side]], { optional: true, className: "site-row" });
  };
  return new Group([
    ["lesion_sites", new Rows(siteRow, {
      legendKey: "call.intake.section.lesions", helpKey: "call.intake.lesions.help",
      addKey: "call.intake.lesions.add", min: 1,
    })],
    ["duration_days", new Field("integer", "call.intake.duration", { required: true, unit: "call.unit.days" })],
    ["symptoms", new Field("checkboxes", "call.intake.symptoms", { choices: choices(lists.symptoms, "call.intake.symptom") })],
    ["treatments_tried", new Field("lines", "call.intake.treatments", { help: "call.intake.one_per_line" })],
    ["concerns", new Field("textarea", "call.intake.concerns")],
  ]);
}

const FORMS = { growth_development: growthForm, nutrition: nutritionForm, dermatology: dermatologyForm };

export class IntakeForm {
  /**
   * @param {object} options
   * @param {string} options.specialty growth_development | nutrition | dermatology
   * @param {object|null} options.schema the JSON Schema from /api/intake-forms/{specialty}
   * @param {string} options.birthDate the child's birth date (YYYY-MM-DD)
   * @param {object|null} options.initial a saved intake's data
   * @param {(data: object) => Promise<void>} options.submit throws ApiError on refusal
   */
  constructor({ specialty, schema, birthDate, initial, submit }) {
    const lists = {};
    for (const [name, fallback] of Object.entries(FALLBACK_CHOICES)) {
      lists[name] = (schema && findEnum(schema, name)) || fallback;
    }
    this.root = FORMS[specialty]({ birthDate, lists });
    this.submitFn = submit;
    this.summary = el("p", { class: "error form-errors", role: "alert", hidden: true });
    this.button = el("button", { type: "submit", class: "primary wide", text: "call.intake.submit" });
    this.node = el("form", { class: "intake-form", novalidate: true }, this.root.node, this.summary, this.button);
    this.node.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    if (initial) this.root.fill(initial);
  }

  /** The intake as the server wants it. */
  value() {
    return this.root.read();
  }

  showProblems(problems) {
    this.root.clearErrors();
    for (const [part, message] of problems) part.showError(message);
    showMessage(this.summary, problems.length ? "call.intake.errors" : null, { n: problems.length });
    problems[0]?.[0].focus();
    problems[0]?.[0].node.scrollIntoView({ block: "center" });
  }

  /** Show the server's 422 errors[{field, message}] next to the fields they name. */
  showServerErrors(errors) {
    this.showProblems(errors.map(({ field, message }) => [
      this.root.target(String(field || "").split(".").filter((p) => p !== "body")), fieldMessage(message),
    ]));
  }

  async send() {
    const problems = [];
    this.root.check(problems);
    if (problems.length) {
      this.showProblems(problems);
      return;
    }
    this.root.clearErrors();
    showMessage(this.summary, null);
    this.button.disabled = true;
    setText(this.button, "call.intake.saving");
    try {
      await this.submitFn(this.value());
    } catch (error) {
      if (error.status === 422 && error.errors.length) this.showServerErrors(error.errors);
      else showMessage(this.summary, error.status === 0 ? "call.error.network" : "call.value",
        { value: error.detail || t("call.error.generic") });
    } finally {
      this.button.disabled = false;
      setText(this.button, "call.intake.submit");
    }
  }
}
