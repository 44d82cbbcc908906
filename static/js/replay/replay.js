// The auditor's replay page: the key (this tab only), the consult list with filters and
// paging, and one consult with both recordings on one clock. A consult can be opened by
// link: /static/replay.html#consult=<id> (the key is never in the URL).
import { applyStrings, installLangSwitch, t } from "../i18n.js";
import { el, installRetranslate, setText } from "../call/text.js";
import { renderIntakeInto } from "../call/intake-view.js";
import {
  ApiError, auditorKey, getConsult, grantPlayback, imageUrl, listConsults, setAuditorKey,
  verifyConsult,
} from "./api.js";
import {
  formatInstant, formatOffset, renderHolds, renderMarks, renderOutcome, renderPhotos,
  renderRetention, renderSummary, renderTimeline, renderVerification,
} from "./consult-view.js";
import { SyncPlayer } from "./sync-player.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;
// A grant lasts two hours; ask for a new one a little before.
const GRANT_REFRESH_MS = 100 * 60 * 1000;

const state = {
  offset: 0, total: 0, list: null, view: null, grant: null, grantAt: 0, player: null,
  objectUrls: [],
};

function say(key, vars = {}, isError = false) {
  const status = $("status");
  if (!key) {
    status.textContent = "";
    delete status.dataset.callKey;
    return;
  }
  setText(status, key, vars);
  status.className = isError ? "error" : "muted";
}

function failed(error) {
  if (error instanceof ApiError && error.code === "no_key") return say("replay.key.missing", {}, true);
  if (error instanceof ApiError && error.status === 403) return say("replay.error.forbidden", {}, true);
  if (error instanceof ApiError && error.status === 401) return say("replay.error.unauthenticated", {}, true);
  say("replay.error", { detail: error.detail || error.message }, true);
}

// -- the list -------------------------------------------------------------------------------

function filters() {
  const form = new FormData($("filters"));
  return { ...Object.fromEntries(form.entries()), limit: PAGE_SIZE, offset: state.offset };
}

function renderList() {
  const rows = state.list || [];
  if (!rows.length) {
    $("list").replaceChildren(el("p", { class: "muted", text: "replay.none" }));
  } else {
    const head = ["replay.col.when", "replay.col.specialty", "replay.col.physician",
      "replay.col.child", "replay.col.outcome", "replay.col.state", "replay.col.archive", ""];
    $("list").replaceChildren(el("table", { class: "consults" },
      el("thead", {}, el("tr", {}, ...head.map((key) => (key ? el("th", { text: key }) : el("th"))))),
      el("tbody", {}, ...rows.map((c) => el("tr", { dataset: { consult: c.id } },
        el("td", {}, formatInstant(c.scheduled_start, true)),
        el("td", { text: "replay.value", vars: { value: { zh: c.specialty.zh, en: c.specialty.en } } }),
        el("td", {}, c.physician.name),
        el("td", {}, c.child.name, c.child.patient_id ? el("span", { class: "muted small" }, ` ${c.child.patient_id}`) : ""),
        el("td", {}, c.outcome ? el("span", { text: `replay.outcome.${c.outcome}` }) : "—",
          c.referral_reference ? el("span", { class: "muted small" }, ` ${c.referral_reference}`) : ""),
        el("td", { text: `replay.state.${c.state}` }),
        el("td", {}, el("span", { text: c.sealed ? "replay.sealed" : "replay.not_sealed", class: c.sealed ? "ok" : "muted" }),
          c.legal_hold ? el("span", { class: "warn", text: "replay.held" }) : ""),
        el("td", {}, el("button", { type: "button", class: "small", text: "replay.open",
          onclick: () => openConsult(c.id) })))))));
  }
  const first = state.total ? state.offset + 1 : 0;
  setText($("page-info"), "replay.page", { from: first, to: state.offset + rows.length, total: state.total });
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + rows.length >= state.total;
}

async function loadList() {
  say("replay.loading");
  try {
    const page = await listConsults(filters());
    state.list = page.consults;
    state.total = page.total;
    renderList();
    say("");
  } catch (error) {
    failed(error);
  }
}

// -- one consult ----------------------------------------------------------------------------

async function grant(consultId) {
  if (!state.grant || state.grant.consultId !== consultId || Date.now() - state.grantAt > GRANT_REFRESH_MS) {
    state.grant = { consultId, ...(await grantPlayback(consultId)) };
    state.grantAt = Date.now();
  }
  return state.grant;
}

function closeConsult() {
  state.player?.destroy();
  state.player = null;
  state.view = null;
  for (const url of state.objectUrls) URL.revokeObjectURL(url);
  state.objectUrls = [];
  $("consult").hidden = true;
  $("list-card").hidden = false;
  if (location.hash) history.replaceState(null, "", location.pathname);
}

async function openConsult(consultId) {
  say("replay.loading");
  try {
    const view = await getConsult(consultId);
    const playback = await grant(consultId);
    closeConsult();
    state.view = view;
    history.replaceState(null, "", `#consult=${encodeURIComponent(consultId)}`);
    $("list-card").hidden = true;
    $("consult").hidden = false;
    $("verification").replaceChildren();
    renderConsult();
    startPlayer(view, playback);
    say("");
    window.scrollTo(0, 0);
  } catch (error) {
    failed(error);
  }
}

function renderConsult() {
  const view = state.view;
  if (!view) return;
  setText($("consult-title"), "replay.consult.title", { id: view.consult.id });
  $("summary").replaceChildren(...renderSummary(view));
  $("outcome").replaceChildren(...renderOutcome(view.consult));
  renderIntakeInto($("intake"), view.consult.intake);
  $("photos").replaceChildren(...renderPhotos(view.photos, { thumbnail: showThumbnail, open: openPhoto }));
  $("holds").replaceChildren(...renderHolds(view.legal_holds));
  $("retention").replaceChildren(...renderRetention(view.retention));
  renderTimelines();
  $("verify").disabled = $("export").disabled = !view.archive;
}

