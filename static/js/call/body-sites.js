// The body sites a photo can be asked of (GET /api/body-sites: code, zh/en names, allowed
// lateralities), fetched once per page, and the words for a photo's site, side and view.
import { BODY_SITES } from "./intake-form.js";

let loading = null;

/** Resolves with [{code, zh, en, lateralities, region}], in the server's order. */
export function loadBodySites() {
  loading ??= fetch("/api/body-sites", { headers: { Accept: "application/json" } })
    .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
    .then((data) => data.body_sites.map((site) => ({ ...site, region: regionOf(site.code) })))
    .catch((error) => {
      loading = null; // try again next time: the list is needed, not optional
      throw error;
    });
  return loading;
}

// The region each code belongs to, from the intake form's grouping (the same codes).
const REGION_OF = Object.fromEntries(Object.entries(BODY_SITES).flatMap(([region, list]) =>
  list.split(" ").map((entry) => [entry.split(":")[0], region])));

function regionOf(code) {
  return REGION_OF[code] || "other";
}

/**
 * A photo's site as setText() variables for "call.photo.site_label": the server's own
 * name pair for the site, the side and view from the catalogue.
 */
export function siteVars(photo, sites) {
  const site = sites?.find((s) => s.code === photo.body_site);
  const name = site ? { zh: site.zh, en: site.en } : { key: `call.site.${photo.body_site}` };
  const side = photo.laterality && photo.laterality !== "midline"
    ? { key: `call.photo.side.${photo.laterality}` } : "";
  const view = photo.view ? { key: `call.photo.view.${photo.view}` } : "";
  return { site: name, side, view };
}
