// A confirmation question in a <dialog> (big buttons, translated), falling back to the
// browser's confirm() where <dialog> is missing (old WebViews).
import { t } from "../i18n.js";
import { setText } from "./text.js";

export function confirmAction(questionKey, okKey) {
  const dialog = document.getElementById("confirm-dialog");
  if (typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(t(questionKey)));
  setText(document.getElementById("confirm-text"), questionKey);
  setText(document.getElementById("confirm-ok"), okKey);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();
  });
}
