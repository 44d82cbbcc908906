// The outcome dialog's form (physician): completed (diagnosis, ICD-10, advice, follow-up,
// prescription), referred offline (reason, urgency, department, hospital, instructions,
// suggested examinations), or aborted (reason, then a referral or a reschedule). value()
// is the `end` payload exactly as docs/protocol.md has it; showErrors() puts the server's
// refusal next to the fields it names.
import { fieldMessage } from "./field-messages.js";
import { checked, field, input, radios, select, textarea } from "./form-fields.js";
import { PrescriptionRows } from "./prescription-rows.js";
import { el, setText, showMessage } from "./text.js";

const OUTCOMES = ["completed", "referred", "aborted"];
// server/clinical/outcome.py Aborted.reason
const ABORT_REASONS = ["technical_failure", "no_show_after_admit", "guardian_left", "physician_connection_lost",
  "window_expired", "other"];
// "completed.prescription.0: message; referred.referral: message" (signaling/acks.py parse)
const ERROR_START = /(?:^|; )((?:completed|referred|aborted)(?:\.[\w]+)*): /g;

/** The `invalid_payload` message as [{path, message}], the outcome name taken off the path. */
export function parseFieldErrors(message) {
  const starts = [...String(message || "").matchAll(ERROR_START)];
  return starts.map((match, i) => {
    const end = i + 1 < starts.length ? starts[i + 1].index : message.length;
    const path = match[1].split(".").slice(1).join(".");
    return { path, message: message.slice(match.index + match[0].length, end) };
  });
}

const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

export class OutcomeForm {
  constructor(reference) {
    const c = (this.completed = {
      diagnosis: textarea({ maxlength: 500 }), icd10: input({ maxlength: 12, class: "code-input", placeholder: "L20.9", autocapitalize: "characters" }),
      advice: textarea({ rows: 3 }), follow_up: input({ maxlength: 2000 }),
    });
    this.rx = new PrescriptionRows();
    const r = (this.referral = {
      reason: select(reference.reasons), reason_text: input({ maxlength: 500 }),
      department: select(reference.departments), hospital: input({ maxlength: 100 }),
      instructions: textarea({ rows: 3 }), suggested_examinations: textarea({ rows: 2 }),
    });
    this.urgency = radios("urgency", reference.urgencies, { legendKey: "call.end.urgency", path: "referral.urgency", className: "choices urgency" });
    this.notes = textarea({ rows: 2 });
    const a = (this.aborted = { reason: select(ABORT_REASONS, { keyPrefix: "call.end.abort_reason" }), reason_text: input({ maxlength: 500 }) });
    this.followUp = radios("abort_follow_up", ["reschedule", "referral"], { keyPrefix: "call.end.abort_follow_up", legendKey: "call.end.abort_follow_up", path: "follow_up" });
    this.choice = radios("outcome", OUTCOMES, { keyPrefix: "call.end.choice", path: "outcome", className: "choices outcome-choices" });

    this.sections = {
      completed: el("section", { class: "outcome-section", dataset: { outcome: "completed" } },
        field("diagnosis", "call.ended.diagnosis", c.diagnosis, { required: true }),
        field("icd10", "call.end.icd10", c.icd10),
        field("advice", "call.ended.advice", c.advice),
        field("follow_up", "call.ended.follow_up", c.follow_up),
        this.rx.node),
      aborted: el("section", { class: "outcome-section", dataset: { outcome: "aborted" } },
        field("reason", "call.end.abort_reason", a.reason, { required: true }),
        field("reason_text", "call.end.reason_text", a.reason_text),
        this.followUp),
      referral: el("section", { class: "outcome-section referral-section", dataset: { outcome: "referral" } },
        el("h3", { text: "call.end.referral_title" }),
        el("p", { class: "field-error", role: "alert", hidden: true, dataset: { errorPath: "referral" } }),
        field("referral.reason", "call.ended.referral.reason", r.reason, { required: true }),
        field("referral.reason_text", "call.end.reason_text", r.reason_text),
        this.urgency,
        field("referral.department", "call.ended.referral.department", r.department, { required: true }),
        field("referral.hospital", "call.end.hospital", r.hospital),
        field("referral.instructions", "call.end.instructions", r.instructions, { hint: "call.end.instructions_hint" }),
        field("referral.suggested_examinations", "call.ended.referral.examinations", r.suggested_examinations, { hint: "call.intake.one_per_line" })),
      referred: el("section", { class: "outcome-section", dataset: { outcome: "referred" } },
        field("notes", "call.end.notes", this.notes)),
    };
    this.formError = el("p", { class: "form-errors", role: "alert", hidden: true });
    this.node = el("div", { class: "outcome-form" }, this.choice, this.formError,
      this.sections.completed, this.sections.aborted, this.sections.referral, this.sections.referred);
    this.node.addEventListener("change", (event) => {
      if (event.target.name === "outcome" || event.target.name === "abort_follow_up") this.layout();
    });
    // A corrected field loses its error at once; the others keep theirs until the next send.
    for (const type of ["input", "change"]) {
      this.node.addEventListener(type, (event) => {
        const holder = event.target.closest("[data-field]");
        const error = holder && [...holder.querySelectorAll("[data-error-path]")].find((n) => n.closest("[data-field]") === holder);
        if (error && !error.hidden) {
          showMessage(error, null);
          holder.classList.remove("invalid");
        }
      });
    }
    this.layout();
  }

