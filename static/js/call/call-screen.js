// The call screen: remote video large, self view small, the control bar, the status strip
// (recording, connection quality, the other party's presence), reconnecting banner and chat.
// Both roles share it; the physician's extra controls live in physician.js.
import { announce, show } from "./screens.js";
import { ChatPanel } from "./chat.js";
import { icon } from "./icons.js";
import { RemotePlayback } from "./playback.js";
import { QualityMonitor } from "./quality.js";
import { el, setText, showMessage } from "./text.js";

const $ = (id) => document.getElementById(id);
// Presence states worth telling the user about; joined/waiting/in_call are routine.
const PRESENCE_SHOWN = new Set(["reconnecting", "back", "left", "interrupted"]);
const BACK_MESSAGE_MS = 5000;

function control(button, iconName, key) {
  const label = el("span", { class: "control-label" });
  setText(label, key);
  button.replaceChildren(icon(iconName), label);
}

export class CallScreen {
  constructor({ role, local, live, onLeave }) {
    this.role = role;
    this.local = local;
    this.live = live;
    this.otherRole = role === "guardian" ? "physician" : "guardian";
    this.entered = false;
    this.socketDown = false;
    this.mediaDown = false;
    this.presenceTimer = 0;
    this.recordingStatus = "idle";

    this.selfVideo = $("self-video");
    this.selfVideo.muted = true;
    this.playback = new RemotePlayback($("remote-video"), $("unmute-remote"), {
      onBlocked: () => announce("call.sound.blocked"),
    });
    $("remote-video").addEventListener("resize", () => { $("remote-placeholder").hidden = true; });
    $("remote-video").addEventListener("playing", () => { $("remote-placeholder").hidden = true; });

    this.chat = new ChatPanel({
      list: $("chat-list"), form: $("chat-form"), input: $("chat-input"), myRole: role,
      send: (text, clientId) => live.sendChat(text, clientId),
      onUnread: (count) => this.showUnread(count),
    });
    this.quality = new QualityMonitor(() => live.pc, (level) => {
      this.showQuality(level);
      live.sendQuality(level);
    });

    control($("btn-mic"), "mic", "call.control.mic_on");
    control($("btn-camera"), "camera", "call.control.camera_on");
    control($("btn-flip"), "flip", "call.control.flip");
    control($("btn-chat"), "chat", "call.control.chat");
    control($("btn-leave"), "leave", "call.control.leave");
    $("btn-chat").append(el("span", { class: "badge", id: "chat-badge", hidden: true }));
    $("btn-mic").addEventListener("click", () => this.toggleMic());
    $("btn-camera").addEventListener("click", () => this.toggleCamera());
    $("btn-flip").addEventListener("click", () => this.flip());
    $("btn-chat").addEventListener("click", () => this.toggleChat());
    $("chat-close").addEventListener("click", () => this.toggleChat(false));
    $("btn-leave").addEventListener("click", () => onLeave?.());
    local.onTrackChange(() => this.refreshSelf());

    // The guardian's phone shows chat as a sheet over the video, opened from the bar.
    this.chatOpen = role !== "guardian";
    this.chat.setVisible(this.chatOpen);
    document.body.classList.toggle("chat-open", this.chatOpen);
  }

  async enter() {
    if (this.entered) return;
    this.entered = true;
    show("call");
    // The indicator follows the server (`recording` event, `join` result): it says
    // "recording" once the server records, not merely because the call screen opened.
    this.setRecording(this.recordingStatus);
    this.refreshSelf();
    const { cameras } = this.local.started ? await this.local.listDevices() : { cameras: [] };
    $("btn-flip").hidden = cameras.length < 2;
    this.quality.start();
    announce("call.announce.in_call");
  }

  refreshSelf() {
    const track = this.local.videoTrack;
    this.selfVideo.srcObject = track ? new MediaStream([track]) : null;
    this.selfVideo.classList.toggle("mirrored", this.local.mirrored);
    this.selfVideo.hidden = !track;
    this.selfVideo.play?.().catch(() => {});
  }

  setRemoteStream(stream) {
    $("remote-placeholder").hidden = false;
    this.playback.attach(stream);
  }

  /**
   * "recording" | "stopped" (the `recording` event) or the join result's "idle" (media has
   * not started yet: recording starts with it, and there is no pause).
   */
  setRecording(status) {
    if (status) this.recordingStatus = status;
    const shown = this.recordingStatus === "recording" || this.recordingStatus === "stopped"
      ? this.recordingStatus : "starting";
    const node = $("recording-indicator");
    node.dataset.status = shown;
    node.classList.toggle("off", shown !== "recording");
    setText($("recording-text"), `call.recording.${shown === "recording" ? "on" : shown}`);
  }

