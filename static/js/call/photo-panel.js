// The physician's photos card in the call: ask the guardian's phone for a photo of a body
// site (`capture_request`), and the gallery of what arrives (`photo_captured`): device
// stills and stream stills side by side, quality flags in words, a one-click retake for
// a photo flagged `needs_retake`, a full-size zoomable view, and a two-photo compare.
import { t } from "../i18n.js";
import { loadBodySites } from "./body-sites.js";
import { photoCaption } from "./photo-caption.js";
import { PhotoBlobs } from "./photo-blobs.js";
import { PhotoViewer } from "./photo-viewer.js";
import { announce } from "./screens.js";
import { el, setText, showMessage } from "./text.js";

const $ = (id) => document.getElementById(id);
const EXPLAINED_ERRORS = new Set(["guardian_presence_required", "transition_not_allowed", "invalid_payload"]);
const REGIONS = ["head_neck", "trunk", "upper_limb", "lower_limb", "perineum_genitals", "other"];

export class PhotoPanel {
  constructor({ api, live, consultId, token }) {
    this.api = api;
    this.live = live;
    this.consultId = consultId;
    this.sites = [];
    this.photos = new Map(); // id → photo, in arrival order
    this.selected = new Set(); // ids ticked for comparing
    this.blobs = new PhotoBlobs(token);
    this.viewer = new PhotoViewer(this.blobs, () => this.sites);

    this.site = $("capture-site");
    this.side = $("capture-side");
    this.status = $("capture-request-status");
    this.site.addEventListener("change", () => this.fillSides());
    $("capture-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.request();
    });
    $("compare-button").addEventListener("click", () => this.compare());
    this.loadSites();
  }

  async loadSites() {
    try {
      this.sites = await loadBodySites();
    } catch {
      showMessage(this.status, "call.photo.sites_failed");
      return;
    }
    const groups = REGIONS.map((region) => {
      const sites = this.sites.filter((site) => site.region === region);
      if (!sites.length) return null;
      // An optgroup's label is an attribute: text.js re-renders data-i18n-label on a switch.
      const key = region === "other" ? "call.photo.region_other" : `call.region.${region}`;
      const group = el("optgroup", { dataset: { i18nLabel: key } });
      group.label = t(key);
      group.append(...sites.map((site) => el("option", { value: site.code, text: "call.value", vars: { value: { zh: site.zh, en: site.en } } })));
      return group;
    }).filter(Boolean);
    this.site.replaceChildren(el("option", { value: "", text: "call.intake.choose" }), ...groups);
    this.fillSides();
    this.rerender(); // captions written before the names arrived
  }

  /** Only the sides this site allows (server/photos/body_sites.py): midline for the nose, etc. */
  fillSides() {
    const site = this.sites.find((s) => s.code === this.site.value);
    const allowed = site?.lateralities || ["left", "right", "midline", "bilateral"];
    const previous = this.side.value;
    this.side.replaceChildren(...allowed.map((side) => el("option", { value: side, text: `call.photo.side_choice.${side}` })));
    if (allowed.includes(previous)) this.side.value = previous;
    $("capture-side-field").hidden = allowed.length < 2;
  }

  async request(retakeOf = null) {
    const original = retakeOf ? this.photos.get(retakeOf) : null;
    const body = original
      ? { body_site: original.body_site, laterality: original.laterality, view: original.view || "close_up", retake_of: original.id }
      : { body_site: this.site.value, laterality: this.side.value, view: $("capture-form").elements.view.value };
    if (!body.body_site) {
      showMessage(this.status, "call.photo.choose_site");
      this.site.focus();
      return;
    }
    const button = $("capture-button");
    button.disabled = true;
    try {
      await this.live.requestCapture(body);
      const vars = { site: { key: "call.photo.site_label", vars: this.labelVars(body) } };
      showMessage(this.status, retakeOf ? "call.photo.retake_requested" : "call.photo.requested", vars);
      this.status.classList.remove("error");
    } catch (error) {
      this.status.classList.add("error");
      showMessage(this.status, EXPLAINED_ERRORS.has(error.code) ? `call.photo.error.${error.code}` : "call.error.action",
        { code: error.code });
    } finally {
      button.disabled = false;
    }
  }

  labelVars(body) {
    const site = this.sites.find((s) => s.code === body.body_site);
    return {
      site: site ? { zh: site.zh, en: site.en } : body.body_site,
      side: body.laterality && body.laterality !== "midline" ? { key: `call.photo.side.${body.laterality}` } : "",
      view: { key: `call.photo.view.${body.view}` },
    };
  }

  /** Photos already stored (a reload in the middle of the call, gallery uploads before it). */
  async loadExisting() {
    try {
      const { photos } = await this.api.photos(this.consultId);
      for (const photo of photos) this.add(photo, { quiet: true });
    } catch {
      // The live events still fill the gallery.
    }
  }

  add(photo, { quiet = false } = {}) {
    if (!photo?.id) return;
    this.photos.set(photo.id, photo);
    this.rerender();
    if (!quiet) announce(photo.needs_retake ? "call.photo.arrived_retake" : "call.photo.arrived");
  }

  rerender() {
    const items = [...this.photos.values()].reverse().map((photo) => this.card(photo));
    $("gallery").replaceChildren(...items);
    $("gallery-empty").hidden = items.length > 0;
    this.updateCompare();
  }

  card(photo) {
    const thumb = el("img", { class: "thumb", alt: "", width: 160, height: 120 });
    this.blobs.show(thumb, photo.thumbnail_url);
    const open = el("button", { type: "button", class: "thumb-button", label: "call.photo.open",
      onclick: () => this.viewer.open([photo]) }, thumb);
    const pick = el("input", { type: "checkbox", checked: this.selected.has(photo.id),
      onchange: (event) => this.toggle(photo.id, event.target.checked) });
    const actions = el("div", { class: "photo-actions" },
      el("label", { class: "check compare-pick" }, pick, el("span", { text: "call.photo.pick" })));
    if (photo.needs_retake && photo.body_site) {
      actions.append(el("button", { type: "button", class: "retake", text: "call.photo.retake",
        onclick: () => this.request(photo.id) }));
    }
    return el("li", { class: photo.needs_retake ? "photo-card needs-retake" : "photo-card", dataset: { photoId: photo.id, source: photo.source } },
      open, el("div", { class: "photo-info" }, photoCaption(photo, this.sites), actions));
  }

  toggle(id, on) {
    if (on) this.selected.add(id);
    else this.selected.delete(id);
    // Comparing is two at a time: ticking a third unticks the oldest pick.
    if (this.selected.size > 2) {
      this.selected.delete(this.selected.values().next().value);
      this.rerender();
    }
    this.updateCompare();
  }

  updateCompare() {
    const button = $("compare-button");
    button.disabled = this.selected.size !== 2;
    setText(button, "call.photo.compare", { n: this.selected.size });
  }

  compare() {
    const photos = [...this.selected].map((id) => this.photos.get(id)).filter(Boolean);
    if (photos.length === 2) this.viewer.open(photos);
  }

  close() {
    if (this.viewer.dialog.open) this.viewer.dialog.close();
    this.blobs.clear();
  }
}