function renderTimelines() {
  const view = state.view;
  const duration = view.recordings.duration_s;
  const seek = (t) => state.player?.seek(t);
  const showTechnical = $("show-technical").checked;
  $("timeline").replaceChildren(...renderTimeline(view.timeline, { duration, showTechnical, onSeek: seek }));
  $("after").replaceChildren(...renderTimeline(view.after_archiving, { duration, showTechnical: true, onSeek: seek }));
  $("marks").replaceChildren(...renderMarks(view.timeline, duration));
}

function startPlayer(view, playback) {
  const bySide = Object.fromEntries(view.recordings.participants.map((p) => [p.participant, p.segments]));
  const sides = ["physician", "guardian"].map((name) => ({
    name, video: $(`video-${name}`), gap: document.querySelector(`[data-side=${name}] .gap`),
    segments: bySide[name] || [] }));
  const duration = view.recordings.duration_s;
  const segments = sides.flatMap((s) => s.segments);
  const note = $("player-note");
  note.hidden = segments.length > 0 && segments.some((s) => s.state === "available");
  if (!note.hidden) setText(note, segments.length ? "replay.player.purged" : "replay.player.none");
  const seek = $("seek");
  seek.max = String(duration);
  seek.value = "0";
  state.player = new SyncPlayer({ sides, duration, urlOf: (segment) => playback.recordings[String(segment.id)] });
  state.player.addEventListener("time", (event) => showTime(event.detail.time, event.detail.playing));
  showTime(0, false);
}

function showTime(time, playing) {
  const view = state.view;
  if (!view) return;
  const seek = $("seek");
  if (!seek.matches(":active")) seek.value = String(time);
  $("clock").textContent = `${formatOffset(time)} / ${formatOffset(view.recordings.duration_s)}`;
  const origin = view.recordings.origin;
  if (origin) {
    setText($("wall-clock"), "replay.player.position", {
      at: formatInstant(new Date(new Date(origin).getTime() + time * 1000).toISOString(), true) });
  }
  const button = $("play");
  if (button.dataset.playing !== String(playing)) {
    button.dataset.playing = String(playing);
    setText(button, playing ? "replay.player.pause" : "replay.player.play");
  }
}

async function showThumbnail(photo, img) {
  try {
    const url = await imageUrl(photo.thumbnail_url);
    state.objectUrls.push(url);
    img.src = url;
  } catch {
    img.alt = t("replay.photo.unavailable");
  }
}

async function openPhoto(photo) {
  try {
    const url = await imageUrl(photo.url); // the full image: audited by the photo API
    state.objectUrls.push(url);
    $("photo-full").src = url;
    $("photo-dialog").showModal();
  } catch (error) {
    failed(error);
  }
}

async function verify() {
  const view = state.view;
  if (!view) return;
  $("verify").disabled = true;
  $("verification").replaceChildren(el("p", { class: "muted", text: "replay.verify.running" }));
  try {
    const result = await verifyConsult(view.consult.id);
    $("verification").replaceChildren(...renderVerification(result));
    state.lastVerification = result;
  } catch (error) {
    $("verification").replaceChildren();
    failed(error);
  } finally {
    $("verify").disabled = false;
  }
}

async function exportArchive() {
  const view = state.view;
  if (!view) return;
  try {
    const playback = await grant(view.consult.id);
    // A plain link download: streamed by the browser to disk, never held in memory here.
    const link = el("a", { href: playback.export_url, download: `shouzhen-consult-${view.consult.id}.tar` });
    document.body.append(link);
    link.click();
    link.remove();
    say("replay.export.started");
  } catch (error) {
    failed(error);
  }
}

// -- wiring ---------------------------------------------------------------------------------

function start() {
  applyStrings();
  installLangSwitch($("lang"));
  installRetranslate();
  document.addEventListener("langchange", () => {
    renderList();
    if (state.view) renderConsult();
    if (state.lastVerification && state.view) {
      $("verification").replaceChildren(...renderVerification(state.lastVerification));
    }
  });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setAuditorKey($("key").value.trim());
    $("key").value = "";
    state.offset = 0;
    const linked = new URLSearchParams(location.hash.slice(1)).get("consult");
    if (linked) openConsult(linked);
    else loadList();
  });
  $("forget").addEventListener("click", () => {
    setAuditorKey("");
    closeConsult();
    state.list = [];
    state.total = 0;
    renderList();
    say("replay.key.missing");
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.offset = 0;
    loadList();
  });
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    loadList();
  });
  $("next").addEventListener("click", () => {
    state.offset += PAGE_SIZE;
    loadList();
  });
  $("back").addEventListener("click", () => {
    closeConsult();
    loadList();
  });
  $("play").addEventListener("click", () => state.player?.toggle());
  $("seek").addEventListener("input", (event) => state.player?.seek(Number(event.target.value)));
  $("show-technical").addEventListener("change", renderTimelines);
  $("verify").addEventListener("click", verify);
  $("export").addEventListener("click", exportArchive);
  for (const box of document.querySelectorAll("[data-mute]")) {
    box.addEventListener("change", () => { $(`video-${box.dataset.mute}`).muted = box.checked; });
  }
  // Exposed for tests and for a reviewer's console: the one clock and both videos.
  window.__replay = { get player() { return state.player; }, get view() { return state.view; } };

  const linked = new URLSearchParams(location.hash.slice(1)).get("consult");
  if (!auditorKey()) {
    say("replay.key.missing");
    state.list = [];
    renderList();
    return;
  }
  if (linked) openConsult(linked);
  else loadList();
}

start();
