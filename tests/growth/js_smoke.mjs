// Node smoke test for static/js/growth-chart.js with a minimal fake DOM (no
// dependencies).  Usage: node tests/growth/js_smoke.mjs fixture.json [...]
// Prints one JSON summary line per (fixture, lang); exits 1 on any error.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";

class FakeNode {
  constructor(name) {
    this.nodeName = name;
    this.attributes = new Map();
    this.children = [];
    this.style = {};
    this._text = "";
    this.clientWidth = 0;
  }
  setAttribute(k, v) { this.attributes.set(k, String(v)); }
  getAttribute(k) { return this.attributes.get(k) ?? null; }
  appendChild(c) { this.children.push(c); c.parentNode = this; return c; }
  removeChild(c) { this.children = this.children.filter((x) => x !== c); return c; }
  replaceChildren(...nodes) { this.children = []; nodes.forEach((n) => this.appendChild(n)); }
  get firstChild() { return this.children[0] ?? null; }
  set textContent(t) { this._text = String(t); this.children = []; }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  *walk() { yield this; for (const c of this.children) yield* c.walk(); }
}
globalThis.document = { createElementNS: (_ns, name) => new FakeNode(name) };

const here = dirname(fileURLToPath(import.meta.url));
const { renderGrowthChart } = await import(resolve(here, "../../static/js/growth-chart.js"));

let failed = false;
for (const file of process.argv.slice(2)) {
  const data = JSON.parse(readFileSync(file, "utf8"));
  for (const [lang, width] of [["zh", 360], ["en", 800]]) {
    try {
      const container = new FakeNode("div");
      container.clientWidth = width;
      const svg = renderGrowthChart(container, data, { lang });
      if (container.children[0] !== svg) throw new Error("svg not placed in container");
      const nodes = [...svg.walk()];
      for (const n of nodes) {
        for (const [k, v] of n.attributes) {
          if (/NaN|undefined|Infinity/.test(v)) throw new Error(`bad attribute ${n.nodeName} ${k}=${v}`);
        }
      }
      const texts = nodes.filter((n) => n.nodeName === "text").map((n) => n._text);
      const byClass = (c) => nodes.filter((n) => (n.getAttribute("class") || "").split(" ").includes(c));
      console.log(JSON.stringify({
        file: file.split("/").pop(),
        lang,
        viewBox: svg.getAttribute("viewBox"),
        title: nodes.find((n) => n.nodeName === "title")?._text,
        curvePaths: byClass("gc-curve").reduce((s, g) => s + g.children.length, 0),
        curves: byClass("gc-curve").length,
        points: byClass("gc-point").length,
        implausible: byClass("gc-implausible").length,
        polyline: nodes.some((n) => n.nodeName === "polyline"),
        lineVertices: nodes
          .filter((n) => n.nodeName === "polyline")
          .reduce((s, n) => s + n.getAttribute("points").trim().split(/\s+/).length, 0),
        targetBand: byClass("gc-target").length,
        percentileLabels: texts.filter((t) => /^P\d+$/.test(t)),
        tips: byClass("gc-point").map((c) => c.children.find((n) => n.nodeName === "title")?._text),
        texts,
      }));
    } catch (err) {
      failed = true;
      console.error(`${file} [${lang}]: ${err.stack || err}`);
    }
  }
}
// An invalid payload must be refused, not half-drawn.
try {
  renderGrowthChart(new FakeNode("div"), { schema: "other" }, {});
  console.error("invalid schema was accepted");
  failed = true;
} catch {
  /* expected */
}
process.exit(failed ? 1 : 0);
