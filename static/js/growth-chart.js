// Growth chart renderer: draws the JSON built by server/clinical/growth/chart.py
// (schema "shouzhen.growth-chart.v1") as an SVG.  Plain ES module: no build
// step, no dependencies.  It does no growth arithmetic: curves, points, ticks
// and the target band all come from the server, the JS only scales and draws.
//
// Usage:
//   import { renderGrowthChart } from "/static/js/growth-chart.js";
//   const data = await (await fetch(url)).json();
//   renderGrowthChart(document.querySelector("#chart"), data, { lang: "zh" });
//
// options:
//   lang    "zh" (default) | "en"   language of the labels (from strings.js, keys chart.*)
//   labels  object merged over those labels (same shape as LABEL_KEYS below;
//           nested objects are merged key by key)
//   width, height  viewBox size in px; by default the container's width (so
//           text is drawn at its nominal size) and a 0.72 aspect ratio.  The
//           SVG scales with its container (width 100%); call again on resize
//           if you want text re-laid out for the new width.
// Returns the <svg> element (also placed in the container, replacing its content).

import { STRINGS } from "./strings.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const SCHEMA = "shouzhen.growth-chart.v1";

// The chart's words come from the one catalogue (strings.js), in the language asked for.
const LABEL_KEYS = {
  titles: {
    lhfa: "chart.title.lhfa", wfa: "chart.title.wfa", bmifa: "chart.title.bmifa",
    hcfa: "chart.title.hcfa", wfl: "chart.title.wfl", wfh: "chart.title.wfh",
  },
  sex: { male: "chart.sex.male", female: "chart.sex.female" },
  x: { month: "chart.x.month", year: "chart.x.year", length: "chart.x.length", height: "chart.x.height" },
  y: {
    length_height: "chart.y.length_height", weight: "chart.y.weight",
    bmi: "chart.y.bmi", head_circumference: "chart.y.head_circumference",
  },
  percentile: "chart.percentile",
  target: "call.growth.target",
  implausible: "call.growth.remeasure_short",
  point: "chart.point",
  corrected: "chart.corrected_age",
  z: "chart.z",
};

function labelsFor(lang, keys = LABEL_KEYS) {
  const out = {};
  for (const [name, key] of Object.entries(keys)) {
    out[name] = typeof key === "string" ? STRINGS[key][lang] : labelsFor(lang, key);
  }
  return out;
}

// Colours follow the WHO chart convention: median green, outer lines red.
const CURVE_STYLE = {
  3: { stroke: "#c62828", width: 1.4, dash: "" },
  15: { stroke: "#ef8f00", width: 1.1, dash: "4 3" },
  50: { stroke: "#2e7d32", width: 2.0, dash: "" },
  85: { stroke: "#ef8f00", width: 1.1, dash: "4 3" },
  97: { stroke: "#c62828", width: 1.4, dash: "" },
};
const POINT_COLOUR = "#1565c0";
const IMPLAUSIBLE_COLOUR = "#d32f2f";
const FONT = "system-ui, -apple-system, 'PingFang SC', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif";

function mergeLabels(base, extra) {
  const out = { ...base };
  for (const [key, value] of Object.entries(extra || {})) {
    out[key] = value && typeof value === "object" && !Array.isArray(value)
      ? { ...(base[key] || {}), ...value }
      : value;
  }
  return out;
}

function fill(template, values) {
  return String(template).replace(/\{(\w+)\}/g, (_, k) => (values[k] ?? ""));
}

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== "") node.setAttribute(k, String(v));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(value) {
  // Tick labels: integers plainly, otherwise up to 2 decimals.
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
}

// Spread labels vertically so none overlap (minimum gap in px).
function spread(items, gap, top, bottom) {
  items.sort((a, b) => a.y - b.y);
  for (let i = 1; i < items.length; i++) {
    if (items[i].y - items[i - 1].y < gap) items[i].y = items[i - 1].y + gap;
  }
  const overflow = items.length ? items[items.length - 1].y - bottom : 0;
  if (overflow > 0) for (const it of items) it.y -= overflow;
  for (const it of items) it.y = Math.max(top, it.y);
  return items;
}

