// What a photo is, in a line or two: site, side and view; where it came from; its size and
// time; and what is wrong with it, if anything. Used by the gallery and the full-size view.
import { siteVars } from "./body-sites.js";
import { flagsOf } from "./photo-quality.js";
import { el } from "./text.js";

export function photoCaption(photo, sites) {
  const parts = [
    el("strong", { class: "photo-site", text: photo.body_site ? "call.photo.site_label" : "call.photo.no_site",
      vars: photo.body_site ? siteVars(photo, sites) : undefined }),
    el("span", { class: `photo-source source-${photo.source}`, text: `call.photo.source.${photo.source}` }),
    el("span", { class: "photo-meta muted small", text: "call.photo.meta",
      vars: { width: photo.width, height: photo.height, time: { time: photo.captured_at } } }),
  ];
  if (photo.needs_retake) parts.push(el("span", { class: "retake-badge", text: "call.photo.needs_retake" }));
  const flags = flagsOf(photo);
  if (flags.length) {
    parts.push(el("ul", { class: "photo-flags" },
      flags.map((flag) => el("li", { text: `call.photo.flag.${flag}` }))));
  }
  return parts;
}
