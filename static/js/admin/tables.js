// Small DOM helpers: every value goes in as text (never as HTML), so nothing from the
// server or a typed-in description can run as markup.
import { currentLang, t } from "../i18n.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// columns: [{ label: "admin.col.x", value: (row) => text|Node, num?: true, cls?: "mono" }]
export function table(columns, rows, emptyKey = "admin.none") {
  if (!rows.length) return el("p", { class: "muted", text: t(emptyKey) });
  const head = el("tr", {}, ...columns.map((c) =>
    el("th", { class: c.num ? "num" : "", scope: "col", text: t(c.label) })));
  const body = rows.map((row) => el("tr", {}, ...columns.map((c) => {
    const value = c.value(row);
    return el("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() },
      value instanceof Node ? value : fmt(value));
  })));
  return el("div", { class: "scroll" }, el("table", {}, el("thead", {}, head),
    el("tbody", {}, ...body)));
}

export function fmt(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return t(value ? "admin.yes" : "admin.no");
  return String(value);
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}

export function minutes(seconds) {
  return seconds === null || seconds === undefined
    ? "—" : t("admin.minutes", { n: (seconds / 60).toFixed(1) });
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-GB",
    { timeZone: "Asia/Shanghai", dateStyle: "short", timeStyle: "medium" });
}

// A {code, zh, en} object from the server, in the page's language.
export function named(item) {
  if (!item) return "—";
  return currentLang() === "zh" ? item.zh || item.code : item.en || item.code;
}