  showQuality(level) {
    const node = $("quality-indicator");
    node.dataset.level = level;
    setText(node, "call.quality.mine", { level: { key: `call.quality.${level}` } });
  }

  /**
   * The other party's presence {role, status, quality}. Trouble (reconnecting, left,
   * interrupted) stays on screen until it changes; "back" shows for a few seconds; otherwise
   * the other side's connection quality is shown when it is not good.
   */
  setPresence({ role, status, quality } = {}) {
    if (!role || role === this.role) return;
    if (quality !== undefined) this.otherQuality = quality;
    if (PRESENCE_SHOWN.has(status)) {
      if (status !== this.otherStatus) {
        announce(`call.presence.${status}`, { who: { key: `call.role.${this.otherRole}` } });
      }
      this.otherStatus = status;
      clearTimeout(this.presenceTimer);
      if (status === "back") {
        this.presenceTimer = setTimeout(() => {
          this.otherStatus = null;
          this.renderPeer();
        }, BACK_MESSAGE_MS);
      }
    } else if (status && this.otherStatus !== "back") {
      this.otherStatus = null; // joined / waiting / in_call: nothing to worry about
    }
    this.renderPeer();
  }

  renderPeer() {
    const node = $("peer-status");
    const who = { key: `call.role.${this.otherRole}` };
    delete node.dataset.level;
    if (this.otherStatus) {
      node.dataset.status = this.otherStatus;
      setText(node, `call.presence.${this.otherStatus}`, { who });
      return;
    }
    delete node.dataset.status;
    if (this.otherQuality === "fair" || this.otherQuality === "poor") {
      node.dataset.level = this.otherQuality;
      setText(node, "call.quality.theirs", { who, level: { key: `call.quality.${this.otherQuality}` } });
    } else {
      node.textContent = "";
      delete node.dataset.callKey;
    }
  }

  /** Socket state: "connected" | "reconnecting". */
  setConnection(state) {
    const down = state === "reconnecting";
    if (down === this.socketDown) return;
    this.socketDown = down;
    this.updateBanner();
  }

  /** ICE state of our peer connection. */
  setMediaState(state) {
    const down = state === "disconnected" || state === "failed";
    if (down === this.mediaDown) return;
    this.mediaDown = down;
    this.updateBanner();
  }

  updateBanner() {
    const banner = $("connection-banner");
    const down = this.socketDown || this.mediaDown;
    const wasDown = !banner.hidden;
    showMessage(banner, down ? "call.reconnecting" : null);
    if (down && !wasDown) announce("call.reconnecting");
    if (!down && wasDown) announce("call.reconnected");
  }

  /** An offer the server refused (codecs, media down): not fixed by waiting, so say it. */
  showMediaError(code) {
    showMessage($("connection-banner"), `call.media_error.${code}`);
    announce(`call.media_error.${code}`);
  }

  toggleMic() {
    const on = !this.local.micEnabled;
    this.local.setMicEnabled(on);
    control($("btn-mic"), on ? "mic" : "micOff", on ? "call.control.mic_on" : "call.control.mic_off");
    $("btn-mic").classList.toggle("off", !on);
    announce(on ? "call.control.mic_on" : "call.control.mic_off");
  }

  toggleCamera() {
    const on = !this.local.cameraEnabled;
    this.local.setCameraEnabled(on);
    control($("btn-camera"), on ? "camera" : "cameraOff", on ? "call.control.camera_on" : "call.control.camera_off");
    $("btn-camera").classList.toggle("off", !on);
    this.selfVideo.classList.toggle("camera-off", !on);
    announce(on ? "call.control.camera_on" : "call.control.camera_off");
  }

  async flip() {
    const button = $("btn-flip");
    button.disabled = true;
    const ok = await this.local.flipCamera();
    button.disabled = false;
    announce(ok ? "call.control.flipped" : "call.control.flip_failed");
  }

  toggleChat(open = !this.chatOpen) {
    this.chatOpen = open;
    document.body.classList.toggle("chat-open", open);
    this.chat.setVisible(open);
    $("btn-chat").setAttribute("aria-expanded", String(open));
    if (open) $("chat-input").focus({ preventScroll: true });
  }

  showUnread(count) {
    const badge = $("chat-badge");
    badge.hidden = count === 0;
    badge.textContent = count > 9 ? "9+" : String(count);
    if (count) announce("call.chat.new_message");
  }

  close() {
    this.quality.stop();
    this.playback.stop();
    this.selfVideo.srcObject = null;
  }
}
