// The prescription items of a completed consult: one row per drug (drug, strength, dose,
// route, frequency, days, quantity), added and removed by the physician. The server refuses
// narcotic and psychotropic drugs; its reason is shown under the row it concerns.
import { field, input, select } from "./form-fields.js";
import { el } from "./text.js";

// server/clinical/prescription.py Route; nothing injectable is prescribed at home.
const ROUTES = ["oral", "topical", "inhaled", "nasal", "ophthalmic", "otic", "rectal", "transdermal"];
const MAX_ITEMS = 10;
const TEXT_FIELDS = ["drug", "strength", "dose", "frequency", "quantity"];

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
    const row = el("li", { class: "rx-row" },
      Object.entries(controls).map(([name, control]) =>
        field(`prescription.${index}.${name}`, `call.rx.${name}`, control, { required: true })),
      el("p", { class: "field-error rx-row-error", role: "alert", hidden: true, dataset: { errorPath: `prescription.${index}` } }),
      el("button", { type: "button", class: "remove-row link-button", text: "call.rx.remove", onclick: () => this.removeRow(row) }));
    row.controls = controls;
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
      // A number, not a string: the server validates strictly. Empty → missing → "required".
      if (c.duration_days.value !== "") item.duration_days = Number(c.duration_days.value);
      return item;
    });
  }
}
