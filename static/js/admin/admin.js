// The admin page: asks for the admin key once per tab, then shows the quality report and
// the delivery status of events. Everything re-renders from the last data on a language
// switch, so no request is repeated for that.
import { applyStrings, installLangSwitch, t } from "../i18n.js";
import { adminKey, ApiError, getEvents, getReport, getTargets, retryEvent, setAdminKey } from "./api.js";
import { renderEvents, renderTargets } from "./deliveries.js";
import { renderReport } from "./report.js";
import { el } from "./tables.js";

const $ = (id) => document.getElementById(id);
const last = { report: null, events: null, targets: null, said: null };

function say(key, vars = {}, isError = false) {
  last.said = key ? { key, vars, isError } : null; // kept to be said again in the other language
  const status = $("status");
  status.textContent = key ? t(key, vars) : "";
  status.className = isError ? "error" : "muted";
}

function failed(error) {
  if (error instanceof ApiError && error.code === "no_key") return say("admin.key.missing", {}, true);
  say("admin.error", { detail: error.detail || error.message }, true);
}

function isoDay(date) {
  // The hospital's calendar day (Asia/Shanghai), as the report's periods are.
  return date.toLocaleDateString("en-CA", { timeZone: "Asia/Shanghai" });
}

function render() {
  if (last.said) say(last.said.key, last.said.vars, last.said.isError);
  if (last.report) $("report").replaceChildren(renderReport(last.report));
  if (last.events || last.targets) {
    $("events").replaceChildren(
      el("h3", { text: t("admin.events.targets") }), renderTargets(last.targets || []),
      el("h3", { text: t("admin.events.recent") }), renderEvents(last.events || [], retry));
  }
}

async function loadReport() {
  say("admin.loading");
  try {
    last.report = await getReport($("from").value, $("to").value);
    render();
    say("");
  } catch (error) {
    failed(error);
  }
}

async function loadEvents() {
  try {
    const [events, targets] = await Promise.all([getEvents($("event-status").value), getTargets()]);
    last.events = events.events;
    last.targets = targets.targets;
    render();
  } catch (error) {
    failed(error);
  }
}

async function retry(eventId) {
  try {
    await retryEvent(eventId);
    say("admin.events.retried");
    setTimeout(loadEvents, 1500); // give the dispatcher a moment, then show the outcome
  } catch (error) {
    failed(error);
  }
}

function start() {
  applyStrings();
  installLangSwitch($("lang"));
  document.addEventListener("langchange", render);
  const today = new Date();
  $("to").value = isoDay(today);
  $("from").value = isoDay(new Date(today.getTime() - 29 * 86400000));
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setAdminKey($("key").value.trim());
    $("key").value = "";
    say("");
    loadReport();
    loadEvents();
  });
  $("forget").addEventListener("click", () => {
    setAdminKey("");
    last.report = last.events = last.targets = null;
    $("report").replaceChildren();
    $("events").replaceChildren();
    say("admin.key.missing");
  });
  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadReport();
  });
  $("refresh-events").addEventListener("click", loadEvents);
  $("event-status").addEventListener("change", loadEvents);
  if (adminKey()) {
    loadReport();
    loadEvents();
  } else {
    say("admin.key.missing");
  }
}

start();
