// Ending the consult (physician): the outcome dialog (#end-dialog, the form from
// outcome-form.js), sent as `end`. The dialog stays open until the server accepts the
// outcome; a refused payload (`invalid_payload`) is shown next to the fields it names.
// The quick buttons in #outcome-slot open it with an outcome already chosen.
import { AccompanyingPhysicianForm } from "./accompanying-physician-form.js";
import { OutcomeForm } from "./outcome-form.js";
import { loadReferralReference } from "./referral-reference.js";
import { el, showMessage } from "./text.js";

const $ = (id) => document.getElementById(id);
const EXPLAINED = new Set(["guardian_presence_required", "transition_not_allowed", "accompanying_physician_required"]);
// Refusals that name the fields they concern (a drug the catalogue refuses names its row).
const BY_FIELD = new Set(["invalid_payload", "prescription_refused"]);
const QUICK = ["completed", "referred", "aborted"];

let form = null;
let accompanying = null;
let live = null;

async function ensureForm() {
  if (form) return form;
  form = new OutcomeForm(await loadReferralReference());
  accompanying = new AccompanyingPhysicianForm();
  $("end-form-slot").replaceChildren(form.node, accompanying.node);
  $("end-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("end-cancel").addEventListener("click", () => $("end-dialog").close());
  return form;
}

async function send() {
  showMessage($("end-error"), null);
  if (!form.requireChoice()) return;
  form.clearErrors();
  const button = $("end-ok");
  button.disabled = true;
  try {
    if (accompanying.pending && !(await accompanying.record(live.socket))) return;
    await live.end(form.value());
    $("end-dialog").close();
  } catch (error) {
    if (BY_FIELD.has(error.code)) form.showErrors(error.message);
    else {
      if (error.code === "accompanying_physician_required") accompanying.show();
      showMessage($("end-error"), EXPLAINED.has(error.code) ? `call.physician.end_error.${error.code}` : "call.error.action",
        { code: error.code });
    }
  } finally {
    button.disabled = false;
  }
}

/** Open the outcome dialog (optionally with `preset` chosen). */
export async function endConsult(liveConsult, errorNode, preset = null) {
  live = liveConsult;
  showMessage(errorNode, null);
  try {
    await ensureForm();
  } catch {
    showMessage(errorNode, "call.end.reference_failed");
    return;
  }
  if (preset) form.choose(preset);
  showMessage($("end-error"), null);
  $("end-dialog").showModal();
}

/** The consult ended (by us or otherwise): no outcome dialog left over the outcome. */
export function closeEndDialog() {
  if ($("end-dialog").open) $("end-dialog").close();
}

/** The three outcomes as buttons beside "End consult", each opening the dialog at its part. */
export function installQuickOutcomes(liveConsult, errorNode) {
  $("outcome-slot").replaceChildren(el("div", { class: "quick-outcomes" },
    QUICK.map((outcome) => el("button", { type: "button", class: `quick-outcome quick-${outcome}`, dataset: { outcome },
      text: `call.end.choice.${outcome}`, onclick: () => endConsult(liveConsult, errorNode, outcome) }))));
}
