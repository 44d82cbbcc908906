// The guardian's way through the page, one step per screen so that it can be done on an
// old phone one thumb at a time:
//   notice (who, when, recording notice) → intake → precheck (camera, mic) →
//   waiting room → call (with the doctor's photo requests) → outcome
// A reload or a reopened link resumes at the right step (notice already accepted, intake
// locked once the call has started, straight back into a call in progress).
import { CallScreen } from "./call-screen.js";
import { commonHandlers, wireTakeBack } from "./consult-events.js";
import { confirmAction } from "./dialogs.js";
import { GuardianCapture } from "./guardian-capture.js";
import { IntakeForm } from "./intake-form.js";
import { LiveConsult } from "./live-consult.js";
import { Precheck } from "./precheck.js";
import { announce, show } from "./screens.js";
import { renderSummary } from "./summary.js";
import { setText, showMessage } from "./text.js";

const $ = (id) => document.getElementById(id);
const INTAKE_EDITABLE = new Set(["booked", "waiting"]);

export async function runGuardian(ctx) {
  const { api, local } = ctx;
  let precheck = null;
  let callScreen = null;
  wireTakeBack();

  const goNotice = () => {
    renderSummary($("notice-summary"), ctx.consult);
    show("notice");
  };

  $("notice-accept").addEventListener("click", async () => {
    $("notice-accept").disabled = true;
    showMessage($("notice-error"), null);
    try {
      ctx.consult = await api.acceptRecordingNotice(ctx.consult.id);
      await goIntake();
    } catch (error) {
      showMessage($("notice-error"), error.status === 0 ? "call.error.network" : "call.value",
        { value: error.detail });
    } finally {
      $("notice-accept").disabled = false;
    }
  });

  const goIntake = async () => {
    if (!INTAKE_EDITABLE.has(ctx.consult.state)) {
      goPrecheck(); // the call has begun: the intake can no longer change
      return;
    }
    let schema = null;
    try {
      schema = (await api.intakeForm(ctx.consult.specialty.code)).schema;
    } catch {
      // The form carries its own lists; the schema only keeps them in step with the server.
    }
    const form = new IntakeForm({
      specialty: ctx.consult.specialty.code,
      schema,
      birthDate: ctx.consult.child.birth_date,
      initial: ctx.consult.intake?.data || null,
      submit: async (data) => {
        ctx.consult.intake = await api.putIntake(ctx.consult.id, data);
        goPrecheck();
      },
    });
    setText($("intake-title"), "call.intake.title", {
      specialty: { zh: ctx.consult.specialty.zh, en: ctx.consult.specialty.en },
    });
    $("intake-submitted").hidden = !ctx.consult.intake;
    $("intake-form-slot").replaceChildren(form.node);
    show("intake");
  };

  const goPrecheck = () => {
    precheck ??= new Precheck($("precheck-slot"), local, { token: ctx.token });
    setText($("join-button"), ctx.consult.state === "in_call" ? "call.precheck.rejoin" : "call.precheck.join");
    show("precheck");
  };

  const enterCall = () => {
    precheck?.close();
    callScreen.enter();
    ctx.live.startCall();
  };

  const showWaitingRoom = () => {
    const { physician } = ctx.consult;
    setText($("waiting-physician"), "call.waiting.physician", {
      name: physician.name, title: { key: `call.title.${physician.title}` },
    });
    const video = $("waiting-self");
    video.srcObject = local.videoTrack ? new MediaStream([local.videoTrack]) : null;
    video.hidden = !local.videoTrack;
    video.classList.toggle("mirrored", local.mirrored);
    video.play?.().catch(() => {});
    show("waiting");
    announce("call.waiting.title");
  };

  $("join-button").addEventListener("click", async () => {
    showMessage($("join-error"), null);
    if (!precheck.ready && !(await precheck.start())) {
      showMessage($("join-error"), "call.precheck.need_device");
      return;
    }
    $("join-button").disabled = true;
    if (!ctx.live) setUpLiveConsult();
    if (ctx.live.socket) {
      ctx.live.rejoin(); // e.g. after the recording notice was accepted on a second try
    } else {
      try {
        await ctx.live.connect();
      } catch {
        // The socket client could not be loaded (offline, or blocked by the network).
        showMessage($("join-error"), "call.error.network");
      }
    }
    $("join-button").disabled = false;
  });

  const setUpLiveConsult = () => {
    const live = new LiveConsult({ token: ctx.token, role: "guardian", local });
    callScreen = new CallScreen({ role: "guardian", local, live, onLeave: leave });
    const common = commonHandlers(ctx, callScreen);
    const capture = new GuardianCapture({ local, ctx });
    live.setHandlers({
      ...common,
      onCaptureRequested: (request) => capture.open(request),
      onPhotoCaptured: (photo) => capture.photoStored(photo),
      onEnded: (outcome, detail) => {
        capture.dispose();
        common.onEnded(outcome, detail);
      },
      onJoined: (result, { reconnect }) => {
        ctx.consult = { ...ctx.consult, ...(result.consult || {}) };
        showMessage($("waiting-banner"), null);
        if (result.recording) callScreen.setRecording(result.recording.status || result.recording);
        if (ctx.consult.state === "in_call") {
          if (!reconnect || !callScreen.entered) enterCall();
        } else if (ctx.consult.state === "waiting" && !callScreen.entered) {
          showWaitingRoom();
        }
      },
      onJoinRefused: (error) => {
        if (error.code === "recording_notice_required") goNotice();
        else if (error.code === "transition_not_allowed") common.onRefused("consult_closed");
        else showMessage($("join-error"), "call.error.join", { code: error.code });
      },
      onAdmitted: () => {
        announce("call.announce.admitted");
        enterCall();
      },
      onConnection: (state) => {
        callScreen.setConnection(state);
        showMessage($("waiting-banner"), state === "reconnecting" ? "call.reconnecting" : null);
      },
      onGuardianConfirmed: () => announce("call.announce.guardian_confirmed"),
    });
    ctx.live = live;
  };

  async function leave() {
    if (!(await confirmAction("call.leave.confirm", "call.control.leave"))) return;
    try {
      await ctx.live.leave();
    } catch {
      // Leaving is best effort: the server's grace period covers a lost `leave`.
    }
    callScreen.close();
    local.stop();
    show("left");
  }

  if (ctx.consult.state === "in_call") goPrecheck();
  else if (ctx.consult.recording_notice_accepted_at) await goIntake();
  else goNotice();
}
