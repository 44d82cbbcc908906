// The physician's growth assessment for growth & development and nutrition consults
// (GET /api/consults/{id}/growth): each measurement's z-scores, percentiles and flags,
// height velocity, the mid-parental target height, and the WHO charts (one at a time,
// chosen with tabs) drawn by growth-chart.js. A value the server calls implausible is
// marked "re-measure" and is never read as a z-score.
import { currentLang } from "../i18n.js";
import { renderGrowthChart } from "../growth-chart.js";
import { el } from "./text.js";

export const GROWTH_SPECIALTIES = new Set(["growth_development", "nutrition"]);
// Table columns, in the order a paediatrician reads them.
const INDICATORS = ["lhfa", "wfa", "wflh", "bmifa", "hcfa"];

const pair = (zh, en) => el("span", { text: "call.value", vars: { value: { zh, en } } });

function zText(result) {
  if (!result) return el("span", { class: "muted" }, "–");
  if (result.status === "implausible") {
    return el("span", { class: "implausible", text: "call.growth.implausible", vars: { z: result.implausible_z ?? "" } });
  }
  if (result.z === null || result.z === undefined) {
    return el("span", { class: "muted" }, result.message_zh ? pair(result.message_zh, result.message_en) : "–");
  }
  const z = Number(result.z);
  return el("span", { class: Math.abs(z) > 2 ? "z z-out" : "z" },
    el("span", { text: "call.growth.z", vars: { z: z.toFixed(2), p: result.percentile } }),
    ...(result.flags || []).map((flag) => el("span", { class: `flag flag-${flag.severity || "info"}` }, pair(flag.label_zh, flag.label_en))));
}

function measurementTable(assessment) {
  const used = INDICATORS.filter((ind) => assessment.measurements.some((m) => m.results?.[ind]));
  const head = el("tr", {}, el("th", { text: "call.growth.date" }), el("th", { text: "call.growth.values" }),
    used.map((ind) => {
      const any = assessment.measurements.find((m) => m.results?.[ind])?.results[ind];
      return el("th", {}, pair(any.name_zh, any.name_en));
    }));
  const rows = [...assessment.measurements].reverse().map((m) => el("tr", {},
    el("td", { class: "date" }, m.date, el("br"), el("span", { class: "muted small" }, pair(m.age_text_zh, m.age_text_en)),
      m.corrected_age_text_zh ? [el("br"), el("span", { class: "small", text: "call.growth.corrected_age",
        vars: { age: { zh: m.corrected_age_text_zh, en: m.corrected_age_text_en } } })] : null),
    el("td", { class: "values" }, [
      m.height_cm != null ? el("span", { text: "call.growth.height_value", vars: { v: m.height_cm } }) : null,
      m.weight_kg != null ? el("span", { text: "call.growth.weight_value", vars: { v: m.weight_kg } }) : null,
      m.head_circumference_cm != null ? el("span", { text: "call.growth.head_value", vars: { v: m.head_circumference_cm } }) : null,
    ].filter(Boolean).flatMap((node, i) => (i ? [el("br"), node] : [node]))),
    used.map((ind) => el("td", { class: m.results?.[ind]?.status === "implausible" ? "cell-implausible" : "" }, zText(m.results?.[ind])))));
  return el("div", { class: "table-scroll" }, el("table", { class: "growth-table" }, el("thead", {}, head), el("tbody", {}, rows)));
}

function extras(assessment) {
  const list = el("dl", { class: "summary growth-extras" });
  for (const v of assessment.velocities || []) {
    list.append(el("dt", { text: "call.growth.velocity" }), el("dd", {},
      el("span", { text: "call.growth.velocity_value", vars: { v: v.velocity_cm_per_year, from: v.from_date, to: v.to_date } }),
      v.short_interval ? el("span", { class: "muted small", text: "call.growth.velocity_short" }) : null));
  }
  const correction = assessment.age_correction;
  if (correction) {
    list.append(el("dt", { text: "call.growth.age_correction" }), el("dd", {},
      el("span", { text: "call.growth.age_correction_value", vars: { w: correction.gestational_age_weeks, c: correction.correction_weeks } }),
      el("br"), el("span", { class: "muted small" }, pair(correction.rule_zh, correction.rule_en))));
  }
  const target = assessment.target;
  if (target) {
    list.append(el("dt", { text: "call.growth.target" }), el("dd", {}, el("span", { text: "call.growth.target_value",
      vars: { t: target.target_cm, low: target.range_low_cm, high: target.range_high_cm } })));
  }
  const projected = assessment.projected_adult_height;
  if (projected) {
    list.append(el("dt", { text: "call.growth.projected" }), el("dd", {},
      el("span", { text: "call.growth.projected_value", vars: { h: projected.at_18y_cm } }),
      projected.within_target_range === false ? el("span", { class: "flag flag-moderate", text: "call.growth.outside_target" }) : null,
      el("br"), el("span", { class: "muted small" }, pair(projected.caveat_zh, projected.caveat_en))));
  }
  return list.childElementCount ? list : null;
}

export class GrowthPanel {
  /** @param {HTMLElement} container a card body the panel fills */
  constructor(container, { chartWidth } = {}) {
    this.container = container;
    this.chartWidth = chartWidth; // for a panel drawn while hidden (no width to measure)
    this.report = null;
    this.chart = null;
    document.addEventListener("langchange", () => this.drawChart());
  }

  showMessage(key) {
    this.report = null;
    this.container.replaceChildren(el("p", { class: "muted", text: key }));
  }

  render(report) {
    this.report = report;
    const names = Object.keys(report.charts || {});
    this.chart ??= names[0];
    if (!names.includes(this.chart)) this.chart = names[0];
    this.tabs = el("div", { class: "chart-tabs", role: "tablist" }, names.map((name) => {
      const data = report.charts[name];
      return el("button", { type: "button", role: "tab", class: "chart-tab", dataset: { chart: name },
        "aria-selected": String(name === this.chart), onclick: () => this.select(name) }, pair(data.title_zh, data.title_en));
    }));
    this.chartBox = el("div", { class: "growth-chart-box", role: "tabpanel" });
    const implausible = report.assessment.measurements.some((m) =>
      Object.values(m.results || {}).some((r) => r.status === "implausible"));
    this.container.replaceChildren(
      implausible ? el("p", { class: "remeasure", role: "alert", text: "call.growth.remeasure" }) : "",
      measurementTable(report.assessment), extras(report.assessment) || "", this.tabs, this.chartBox);
    this.drawChart();
  }

  select(name) {
    this.chart = name;
    for (const tab of this.tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.chart === name));
    this.drawChart();
  }

  drawChart() {
    const data = this.report?.charts?.[this.chart];
    if (!data || !this.chartBox) return;
    const lang = currentLang();
    renderGrowthChart(this.chartBox, data, {
      lang, width: this.chartBox.clientWidth ? undefined : this.chartWidth,
    });
  }
}

/** Fetch the assessment and fill every panel; a missing intake is said plainly. */
export async function loadGrowth(api, consultId, panels) {
  try {
    const report = await api.growth(consultId);
    for (const panel of panels) panel.render(report);
  } catch (error) {
    const key = error.status === 404 ? "call.growth.no_intake" : error.status === 422 ? "call.growth.invalid" : "call.growth.failed";
    for (const panel of panels) panel.showMessage(key);
  }
}
