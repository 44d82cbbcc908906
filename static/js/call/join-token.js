// The join token arrives in the URL fragment (/join#<token>): it never reaches server logs
// or Referer headers. It is kept in sessionStorage (this tab only, survives a reload) and
// taken out of the address bar so that copying or sharing the page does not share the link.
const STORAGE_KEY = "shouzhen.join-token";

function looksLikeToken(text) {
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(text);
}

export function takeJoinToken() {
  const fragment = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (looksLikeToken(fragment)) {
    sessionStorage.setItem(STORAGE_KEY, fragment);
    history.replaceState(null, "", location.pathname + location.search);
  }
  const stored = sessionStorage.getItem(STORAGE_KEY);
  return stored && looksLikeToken(stored) ? stored : null;
}

/**
 * Put the link back into the address bar. Used only when the page tells someone in WeChat to
 * "open in browser": WeChat opens the address bar's URL, which without the fragment would
 * be a dead link.
 */
export function restoreLinkInAddressBar(token) {
  history.replaceState(null, "", `${location.pathname}${location.search}#${token}`);
}
