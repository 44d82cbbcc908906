// Small builders for the physician's forms (the outcome dialog): a labelled control with its
// own error line, radio groups, selects from {code, zh, en} lists. Every error line carries
// `data-error-path` (the payload path it answers for), so a server message about
// `prescription.1.route` lands under that row's route.
import { el } from "./text.js";

let nextId = 0;
export const uid = (prefix) => `${prefix}-${++nextId}`;

/** <div.field> with label, control and error line; `path` is the payload path. */
export function field(path, labelKey, control, { required = false, hint = null } = {}) {
  control.id ||= uid("f");
  const error = el("p", { class: "field-error", role: "alert", hidden: true, id: uid("e"), dataset: { errorPath: path } });
  control.setAttribute("aria-describedby", error.id);
  control.dataset.path = path;
  return el("div", { class: "field", dataset: { field: path } },
    el("label", { for: control.id },
      el("span", { text: labelKey }), required ? el("span", { class: "required", "aria-hidden": "true" }, "*") : null),
    hint ? el("p", { class: "help", text: hint }) : null,
    control, error);
}

export const input = (attrs = {}) => el("input", { type: "text", autocomplete: "off", ...attrs });
export const textarea = (attrs = {}) => el("textarea", { rows: 2, maxlength: 2000, ...attrs });

/** A <select> of {code, zh, en} (names from the server) or of codes with catalogue keys. */
export function select(items, { keyPrefix = null, placeholder = "call.intake.choose" } = {}) {
  return el("select", {},
    placeholder ? el("option", { value: "", text: placeholder }) : null,
    items.map((item) => (typeof item === "string"
      ? el("option", { value: item, text: `${keyPrefix}.${item}` })
      : el("option", { value: item.code, text: "call.value", vars: { value: { zh: item.zh, en: item.en } } }))));
}

/** Radio buttons as big tappable choices; value() reads the checked one. */
export function radios(name, items, { keyPrefix = null, legendKey = null, path = name, className = "choices" } = {}) {
  const group = el("fieldset", { class: className, dataset: { field: path } },
    legendKey ? el("legend", { text: legendKey }) : null,
    items.map((item) => {
      const code = typeof item === "string" ? item : item.code;
      const text = typeof item === "string" ? el("span", { text: `${keyPrefix}.${item}` })
        : el("span", { text: "call.value", vars: { value: { zh: item.zh, en: item.en } } });
      return el("label", { class: "choice", dataset: { value: code } },
        el("input", { type: "radio", name, value: code }), text);
    }),
    el("p", { class: "field-error", role: "alert", hidden: true, dataset: { errorPath: path } }));
  return group;
}

export function checked(container, name) {
  return container.querySelector(`input[name="${name}"]:checked`)?.value || "";
}
