// The physician's way through the page: a lobby (consult summary, the intake as submitted,
// the growth assessment for growth and nutrition consults, camera check, who is waiting,
// Admit), then the call with the physician's own controls (confirm a guardian is present,
// photos, end the consult with an outcome), then the outcome.
import { CallScreen } from "./call-screen.js";
import { commonHandlers, wireTakeBack } from "./consult-events.js";
import { closeEndDialog, endConsult, installQuickOutcomes } from "./end-consult.js";
import { GROWTH_SPECIALTIES, GrowthPanel, loadGrowth } from "./growth-panel.js";
import { renderIntakeInto } from "./intake-view.js";
import { LiveConsult } from "./live-consult.js";
import { PhotoPanel } from "./photo-panel.js";
import { Precheck } from "./precheck.js";
import { announce, show } from "./screens.js";
import { renderSummary } from "./summary.js";
import { setText, showMessage } from "./text.js";

const $ = (id) => document.getElementById(id);

export async function runPhysician(ctx) {
  const { api, local } = ctx;
  wireTakeBack();
  const precheck = new Precheck($("lobby-precheck-slot"), local, {
    token: ctx.token, introKey: "call.precheck.intro_desktop",
  });
  const live = new LiveConsult({ token: ctx.token, role: "physician", local });
  const callScreen = new CallScreen({ role: "physician", local, live });
  const common = commonHandlers(ctx, callScreen);
  ctx.live = live;
  const photos = new PhotoPanel({ api, live, consultId: ctx.consult.id, token: ctx.token });
  const growth = GROWTH_SPECIALTIES.has(ctx.consult.specialty.code)
    ? [new GrowthPanel($("lobby-growth")), new GrowthPanel($("call-growth"), { chartWidth: 356 })] : null;
  $("lobby-growth-card").hidden = !growth;
  $("call-growth-card").hidden = !growth;
  const refreshGrowth = () => growth && loadGrowth(api, ctx.consult.id, growth);

  const renderConsult = () => {
    renderSummary($("lobby-summary"), ctx.consult);
    renderIntakeInto($("lobby-intake"), ctx.consult.intake);
    renderIntakeInto($("call-intake"), ctx.consult.intake);
    showConfirmed(ctx.consult.guardian_confirmed_at);
  };

  // The guardian may still correct the intake in the waiting room: read it again when
  // they arrive.
  const refreshConsult = async () => {
    try {
      ctx.consult = await api.consult(ctx.consult.id);
      renderConsult();
      refreshGrowth();
    } catch {
      // Keep what is shown; the next event tries again.
    }
  };

  let waitingGuardian = null;
  const showWaiting = (guardian, since) => {
    waitingGuardian = guardian;
    const node = $("lobby-waiting");
    if (guardian) {
      setText(node, since ? "call.lobby.waiting_since" : "call.lobby.waiting_now", {
        name: guardian.name, relationship: { key: `call.relationship.${guardian.relationship}` },
        since: since ? { time: since } : "",
      });
    } else {
      setText(node, "call.lobby.nobody");
    }
    node.classList.toggle("waiting-now", Boolean(guardian));
    $("admit-button").disabled = !guardian;
  };

  const enterCall = async () => {
    if (callScreen.entered) return;
    if (!local.started) await precheck.start();
    precheck.close();
    callScreen.enter();
    photos.loadExisting();
    await live.startCall();
  };

  function showConfirmed(at) {
    const confirmed = Boolean(at);
    $("confirm-guardian").hidden = confirmed;
    if (confirmed) setText($("guardian-confirmed-text"), "call.physician.confirmed_at", { at: { time: at } });
    else setText($("guardian-confirmed-text"), "call.physician.confirm_help");
  }

  $("admit-button").addEventListener("click", async () => {
    showMessage($("lobby-error"), null);
    if (!local.started && !(await precheck.start())) {
      showMessage($("lobby-error"), "call.precheck.need_device");
      return;
    }
    $("admit-button").disabled = true;
    try {
      await live.admit();
      await enterCall();
    } catch (error) {
      $("admit-button").disabled = !waitingGuardian;
      showMessage($("lobby-error"), "call.error.action", { code: error.code });
    }
  });

  $("resume-button").addEventListener("click", () => enterCall());

  $("confirm-guardian").addEventListener("click", async () => {
    showMessage($("physician-error"), null);
    $("confirm-guardian").disabled = true;
    try {
      const result = await live.confirmGuardianPresent();
      showConfirmed(result.confirmed_at || new Date().toISOString());
      announce("call.announce.guardian_confirmed");
    } catch (error) {
      showMessage($("physician-error"), "call.error.action", { code: error.code });
    } finally {
      $("confirm-guardian").disabled = false;
    }
  });

  $("end-consult").addEventListener("click", () => endConsult(live, $("physician-error")));
  installQuickOutcomes(live, $("physician-error"));

  live.setHandlers({
    ...common,
    onJoined: (result) => {
      ctx.consult = { ...ctx.consult, ...(result.consult || {}) };
      if (result.recording) callScreen.setRecording(result.recording.status || result.recording);
      const state = ctx.consult.state;
      if (state === "waiting") showWaiting(result.waiting?.guardian || ctx.consult.guardian, result.waiting?.since);
      // Back on the page while the call is on (a reload): a tap to resume, which also lets
      // the browser start the sound.
      $("resume-button").hidden = !(state === "in_call" && !callScreen.entered);
      $("admit-button").hidden = state === "in_call";
    },
    onJoinRefused: (error) => showMessage($("lobby-error"), "call.error.join", { code: error.code }),
    onWaiting: (payload) => {
      showWaiting(payload?.guardian || ctx.consult.guardian, payload?.since);
      announce("call.announce.guardian_waiting", { name: (payload?.guardian || ctx.consult.guardian).name });
      refreshConsult();
    },
    onAdmitted: () => enterCall(),
    onPresence: (payload) => {
      if (!callScreen.entered && payload?.role === "guardian" && ["left", "interrupted"].includes(payload.status)) {
        showWaiting(null);
      }
      callScreen.setPresence(payload);
    },
    onGuardianConfirmed: (payload) => showConfirmed(payload?.confirmed_at || new Date().toISOString()),
    onConsultState: (payload) => {
      if (payload?.state) ctx.consult.state = payload.state;
    },
    onPhotoCaptured: (photo) => photos.add(photo),
    onEnded: (outcome, detail) => {
      closeEndDialog();
      photos.close();
      common.onEnded(outcome, detail);
    },
  });

  renderConsult();
  refreshGrowth();
  showWaiting(ctx.consult.state === "waiting" ? ctx.consult.guardian : null, null);
  show("lobby");
  try {
    await live.connect();
  } catch {
    showMessage($("lobby-error"), "call.error.network");
  }
}
