// The camera and microphone check: permission, device pickers, a live self preview and a
// microphone level bar, with a plain explanation when something is wrong.
import { LevelMeter } from "./level-meter.js";
import { isWeChat, mediaSupportProblem } from "./devices.js";
import { restoreLinkInAddressBar } from "./join-token.js";
import { el, setText } from "./text.js";

const PROBLEM_TEXT = {
  denied: "call.precheck.error.denied",
  not_found: "call.precheck.error.not_found",
  in_use: "call.precheck.error.in_use",
  insecure: "call.precheck.error.insecure",
  unsupported: "call.precheck.error.unsupported",
  failed: "call.precheck.error.failed",
};

function allowHelpKey() {
  if (isWeChat()) return "call.precheck.help.wechat";
  if (/iPhone|iPad|iPod/i.test(navigator.userAgent)) return "call.precheck.help.ios";
  if (/Android/i.test(navigator.userAgent)) return "call.precheck.help.android";
  return "call.precheck.help.desktop";
}

export class Precheck {
  /** @param {HTMLElement} slot  @param {import("./devices.js").LocalMedia} local */
  constructor(slot, local, { token, onChange, introKey = "call.precheck.intro" } = {}) {
    this.local = local;
    this.token = token;
    this.onChange = onChange || (() => {});
    this.startButton = el("button", { type: "button", class: "primary wide", text: "call.precheck.start" });
    this.preview = el("video", { class: "preview mirrored", playsinline: true, autoplay: true, muted: true });
    this.preview.muted = true; // the attribute alone is not enough in every browser
    this.noVideo = el("p", { class: "preview-empty", text: "call.precheck.no_preview" });
    this.bar = el("span", { class: "level-bar" });
    this.cameraSelect = el("select", { id: "camera-select" });
    this.micSelect = el("select", { id: "mic-select" });
    this.status = el("div", { class: "precheck-status", role: "status" });
    this.problem = el("div", { class: "problem", role: "alert", hidden: true });
    this.meter = new LevelMeter(this.bar);

    this.pickers = el("div", { class: "pickers", hidden: true },
      el("label", { for: "camera-select", text: "call.precheck.camera" }), this.cameraSelect,
      el("label", { for: "mic-select", text: "call.precheck.mic" }), this.micSelect,
      el("p", { class: "meter-label", text: "call.precheck.meter" }),
      el("div", { class: "level", "aria-hidden": "true" }, this.bar));

    slot.replaceChildren(
      el("p", { class: "muted", text: introKey }),
      el("div", { class: "preview-box" }, this.preview, this.noVideo),
      this.startButton, this.problem, this.status, this.pickers);

    this.startButton.addEventListener("click", () => this.start());
    this.cameraSelect.addEventListener("change", () => this.switchDevice("video"));
    this.micSelect.addEventListener("change", () => this.switchDevice("audio"));
    local.onTrackChange(() => {
      if (!this.closed) this.refresh();
    });

    const unsupported = mediaSupportProblem();
    if (unsupported) this.showProblem(unsupported);
  }

  get ready() {
    return this.local.started;
  }

  async start() {
    const unsupported = mediaSupportProblem();
    if (unsupported) {
      this.showProblem(unsupported);
      return false;
    }
    this.startButton.disabled = true;
    setText(this.status, "call.precheck.asking");
    const errors = await this.local.start();
    this.startButton.disabled = false;
    this.status.textContent = "";
    this.refresh();
    await this.fillPickers();
    const kinds = Object.keys(errors);
    if (kinds.length) {
      // Name what failed: the camera, the microphone, or both.
      const which = kinds.length === 2 ? "both" : kinds[0];
      this.showProblem(errors[kinds[0]], which);
    } else {
      this.showProblem(null);
    }
    this.startButton.hidden = this.local.started && kinds.length === 0;
    setText(this.startButton, this.local.started ? "call.precheck.retry" : "call.precheck.start");
    this.onChange(this.local.started);
    return this.local.started;
  }

  showProblem(kind, which = "both") {
    if (!kind) {
      this.problem.hidden = true;
      this.problem.replaceChildren();
      return;
    }
    const parts = [el("p", { class: "error", text: PROBLEM_TEXT[kind] || PROBLEM_TEXT.failed,
      vars: { device: { key: `call.device.${which}` } } })];
    if (kind === "denied") parts.push(el("p", { text: allowHelpKey() }));
    if (kind === "insecure" || kind === "unsupported") {
      if (isWeChat()) parts.push(el("p", { text: "call.precheck.help.wechat" }));
      this.startButton.hidden = true;
    }
    if (isWeChat() && this.token && ["denied", "insecure", "unsupported"].includes(kind)) {
      restoreLinkInAddressBar(this.token);
    }
    this.problem.replaceChildren(...parts);
    this.problem.hidden = false;
  }

  refresh() {
    const { videoTrack, audioTrack } = this.local;
    this.preview.srcObject = videoTrack ? new MediaStream([videoTrack]) : null;
    this.preview.classList.toggle("mirrored", this.local.mirrored);
    this.noVideo.hidden = Boolean(videoTrack);
    this.preview.play?.().catch(() => {});
    this.meter.attach(audioTrack);
    this.pickers.hidden = !this.local.started;
  }

  async fillPickers() {
    if (!this.local.started) return;
    const { cameras, mics } = await this.local.listDevices();
    const fill = (select, devices, kind, fallbackKey) => {
      const selected = this.local.currentDeviceId(kind);
      select.replaceChildren(...devices.map((device, i) => el("option", {
        value: device.deviceId, selected: device.deviceId === selected,
        ...(device.label ? {} : { text: fallbackKey, vars: { n: i + 1 } }),
      }, device.label || null)));
      select.disabled = devices.length < 2;
    };
    fill(this.cameraSelect, cameras, "video", "call.precheck.camera_n");
    fill(this.micSelect, mics, "audio", "call.precheck.mic_n");
    this.cameraCount = cameras.length;
  }

  async switchDevice(kind) {
    const select = kind === "video" ? this.cameraSelect : this.micSelect;
    if (kind === "video") await this.local.useCamera(select.value);
    else await this.local.useMic(select.value);
    const error = this.local.errors[kind];
    this.showProblem(error || null, kind);
  }

  /** Stop the level meter when the check is over (it costs CPU on an old phone). */
  close() {
    this.closed = true;
    this.meter.close();
    this.preview.srcObject = null;
  }
}
