// The prescription items of a completed consult: one row per drug (drug, strength, dose,
// route, frequency, days, quantity, and the reason for a supply of 30 days or more), added and
// removed by the physician. The server refuses what its drug catalogue lists (narcotic,
// psychotropic, toxic, radioactive, precursor drugs and the hospital's own entries); its
// reason is shown under the row it concerns.
import { Api } from "./api.js";
import { field, input, select, uid } from "./form-fields.js";
import { takeJoinToken } from "./join-token.js";
import { el, resolve, showMessage } from "./text.js";

// server/clinical/prescription.py Route; nothing injectable is prescribed at home.
const ROUTES = ["oral", "topical", "inhaled", "nasal", "ophthalmic", "otic", "rectal", "transdermal"];
const MAX_ITEMS = 10;
const TEXT_FIELDS = ["drug", "strength", "dose", "frequency", "quantity"];
// server/clinical/prescription.py LONG_SUPPLY_DAYS
const LONG_SUPPLY_DAYS = 30;
const SUGGEST_AFTER_MS = 250;

// As server/clinical/drug_catalogue/matching.py compares names: NFKC, case, letters and digits.
const compact = (text) => text.normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");

let lookup = null;
/**
 * The drug catalogue's names containing what was typed (GET /api/consults/{id}/drug-names),
 * each with its class and rule: a controlled drug shows as such while it is typed. The
 * server checks the free text again when the outcome is sent.
 */
function drugNames(typed) {
  if (!lookup) {
    const api = new Api(takeJoinToken());
    let consultId = null;
    lookup = async (q) => {
      consultId ??= (await api.session()).consult_id;
      const path = `/api/consults/${encodeURIComponent(consultId)}/drug-names?q=${encodeURIComponent(q)}`;
      return (await api.request("GET", path)).names;
    };
  }
  return lookup(typed);
}

/** Suggestions under the drug input, and a warning when the name typed is a listed one. */
function suggestDrugNames(control, list, warning) {
  let timer = 0;
  let asked = "";
  control.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const typed = control.value.trim();
      asked = typed;
      if (!typed) {
        list.replaceChildren();
        showMessage(warning, null);
        return;
      }
      let names = [];
      try {
        names = await drugNames(typed);
      } catch {
        return; // suggestions are a help: the server still checks what is sent
      }
      if (asked !== typed) return; // a later keystroke's answer wins
      const said = (n) => ({ key: `call.rx.suggest.${n.rule}`, vars: { generic: n.generic_name_zh, class: n.class_name } });
      list.replaceChildren(...names.map((n) => {
        const option = el("option", { value: n.name });
        option.label = resolve(said(n)); // (el's `label` is an aria-label key)
        return option;
      }));
      const same = names.find((n) => compact(n.name) === compact(typed));
      showMessage(warning, same ? said(same).key : null, same ? said(same).vars : undefined);
    }, SUGGEST_AFTER_MS);
  });
}

export class PrescriptionRows {
  constructor() {
    this.list = el("ol", { class: "rx-rows" });
    this.add = el("button", { type: "button", class: "add-row", text: "call.rx.add", onclick: () => this.addRow() });
    this.node = el("div", { class: "rx" },
      el("h3", { text: "call.ended.prescription" }),
      el("p", { class: "help", text: "call.rx.help" }),
      this.list,
      el("p", { class: "field-error", role: "alert", hidden: true, dataset: { errorPath: "prescription" } }),
      this.add);
  }

  addRow() {
    const index = this.list.children.length;
    const controls = {
      drug: input({ maxlength: 100 }), strength: input({ maxlength: 100 }), dose: input({ maxlength: 100 }),
      route: select(ROUTES, { keyPrefix: "call.rx.route" }), frequency: input({ maxlength: 100, list: "rx-frequencies" }),
      duration_days: input({ type: "number", min: 1, max: 30, inputmode: "numeric", class: "numeric" }),
      quantity: input({ maxlength: 100 }),
    };
    const suggestions = el("datalist", { id: uid("rx-drug-names") });
    controls.drug.setAttribute("list", suggestions.id);
    const warning = el("p", { class: "field-error rx-drug-warning", role: "status", hidden: true });
    suggestDrugNames(controls.drug, suggestions, warning);
    const reason = input({ maxlength: 500 });
    const reasonField = field(`prescription.${index}.long_supply_reason`, "call.rx.long_supply_reason", reason);
    reasonField.style.gridColumn = "1 / -1";
    // Asked for only when the supply is long enough to need it.
    const showReason = () => { reasonField.hidden = !(Number(controls.duration_days.value) >= LONG_SUPPLY_DAYS); };
    controls.duration_days.addEventListener("input", showReason);
    showReason();
    const row = el("li", { class: "rx-row" },
      Object.entries(controls).map(([name, control]) =>
        field(`prescription.${index}.${name}`, `call.rx.${name}`, control, { required: true })),
      suggestions, warning,
      reasonField,
      el("p", { class: "field-error rx-row-error", role: "alert", hidden: true, dataset: { errorPath: `prescription.${index}` } }),
      el("button", { type: "button", class: "remove-row link-button", text: "call.rx.remove", onclick: () => this.removeRow(row) }));
    row.controls = { ...controls, long_supply_reason: reason };
    this.list.append(row);
    this.add.disabled = this.list.children.length >= MAX_ITEMS;
    controls.drug.focus();
  }

  removeRow(row) {
    row.remove();
    this.add.disabled = false;
    this.renumber();
  }

  /** Error paths follow the rows' positions, which change when one is removed. */
  renumber() {
    [...this.list.children].forEach((row, index) => {
      for (const node of row.querySelectorAll("[data-error-path]")) {
        node.dataset.errorPath = node.dataset.errorPath.replace(/^prescription\.\d+/, `prescription.${index}`);
      }
    });
  }

  /**
   * The items as the protocol wants them. Every row is sent, even a blank one, so that the
   * server's `prescription.N` means the N-th row on screen (a blank row is "required").
   */
  value() {
    return [...this.list.children].map((row) => row.controls).map((c) => {
      const item = {};
      for (const name of TEXT_FIELDS) item[name] = c[name].value.trim();
      item.route = c.route.value;
      const reason = c.long_supply_reason.value.trim();
      if (reason) item.long_supply_reason = reason;
      // A number, not a string: the server validates strictly. Empty → missing → "required".
      if (c.duration_days.value !== "") item.duration_days = Number(c.duration_days.value);
      return item;
    });
  }
}
