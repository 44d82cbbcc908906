// The physician's full-size view of one photo, or of two side by side (e.g. before and
// after a retake, left and right cheek), each zoomable on its own.
import { photoCaption } from "./photo-caption.js";
import { el, setText } from "./text.js";
import { ZoomPane } from "./zoom-pane.js";

const $ = (id) => document.getElementById(id);

export class PhotoViewer {
  /** @param {import("./photo-blobs.js").PhotoBlobs} blobs */
  constructor(blobs, sites) {
    this.blobs = blobs;
    this.sites = sites; // () => the body-site list (for names)
    this.dialog = $("photo-viewer");
    this.panes = [];
    $("viewer-close").addEventListener("click", () => this.dialog.close());
    $("viewer-zoom-in").addEventListener("click", () => this.panes.forEach((p) => p.zoomBy(1.5)));
    $("viewer-zoom-out").addEventListener("click", () => this.panes.forEach((p) => p.zoomBy(1 / 1.5)));
    $("viewer-reset").addEventListener("click", () => this.panes.forEach((p) => p.reset()));
  }

  /** Show one photo, or two side by side. */
  open(photos) {
    setText($("viewer-title"), photos.length > 1 ? "call.photo.compare_title" : "call.photo.view_title");
    this.panes = [];
    $("viewer-panes").replaceChildren(...photos.map((photo) => this.pane(photo)));
    $("viewer-panes").dataset.count = String(photos.length);
    if (typeof this.dialog.showModal === "function") this.dialog.showModal();
    else this.dialog.setAttribute("open", "");
  }

  pane(photo) {
    const img = el("img", { class: "viewer-image", alt: "", draggable: "false" });
    const frame = el("div", { class: "zoom-frame" }, img);
    this.panes.push(new ZoomPane(frame, img));
    this.blobs.show(img, photo.url);
    return el("figure", { class: "viewer-pane", dataset: { photoId: photo.id } },
      frame, el("figcaption", {}, photoCaption(photo, this.sites())));
  }
}
