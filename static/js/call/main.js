// Entry point of /join: take the link's token, ask the server who we are and which consult
// this is, then hand over to the physician's or the guardian's flow.
//
// Browser floor: Chrome / Android WebView ≥ 86 (WeChat's XWeb) and Safari / iOS ≥ 14.3 (the
// first iOS whose in-app web views — WeChat's included — may use the camera). The modules use
// ES2021 syntax and DOM APIs those versions have (replaceChildren, ??=); <dialog> falls back
// to confirm() where it is missing.
import { applyStrings, installLangSwitch, t } from "../i18n.js";
import { Api } from "./api.js";
import { LocalMedia } from "./devices.js";
import { runGuardian } from "./guardian.js";
import { takeJoinToken } from "./join-token.js";
import { showDead, showDeadForApiError, showEnded } from "./outcome.js";
import { runPhysician } from "./physician.js";
import { currentScreen, show } from "./screens.js";
import { installRetranslate, setText } from "./text.js";

const ROLES = new Set(["physician", "guardian"]);

function setTitle() {
  document.title = t("call.page_title");
}

async function boot(ctx) {
  show("loading");
  const token = takeJoinToken();
  if (!token) {
    showDead("no_token");
    return;
  }
  ctx.token = token;
  ctx.api = new Api(token);
  let session;
  try {
    session = await ctx.api.session();
    if (!ROLES.has(session.role) || !session.consult_id) {
      showDead("forbidden");
      return;
    }
    ctx.consult = await ctx.api.consult(session.consult_id);
  } catch (error) {
    showDeadForApiError(error);
    return;
  }
  ctx.role = session.role;
  document.body.dataset.role = session.role;
  const { specialty } = ctx.consult;
  setText(document.getElementById("bar-context"), "call.bar.context", {
    role: { key: `call.role.${session.role}` }, specialty: { zh: specialty.zh, en: specialty.en },
  });

  switch (ctx.consult.state) {
    case "ended":
    case "archived":
      showEnded(ctx.consult, ctx.consult.outcome, session.role);
      return;
    case "cancelled":
    case "no_show":
      showDead(ctx.consult.state);
      return;
    default:
      break;
  }
  ctx.local = new LocalMedia();
  if (session.role === "guardian") await runGuardian(ctx);
  else await runPhysician(ctx);
}

const ctx = { live: null };
// For automation (tests/browser): the peer connection for getStats(), the socket, the name
// of the screen on show and the last still taken. Read-only getters, so they always reflect
// the current objects.
window.__shouzhen = {
  get pc() {
    return ctx.live?.pc || null;
  },
  get socket() {
    return ctx.live?.socket || null;
  },
  get state() {
    return currentScreen();
  },
  // The guardian's last photo as taken on the phone (size, method, the camera's settings).
  get lastStill() {
    return ctx.lastStill || null;
  },
};

applyStrings();
installRetranslate();
installLangSwitch(document.getElementById("lang"));
setTitle();
document.addEventListener("langchange", setTitle);
boot(ctx).catch(() => showDead("error"));