  get outcome() {
    return checked(this.choice, "outcome");
  }

  /** Show only what the chosen outcome needs; the referral serves "aborted → referral" too. */
  layout() {
    const outcome = this.outcome;
    const wantsReferral = outcome === "referred" || (outcome === "aborted" && checked(this.followUp, "abort_follow_up") === "referral");
    this.sections.completed.hidden = outcome !== "completed";
    this.sections.aborted.hidden = outcome !== "aborted";
    this.sections.referred.hidden = outcome !== "referred";
    this.sections.referral.hidden = !wantsReferral;
    this.node.dataset.outcome = outcome;
  }

  referralValue() {
    const r = this.referral;
    // Unchosen lists are left out rather than sent empty: the server then names each one
    // "required" next to its field.
    const body = {};
    for (const [name, value] of [["reason", r.reason.value], ["urgency", checked(this.urgency, "urgency")],
      ["department", r.department.value]]) if (value) body[name] = value;
    const optional = {
      reason_text: r.reason_text.value.trim(), hospital: r.hospital.value.trim(), instructions: r.instructions.value.trim(),
    };
    for (const [name, value] of Object.entries(optional)) if (value) body[name] = value;
    const exams = lines(r.suggested_examinations.value);
    if (exams.length) body.suggested_examinations = exams;
    return body;
  }

  /** The `end` payload, or null when no outcome is chosen yet. */
  value() {
    const outcome = this.outcome;
    if (outcome === "completed") {
      const c = this.completed;
      const body = { outcome, diagnosis: c.diagnosis.value.trim() };
      const icd10 = c.icd10.value.trim().toUpperCase();
      if (icd10) body.icd10 = icd10;
      if (c.advice.value.trim()) body.advice = c.advice.value.trim();
      if (c.follow_up.value.trim()) body.follow_up = c.follow_up.value.trim();
      const items = this.rx.value();
      if (items.length) body.prescription = items;
      return body;
    }
    if (outcome === "referred") {
      const body = { outcome, referral: this.referralValue() };
      if (this.notes.value.trim()) body.notes = this.notes.value.trim();
      return body;
    }
    if (outcome === "aborted") {
      const a = this.aborted;
      const body = { outcome };
      if (a.reason.value) body.reason = a.reason.value;
      const followUp = checked(this.followUp, "abort_follow_up");
      if (followUp) body.follow_up = followUp;
      if (a.reason_text.value.trim()) body.reason_text = a.reason_text.value.trim();
      if (body.follow_up === "referral") body.referral = this.referralValue();
      return body;
    }
    return null;
  }

  clearErrors() {
    for (const node of this.node.querySelectorAll("[data-error-path]")) showMessage(node, null);
    for (const node of this.node.querySelectorAll(".invalid")) node.classList.remove("invalid");
    showMessage(this.formError, null);
  }

  /** Each server message under the field it names (or its nearest enclosing one). */
  showErrors(message) {
    this.clearErrors();
    const errors = parseFieldErrors(message);
    if (!errors.length) {
      showMessage(this.formError, "call.value", { value: message });
      return;
    }
    let first = null;
    for (const { path, message: text } of errors) {
      const node = this.errorNode(path);
      const { key, vars } = fieldMessage(text);
      if (!node) {
        showMessage(this.formError, key, vars);
        continue;
      }
      showMessage(node, key, vars);
      node.closest(".field")?.classList.add("invalid");
      first ??= node;
    }
    (first?.closest(".field")?.querySelector("input, select, textarea") || first)?.focus?.();
    first?.scrollIntoView?.({ block: "center" });
  }

  /** The error line for `path` in the visible sections, trying shorter paths up to the root. */
  errorNode(path) {
    const parts = path.split(".");
    while (parts.length) {
      const wanted = parts.join(".");
      const nodes = [...this.node.querySelectorAll("[data-error-path]")]
        .filter((n) => n.dataset.errorPath === wanted && !n.parentElement.closest("[hidden]"));
      if (nodes.length) return nodes[0];
      parts.pop();
    }
    return null;
  }

  /** Preselect an outcome (the quick buttons beside "End consult"). */
  choose(outcome) {
    const radio = this.choice.querySelector(`input[value="${outcome}"]`);
    if (radio) radio.checked = true;
    this.layout();
  }

  /** The client's own check before sending: an outcome must be chosen. */
  requireChoice() {
    if (this.outcome) return true;
    setText(this.choice.querySelector(".field-error"), "call.end.choose_outcome");
    this.choice.querySelector(".field-error").hidden = false;
    return false;
  }
}
