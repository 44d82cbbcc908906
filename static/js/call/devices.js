// The local camera and microphone: acquiring them, choosing devices, the front/back switch,
// and turning a getUserMedia failure into something a guardian can act on.
//
// Tracks change (a new device, the other camera); listeners registered with onTrackChange
// are told so the peer connection can swap them with RTCRtpSender.replaceTrack — no
// renegotiation, the call carries on.

const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
// 720p at most: the server's H.264 profile is level 3.1, and weak mobile data cannot carry more.
const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24, max: 30 } };

/** Why the camera/microphone cannot be used, or null if the browser can try. */
export function mediaSupportProblem() {
  if (!window.isSecureContext) return "insecure";
  if (!navigator.mediaDevices?.getUserMedia) return "unsupported";
  return null;
}

/** A getUserMedia error as one of: denied, not_found, in_use, insecure, failed. */
export function mediaErrorKind(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
      return "denied";
    case "SecurityError":
      return window.isSecureContext ? "denied" : "insecure";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "not_found";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "in_use";
    default:
      return "failed";
  }
}

export function isWeChat() {
  return /MicroMessenger/i.test(navigator.userAgent);
}

async function getTrack(kind, constraints) {
  const stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
  return kind === "audio" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
}

export class LocalMedia {
  constructor() {
    this.stream = new MediaStream();
    this.audioTrack = null;
    this.videoTrack = null;
    this.micEnabled = true;
    this.cameraEnabled = true;
    this.facing = null; // "user" | "environment" | null when the camera does not say
    this.errors = {}; // kind → error kind, for the tracks that could not be opened
    this.started = false;
    this.listeners = [];
  }

  onTrackChange(listener) {
    this.listeners.push(listener);
  }

  /** Open microphone and camera; whichever fails is in this.errors. */
  async start({ micId, cameraId } = {}) {
    this.errors = {};
    const audio = micId ? { ...AUDIO, deviceId: { exact: micId } } : AUDIO;
    const video = cameraId ? { ...VIDEO, deviceId: { exact: cameraId } } : { ...VIDEO, facingMode: "user" };
    try {
      // One request, so the browser asks for both permissions in one prompt.
      const stream = await navigator.mediaDevices.getUserMedia({ audio, video });
      this.setTrack("audio", stream.getAudioTracks()[0] || null);
      this.setTrack("video", stream.getVideoTracks()[0] || null);
    } catch (error) {
      if (mediaErrorKind(error) === "denied" || mediaErrorKind(error) === "insecure") {
        this.errors = { audio: mediaErrorKind(error), video: mediaErrorKind(error) };
      } else {
        // One of the two may still work (no camera on this PC, camera busy in another app):
        // try them one by one so the consult can go on with what there is.
        await this.openOne("audio", audio);
        await this.openOne("video", video);
      }
    }
    this.started = Boolean(this.audioTrack || this.videoTrack);
    return this.errors;
  }

  async openOne(kind, constraints) {
    try {
      this.setTrack(kind, await getTrack(kind, constraints));
      delete this.errors[kind];
    } catch (error) {
      this.errors[kind] = mediaErrorKind(error);
    }
  }

  setTrack(kind, track) {
    const old = kind === "audio" ? this.audioTrack : this.videoTrack;
    if (old && old !== track) {
      this.stream.removeTrack(old);
      old.stop();
    }
    if (track) {
      track.enabled = kind === "audio" ? this.micEnabled : this.cameraEnabled;
      this.stream.addTrack(track);
    }
    if (kind === "audio") {
      this.audioTrack = track;
    } else {
      this.videoTrack = track;
      this.facing = track?.getSettings?.().facingMode || null;
    }
    for (const listener of this.listeners) listener(kind, track);
  }

