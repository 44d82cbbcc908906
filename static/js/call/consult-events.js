// What both roles do with the live consult's events once the call screen exists: feed the
// call screen, and leave the page in the right final state (outcome, replaced, dead link).
// Each role's flow adds its own handlers (waiting room, admit, …) on top of these.
import { showDead, showEnded } from "./outcome.js";
import { show } from "./screens.js";

const KNOWN_MEDIA_ERRORS = new Set(["unsupported_codecs", "media_unavailable", "invalid_sdp", "transition_not_allowed"]);

export function commonHandlers(ctx, callScreen) {
  const stopEverything = () => {
    callScreen.close();
    ctx.local.stop();
  };
  return {
    onPresence: (payload) => callScreen.setPresence(payload),
    onChat: (message) => callScreen.chat.receive(message),
    onRecording: (status) => callScreen.setRecording(status),
    onConnection: (state) => callScreen.setConnection(state),
    onMediaState: (state) => callScreen.setMediaState(state),
    onRemoteStream: (stream) => callScreen.setRemoteStream(stream),
    onMediaError: (code) => callScreen.showMediaError(KNOWN_MEDIA_ERRORS.has(code) ? code : "other"),
    onEnded: (outcome, detail) => {
      stopEverything();
      showEnded({ ...ctx.consult, outcome, outcome_detail: detail || ctx.consult.outcome_detail }, outcome,
        ctx.role);
    },
    onReplaced: () => {
      stopEverything();
      show("replaced");
    },
    onRefused: async (code, message) => {
      stopEverything();
      if (code === "consult_closed") {
        // Ended (show the outcome) or cancelled (say so): the consult itself tells.
        try {
          const consult = await ctx.api.consult(ctx.consult.id);
          ctx.consult = consult;
          if (consult.state === "ended" || consult.state === "archived") {
            showEnded(consult, consult.outcome, ctx.role);
            return;
          }
          showDead(consult.state in { cancelled: 1, no_show: 1 } ? consult.state : "consult_closed");
        } catch {
          showDead("consult_closed");
        }
        return;
      }
      showDead(code === "unauthenticated" && /expired/i.test(message || "") ? "expired" : code, message || "");
    },
  };
}

export function wireTakeBack() {
  // "Use it here instead": reconnecting from this tab replaces the other device.
  document.getElementById("take-back-button").onclick = () => location.reload();
  document.getElementById("rejoin-button").onclick = () => location.reload();
}
