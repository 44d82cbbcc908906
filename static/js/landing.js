// The landing page: the language switch, and a pasted join link opened as /join#<token>.
import { applyStrings, installLangSwitch } from "/static/js/i18n.js";
applyStrings();
installLangSwitch(document.getElementById("lang"));
document.getElementById("paste-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = document.getElementById("paste").value.trim();
  const hash = text.includes("#") ? text.slice(text.indexOf("#") + 1) : "";
  const ok = hash.split(".").length === 3;
  document.getElementById("paste-error").hidden = ok;
  if (ok) location.href = "/join#" + hash;
});