  async listDevices() {
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      cameras: all.filter((d) => d.kind === "videoinput" && d.deviceId),
      mics: all.filter((d) => d.kind === "audioinput" && d.deviceId),
    };
  }

  currentDeviceId(kind) {
    const track = kind === "audio" ? this.audioTrack : this.videoTrack;
    return track?.getSettings?.().deviceId || "";
  }

  async useMic(deviceId) {
    await this.openOne("audio", { ...AUDIO, deviceId: { exact: deviceId } });
  }

  async useCamera(deviceId) {
    // Phones cannot open two cameras at once: release the old one first.
    this.videoTrack?.stop();
    await this.openOne("video", { ...VIDEO, deviceId: { exact: deviceId } });
  }

  /** Front ↔ back camera on a phone. Returns false if the other camera could not be opened. */
  async flipCamera() {
    const next = this.facing === "environment" ? "user" : "environment";
    const previousId = this.currentDeviceId("video");
    this.videoTrack?.stop();
    try {
      this.setTrack("video", await getTrack("video", { ...VIDEO, facingMode: { exact: next } }));
      if (!this.facing) this.facing = next;
      return true;
    } catch {
      // No camera facing that way (or it said nothing): take the next camera in the list.
      const { cameras } = await this.listDevices();
      const index = cameras.findIndex((c) => c.deviceId === previousId);
      const other = cameras[(index + 1) % cameras.length];
      try {
        if (!other) throw new Error("no camera");
        this.setTrack("video", await getTrack("video", { ...VIDEO, deviceId: { exact: other.deviceId } }));
        return true;
      } catch {
        if (previousId) await this.openOne("video", { ...VIDEO, deviceId: { exact: previousId } });
        return false;
      }
    }
  }

  /**
   * The back camera, for a photo of the skin (its sensor is the better one). Resolves true
   * when the call now sends the back camera, false when there is none (a PC's webcam).
   */
  async useBackCamera() {
    if (this.facing === "environment") return true;
    const { cameras } = await this.listDevices();
    if (cameras.length < 2) return false;
    const previousId = this.currentDeviceId("video");
    // Phones cannot open two cameras at once: release this one first.
    this.videoTrack?.stop();
    try {
      this.setTrack("video", await getTrack("video", { ...VIDEO, facingMode: { exact: "environment" } }));
      this.facing = "environment";
      return true;
    } catch {
      if (previousId) await this.openOne("video", { ...VIDEO, deviceId: { exact: previousId } });
      return false;
    }
  }

  /** Back to the front camera after a photo (the physician wants to see the family again). */
  async useFrontCamera() {
    if (this.facing !== "environment") return;
    this.videoTrack?.stop();
    try {
      this.setTrack("video", await getTrack("video", { ...VIDEO, facingMode: "user" }));
    } catch {
      // Stay without video rather than fail: the precheck's advice applies again.
      this.setTrack("video", null);
    }
  }

  /**
   * Run `grab(track)` on this camera opened at its largest resolution, then give the call its
   * camera back. A running camera is locked to the format its first track asked for (720p
   * for the call), and a second track on it only gets that format scaled: so the call's
   * track is released for the moment of the photo, and the picture pauses briefly.
   */
  async withLargestResolution(grab) {
    const track = this.videoTrack;
    if (!track) throw new Error("no camera");
    const caps = track.getCapabilities?.() || {};
    const deviceId = this.currentDeviceId("video");
    const facing = this.facing;
    const largest = {
      ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
      width: { ideal: caps.width?.max || 4096 },
      height: { ideal: caps.height?.max || 3072 },
    };
    track.stop();
    let big = null;
    try {
      big = await getTrack("video", largest);
      return await grab(big);
    } finally {
      big?.stop();
      await this.openOne("video", deviceId ? { ...VIDEO, deviceId: { exact: deviceId } } : VIDEO);
      if (facing && this.videoTrack && !this.videoTrack.getSettings?.().facingMode) this.facing = facing;
    }
  }

  /** Whether this camera has a torch (a phone's back camera, in Chrome on Android). */
  get hasTorch() {
    return Boolean(this.videoTrack?.getCapabilities?.().torch);
  }

  async setTorch(on, track = this.videoTrack) {
    if (!track?.getCapabilities?.().torch) return false;
    try {
      await track.applyConstraints({ advanced: [{ torch: on }] });
      return true;
    } catch {
      return false;
    }
  }

  /** Mirror the self view for a front camera (and for webcams, which do not say). */
  get mirrored() {
    return this.facing !== "environment";
  }

  setMicEnabled(on) {
    this.micEnabled = on;
    if (this.audioTrack) this.audioTrack.enabled = on;
  }

  // A disabled track sends black frames: the recording and the other side's decoder carry
  // on without renegotiation, and no picture leaves the device.
  setCameraEnabled(on) {
    this.cameraEnabled = on;
    if (this.videoTrack) this.videoTrack.enabled = on;
  }

  stop() {
    for (const track of this.stream.getTracks()) track.stop();
  }
}
