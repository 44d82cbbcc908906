// A photo's quality flags and guidance codes (server/photos/photo_quality.py) in plain words.
// Flags say what is wrong (for the physician); guidance says what to do (for the guardian).
import { el } from "./text.js";

const FLAGS = new Set(["blurry", "too_dark", "overexposed", "glare", "low_resolution",
  "below_minimum_resolution"]);
const GUIDANCE = new Set(["hold_still", "more_light", "less_light", "avoid_glare", "move_closer"]);

export function flagsOf(photo) {
  return (photo?.quality?.flags || []).filter((flag) => FLAGS.has(flag));
}

export function guidanceOf(photo) {
  return (photo?.quality?.guidance || []).filter((code) => GUIDANCE.has(code));
}

/** A <ul> of what to do differently, or null when the photo is fine. */
export function guidanceList(photo, className = "guidance") {
  const codes = guidanceOf(photo);
  if (!codes.length) return null;
  return el("ul", { class: className }, codes.map((code) => el("li", { text: `call.photo.guidance.${code}` })));
}
