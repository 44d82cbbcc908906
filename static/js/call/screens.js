// One screen at a time, and the current screen's name for the test hook and the CSS
// (body[data-screen] lets call.css give the call screen the whole viewport).
import { t } from "../i18n.js";
import { resolve } from "./text.js";

let current = "loading";

export function currentScreen() {
  return current;
}

export function show(name) {
  current = name;
  document.body.dataset.screen = name;
  for (const section of document.querySelectorAll("section[data-screen]")) {
    section.hidden = section.dataset.screen !== name;
  }
  window.scrollTo(0, 0);
  // Move keyboard and screen-reader focus to the new screen's heading, so a change of
  // screen is not silent.
  // (Not the chat's heading on the call screen: focus stays where the controls are.)
  const heading = [...document.querySelectorAll(`section[data-screen="${name}"] h2`)]
    .find((h) => !h.closest(".side-panel"));
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

/** Read a status change out through the aria-live region. */
export function announce(key, vars) {
  const region = document.getElementById("announcer");
  const resolved = {};
  for (const [k, v] of Object.entries(vars || {})) resolved[k] = resolve(v);
  // Clearing first makes a repeated message be announced again.
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = t(key, resolved);
  });
}
