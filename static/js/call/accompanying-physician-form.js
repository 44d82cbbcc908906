// The physician accompanying a child under 6 (互联网诊疗管理办法 第十九条): shown in the outcome
// dialog once the server refuses a prescription with `accompanying_physician_required`;
// recorded with `record_accompanying_physician` (docs/protocol.md) before the outcome is
// sent again. The server checks the fields; its refusal lands next to the one it names.
import { fieldMessage } from "./field-messages.js";
import { field, input } from "./form-fields.js";
import { request } from "./socket.js";
import { el, showMessage } from "./text.js";

const FIELDS = { name: 100, licence_number: 40, institution: 200 };
// "licence_number: String should match pattern …" (signaling/acks.py parse)
const FIELD_ERROR = /(?:^|; )(name|licence_number|institution): /g;

export class AccompanyingPhysicianForm {
  constructor() {
    this.controls = Object.fromEntries(Object.entries(FIELDS).map(([name, max]) => [name, input({ maxlength: max })]));
    this.recorded = false;
    this.node = el("fieldset", { class: "accompanying-physician", hidden: true },
      el("legend", { text: "call.accompanying.title" }),
      el("p", { class: "help", text: "call.accompanying.help" }),
      Object.entries(this.controls).map(([name, control]) =>
        field(`accompanying.${name}`, `call.accompanying.${name}`, control, { required: true })));
  }

  show() {
    this.node.hidden = false;
    this.controls.name.focus();
  }

  /** Needed before the outcome is sent: shown and not yet recorded. */
  get pending() {
    return !this.node.hidden && !this.recorded;
  }

  /** Record it; false (with the reasons next to the fields) when the server refuses. */
  async record(socket) {
    for (const node of this.node.querySelectorAll("[data-error-path]")) showMessage(node, null);
    const body = Object.fromEntries(Object.entries(this.controls).map(([name, c]) => [name, c.value.trim()]));
    try {
      await request(socket, "record_accompanying_physician", body);
    } catch (error) {
      const starts = [...String(error.message).matchAll(FIELD_ERROR)];
      if (!starts.length) throw error;
      starts.forEach((match, i) => {
        const end = i + 1 < starts.length ? starts[i + 1].index : error.message.length;
        const { key, vars } = fieldMessage(error.message.slice(match.index + match[0].length, end));
        showMessage(this.node.querySelector(`[data-error-path="accompanying.${match[1]}"]`), key, vars);
      });
      return false;
    }
    this.recorded = true;
    return true;
  }
}