export function renderGrowthChart(container, chartData, options = {}) {
  if (!container) throw new Error("renderGrowthChart: no container");
  if (!chartData || chartData.schema !== SCHEMA) {
    throw new Error(`renderGrowthChart: expected chart data with schema ${SCHEMA}`);
  }
  const lang = options.lang === "en" ? "en" : "zh";
  const L = mergeLabels(labelsFor(lang), options.labels);
  const d = chartData;

  const width = Math.round(options.width || Math.max(320, Math.min(960, container.clientWidth || 640)));
  const height = Math.round(options.height || Math.max(280, Math.min(600, width * 0.72)));
  const narrow = width < 480;
  const fontSize = narrow ? 11 : 12;
  const band = d.target_band;
  // One extra line under the title for the target-height legend.
  const m = { top: band ? 50 : 34, right: narrow ? 34 : 40, bottom: 42, left: narrow ? 40 : 48 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;

  const xs = (x) => m.left + ((x - d.x.min) / (d.x.max - d.x.min)) * plotW;
  const ys = (y) => m.top + plotH - ((y - d.y.min) / (d.y.max - d.y.min)) * plotH;

  const name = L.titles[d.indicator] || d[`title_${lang}`] || d.indicator;
  const sexLabel = L.sex[d.sex] || d.sex;
  const title = lang === "en" ? `${name} (${sexLabel})` : `${name}（${sexLabel}）`;
  const svg = el("svg", {
    xmlns: SVG_NS, viewBox: `0 0 ${width} ${height}`, width: "100%",
    preserveAspectRatio: "xMidYMid meet", role: "img", "aria-label": title,
    "font-family": FONT, "font-size": fontSize, class: "growth-chart",
  });
  svg.style.maxWidth = "100%";
  svg.style.height = "auto";
  svg.appendChild(el("title", {}, title));
  svg.appendChild(el("rect", { x: 0, y: 0, width, height, fill: "#fff" }));

  // Clip so curves and the band never spill over the axes.
  const clipId = `gc-clip-${Math.random().toString(36).slice(2, 9)}`;
  const defs = el("defs");
  const clip = el("clipPath", { id: clipId });
  clip.appendChild(el("rect", { x: m.left, y: m.top, width: plotW, height: plotH }));
  defs.appendChild(clip);
  svg.appendChild(defs);

  // Title
  svg.appendChild(el("text", {
    x: m.left, y: 20, "font-size": fontSize + 3, "font-weight": 600, fill: "#222",
  }, title));

  // Grid, ticks, tick labels
  const grid = el("g", { class: "gc-grid", stroke: "#e6e6e6", "stroke-width": 1 });
  const tickLabels = el("g", { class: "gc-ticks", fill: "#555" });
  for (const t of d.x.ticks || []) {
    const x = xs(t);
    if (x < m.left - 0.5 || x > m.left + plotW + 0.5) continue;
    grid.appendChild(el("line", { x1: x, x2: x, y1: m.top, y2: m.top + plotH }));
    tickLabels.appendChild(el("text", { x, y: m.top + plotH + fontSize + 4, "text-anchor": "middle" }, fmt(t)));
  }
  for (const t of d.y.ticks || []) {
    const y = ys(t);
    if (y < m.top - 0.5 || y > m.top + plotH + 0.5) continue;
    grid.appendChild(el("line", { x1: m.left, x2: m.left + plotW, y1: y, y2: y }));
    tickLabels.appendChild(el("text", { x: m.left - 5, y: y + fontSize / 3, "text-anchor": "end" }, fmt(t)));
  }
  svg.appendChild(grid);
  svg.appendChild(el("rect", {
    x: m.left, y: m.top, width: plotW, height: plotH, fill: "none", stroke: "#999", "stroke-width": 1,
  }));
  svg.appendChild(tickLabels);

  // Axis titles
  const xKey = d.x.quantity === "age" ? d.x.unit : d.x.quantity;
  svg.appendChild(el("text", {
    x: m.left + plotW / 2, y: height - 8, "text-anchor": "middle", fill: "#333",
  }, L.x[xKey] || `${d.x.quantity} (${d.x.unit})`));
  const yLabelX = 12;
  const yLabelY = m.top + plotH / 2;
  svg.appendChild(el("text", {
    x: yLabelX, y: yLabelY, "text-anchor": "middle", fill: "#333",
    transform: `rotate(-90 ${yLabelX} ${yLabelY})`,
  }, L.y[d.y.quantity] || `${d.y.quantity} (${d.y.unit})`));

  const plot = el("g", { "clip-path": `url(#${clipId})` });
  svg.appendChild(plot);

  // Target-height band (height charts, at the adult end), with a legend line
  // under the title rather than a label inside the crowded adult end.
  if (band) {
    const x1 = xs(band.x_from);
    const x2 = xs(band.x_to);
    const g = el("g", { class: "gc-target" });
    g.appendChild(el("rect", {
      x: x1, y: ys(band.y_high), width: Math.max(2, x2 - x1), height: ys(band.y_low) - ys(band.y_high),
      fill: "#1e88e5", "fill-opacity": 0.15, stroke: "#1e88e5", "stroke-opacity": 0.6,
    }));
    g.appendChild(el("line", {
      x1, x2, y1: ys(band.y_target), y2: ys(band.y_target), stroke: "#1565c0", "stroke-width": 2,
    }));
    const tip = el("title", {}, `${L.target}: ${band.y_low}–${band.y_high} cm (${band.y_target} cm)`);
    g.appendChild(tip);
    plot.appendChild(g);
    const legend = el("g", { class: "gc-legend", "font-size": fontSize - 1 });
    legend.appendChild(el("rect", {
      x: m.left, y: 29, width: 14, height: 9, fill: "#1e88e5", "fill-opacity": 0.15,
      stroke: "#1e88e5", "stroke-opacity": 0.6,
    }));
    legend.appendChild(el("line", { x1: m.left, x2: m.left + 14, y1: 33.5, y2: 33.5, stroke: "#1565c0", "stroke-width": 2 }));
    legend.appendChild(el("text", { x: m.left + 19, y: 37.5, fill: "#1565c0" },
      `${L.target} ${band.y_low}–${band.y_high} cm`));
    svg.appendChild(legend);
  }

  // Percentile curves
  const endLabels = [];
  for (const curve of d.curves || []) {
    const style = CURVE_STYLE[curve.percentile] || { stroke: "#888", width: 1, dash: "" };
    const g = el("g", {
      class: `gc-curve gc-p${curve.percentile}`, fill: "none", stroke: style.stroke,
      "stroke-width": style.width, "stroke-dasharray": style.dash, "stroke-linejoin": "round",
    });
    let last = null;
    for (const seg of curve.segments || []) {
      if (!seg.length) continue;
      const path = seg.map(([x, y], i) => `${i ? "L" : "M"}${xs(x).toFixed(1)},${ys(y).toFixed(1)}`).join("");
      g.appendChild(el("path", { d: path }));
      const end = seg[seg.length - 1];
      if (!last || end[0] >= last[0]) last = end;
    }
    plot.appendChild(g);
    if (last) endLabels.push({ y: ys(last[1]), text: fill(L.percentile, { p: curve.percentile }), colour: style.stroke });
  }
  const labelGroup = el("g", { class: "gc-curve-labels", "font-size": fontSize - 1 });
  for (const item of spread(endLabels, fontSize, m.top + fontSize / 2, m.top + plotH)) {
    labelGroup.appendChild(el("text", { x: m.left + plotW + 3, y: item.y + fontSize / 3, fill: item.colour }, item.text));
  }
  svg.appendChild(labelGroup);

  // The child's measurements, joined in time order (plausible ones only: an
  // implausible value is shown as a hollow red marker, not as part of the line)
  const points = (d.points || []).slice().sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  const ok = points.filter((p) => p.status === "ok");
  const py = (p) => ys(p.y_plot ?? p.y);
  const pts = el("g", { class: "gc-points" });
  if (ok.length > 1) {
    pts.appendChild(el("polyline", {
      points: ok.map((p) => `${xs(p.x).toFixed(1)},${py(p).toFixed(1)}`).join(" "),
      fill: "none", stroke: POINT_COLOUR, "stroke-width": 1.6,
    }));
  }
  for (const p of points) {
    const implausible = p.status !== "ok";
    const c = el("circle", {
      cx: xs(p.x).toFixed(1), cy: py(p).toFixed(1), r: narrow ? 3.5 : 4,
      fill: implausible ? "#fff" : POINT_COLOUR,
      stroke: implausible ? IMPLAUSIBLE_COLOUR : "#fff", "stroke-width": implausible ? 2 : 1,
      class: implausible ? "gc-point gc-implausible" : "gc-point",
    });
    // A preterm child's point is plotted at its corrected age; the tip gives both.
    const corrected = lang === "en" ? p.corrected_age_text_en : p.corrected_age_text_zh;
    const age = (lang === "en" ? p.age_text_en : p.age_text_zh) + (corrected ? fill(L.corrected, { age: corrected }) : "");
    let tip = fill(L.point, { date: p.date, age, value: p.y, unit: d.y.unit });
    tip += lang === "en" ? "; " : "；";
    tip += implausible ? L.implausible : fill(L.z, { z: p.z, pct: p.percentile });
    c.appendChild(el("title", {}, tip));
    pts.appendChild(c);
  }
  svg.appendChild(pts);

  // Which standard the curves are (recorded on the chart itself)
  const source = (d.standards || []).map((s) => `WHO ${s.version}`).join(" / ");
  if (source) {
    svg.appendChild(el("text", {
      x: width - m.right, y: 20, "text-anchor": "end", fill: "#888", "font-size": fontSize - 2,
    }, source));
  }

  if (typeof container.replaceChildren === "function") container.replaceChildren(svg);
  else {
    while (container.firstChild) container.removeChild(container.firstChild);
    container.appendChild(svg);
  }
  return svg;
}
