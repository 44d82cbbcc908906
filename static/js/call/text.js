// Translated text and element building for the call page.
//
// Static text in consult.html uses data-i18n (i18n.js re-renders it on a language switch).
// Text set from code may carry variables, which data-i18n cannot, so setText() remembers
// the key and the variables on the element and re-renders every such element when the
// language changes. A variable may itself be language-dependent:
//   {key: "call.relationship.mother"}   another catalogue entry
//   {zh: "儿童皮肤科", en: "Paediatric dermatology"}   a pair the server sent
//   {datetime: "2026-11-20T02:00:00+00:00"} / {date: …} / {time: …}   formatted per language
import { currentLang, t } from "../i18n.js";

// Consults happen in China: times are shown in Beijing time whatever the device's zone.
const TIME_ZONE = "Asia/Shanghai";

function locale() {
  return currentLang() === "zh" ? "zh-CN" : "en-GB";
}

function format(iso, options) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale(), { timeZone: TIME_ZONE, ...options }).format(when);
}

export function resolve(value) {
  if (value === null || value === undefined) return "";
  if (typeof value !== "object") return String(value);
  if ("key" in value) return t(value.key, resolveAll(value.vars));
  if ("datetime" in value) return format(value.datetime, { dateStyle: "medium", timeStyle: "short" });
  if ("date" in value) return format(value.date, { dateStyle: "medium" });
  if ("time" in value) return format(value.time, { hour: "2-digit", minute: "2-digit" });
  if ("zh" in value || "en" in value) return value[currentLang()] ?? value.zh ?? value.en ?? "";
  return "";
}

function resolveAll(vars) {
  const out = {};
  for (const [name, value] of Object.entries(vars || {})) out[name] = resolve(value);
  return out;
}

function render(node) {
  const vars = node.dataset.callVars ? JSON.parse(node.dataset.callVars) : {};
  node.textContent = t(node.dataset.callKey, resolveAll(vars));
}

/** Put catalogue text `key` (with `vars`) into `node`, and keep it translated. */
export function setText(node, key, vars) {
  node.dataset.callKey = key;
  if (vars && Object.keys(vars).length) node.dataset.callVars = JSON.stringify(vars);
  else delete node.dataset.callVars;
  render(node);
  return node;
}

/** Keep an element's aria-label translated (i18n.js re-renders data-i18n-aria). */
export function setLabel(node, key) {
  node.dataset.i18nAria = key;
  node.setAttribute("aria-label", t(key));
  return node;
}

export function installRetranslate() {
  document.addEventListener("langchange", () => {
    for (const node of document.querySelectorAll("[data-call-key]")) render(node);
    for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("label", t(node.dataset.i18nLabel));
    document.dispatchEvent(new CustomEvent("call:retranslated"));
  });
}

/**
 * A small element builder: el("p", {class: "x", text: "call.key", vars: {...}}, child…).
 * Children that are strings become text nodes (data from the server, never markup).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") setText(node, value, attrs.vars);
    else if (name === "vars") continue;
    else if (name === "label") setLabel(node, value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Show `node` with catalogue text, or hide it when `key` is null. */
export function showMessage(node, key, vars) {
  if (!key) {
    node.hidden = true;
    node.textContent = "";
    delete node.dataset.callKey;
    return;
  }
  setText(node, key, vars);
  node.hidden = false;
}
