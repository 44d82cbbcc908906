// Language switch over the one catalogue (strings.js). Chinese is the default; the choice
// is remembered per browser.
import { STRINGS } from "./strings.js";

const STORAGE_KEY = "shouzhen.lang";
let lang = localStorage.getItem(STORAGE_KEY) === "en" ? "en" : "zh";

export function currentLang() {
  return lang;
}

export function t(key, vars = {}) {
  const entry = STRINGS[key];
  if (!entry) {
    console.warn("missing string", key);
    return key;
  }
  return (entry[lang] ?? entry.zh).replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function applyStrings(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-aria]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAria));
  }
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem(STORAGE_KEY, lang);
  applyStrings();
  document.dispatchEvent(new CustomEvent("langchange", { detail: { lang } }));
}

export function installLangSwitch(button) {
  button.addEventListener("click", () => setLang(lang === "zh" ? "en" : "zh"));
  const label = () => (button.textContent = t("lang.switch"));
  document.addEventListener("langchange", label);
  label();
}
