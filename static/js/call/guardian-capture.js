// The guardian's side of a photo request (`capture_requested`): a full-screen prompt that
// says what the doctor wants photographed, the back camera with a framing guide and the
// torch where there is one, a big shutter button, the upload with the one-time capture
// token, and the outcome in plain words — uploaded, or why not, and how to take a better
// one next time (`quality.guidance`). Stills the server takes from the video arrive as
// `photo_captured` too: the guardian is told each time a picture is kept, and when.
import { loadBodySites, siteVars } from "./body-sites.js";
import { guidanceList } from "./photo-quality.js";
import { announce } from "./screens.js";
import { takeStill } from "./still.js";
import { setText, showMessage } from "./text.js";

const $ = (id) => document.getElementById(id);
const AUTO_CLOSE_MS = 4000;
const TOAST_MS = 6000;

/** The server's refusal of an upload (its problem `detail`, e.g. "… has expired"). */
class UploadRefused extends Error {
  constructor(status, detail = "") {
    super(detail || `HTTP ${status}`);
    this.status = status; // 0: the request never reached the server
    this.detail = detail;
  }
}

/** POST the still with the one-time capture token; resolves with the stored photo. */
async function upload(url, token, blob) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST", body: blob,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": blob.type || "image/jpeg", Accept: "application/json" },
    });
  } catch {
    throw new UploadRefused(0);
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new UploadRefused(response.status, data.detail || `HTTP ${response.status}`);
  return data;
}

export class GuardianCapture {
  /** @param {{local: import("./devices.js").LocalMedia, ctx: object}} options */
  constructor({ local, ctx }) {
    this.local = local;
    this.ctx = ctx;
    this.request = null;
    this.torch = false;
    this.switchedCamera = false;
    this.closeTimer = 0;
    this.toastTimer = 0;
    this.sites = [];
    loadBodySites().then((sites) => { this.sites = sites; }).catch(() => {});
    $("capture-shoot").addEventListener("click", () => this.shoot());
    $("capture-torch").addEventListener("click", () => this.toggleTorch());
    $("capture-done").addEventListener("click", () => this.close());
    $("capture-later").addEventListener("click", () => this.close());
    local.onTrackChange((kind) => kind === "video" && this.request && this.showPreview());
  }

  /** `capture_requested` {request_id, token, upload_url, label_zh, label_en, view, …}. */
  async open(request) {
    clearTimeout(this.closeTimer);
    this.request = request;
    const label = { zh: request.label_zh, en: request.label_en };
    setText($("capture-title"), "call.capture.title", { label });
    setText($("capture-hint"), request.view === "overview" ? "call.capture.hint.overview" : "call.capture.hint.close_up");
    $("capture-guidance").replaceChildren();
    $("capture-guidance").hidden = true;
    $("capture-shoot").hidden = false;
    $("capture-shoot").disabled = true;
    $("capture-done").hidden = true;
    $("capture-later").hidden = false;
    this.setStatus("call.capture.status.switching");
    $("capture-overlay").hidden = false;
    document.body.classList.add("capturing");
    navigator.vibrate?.(200);
    announce("call.capture.title", { label });
    // Switching cameras takes a moment on a phone: do it after the prompt is up.
    if (!this.switchedCamera) this.switchedCamera = await this.local.useBackCamera();
    if (this.request !== request) return; // a newer request took over meanwhile
    this.showPreview();
    $("capture-shoot").disabled = !this.local.videoTrack;
    this.setStatus(this.local.videoTrack ? "call.capture.status.ready" : "call.capture.status.no_camera");
  }

  showPreview() {
    const video = $("capture-preview");
    const track = this.local.videoTrack;
    video.srcObject = track ? new MediaStream([track]) : null;
    video.classList.toggle("mirrored", this.local.mirrored);
    video.play?.().catch(() => {});
    $("capture-torch").hidden = !this.local.hasTorch;
    if (this.torch) this.local.setTorch(true);
  }

  async toggleTorch() {
    const on = !this.torch;
    if (await this.local.setTorch(on)) this.torch = on;
    $("capture-torch").setAttribute("aria-pressed", String(this.torch));
    setText($("capture-torch"), this.torch ? "call.capture.torch_off" : "call.capture.torch_on");
  }

  async shoot() {
    const request = this.request;
    if (!request) return;
    $("capture-shoot").disabled = true;
    $("capture-later").hidden = true;
    this.setStatus("call.capture.status.taking");
    let still;
    try {
      still = await takeStill(this.local, { torch: this.torch });
    } catch {
      this.setStatus("call.capture.status.camera_failed", {}, "error");
      $("capture-shoot").disabled = false;
      $("capture-later").hidden = false;
      return;
    }
    this.ctx.lastStill = { width: still.width, height: still.height, method: still.method,
      type: still.blob.type, track: { width: still.track?.width, height: still.track?.height } };
    this.setStatus("call.capture.status.uploading");
    try {
      const photo = await upload(request.upload_url, request.token, still.blob);
      if (this.request !== request) return;
      this.uploaded(photo);
    } catch (problem) {
      if (this.request !== request) return;
      this.failed(problem);
    }
  }

  uploaded(photo) {
    const guidance = guidanceList(photo, "guidance");
    this.setStatus("call.capture.status.uploaded", {}, "ok");
    announce("call.capture.status.uploaded");
    if (guidance) {
      // Said on the phone, while the guardian still holds it: how to take a better one.
      $("capture-guidance").replaceChildren(...guidance.childNodes);
      $("capture-guidance").hidden = false;
    } else {
      this.closeTimer = setTimeout(() => this.close(), AUTO_CLOSE_MS);
    }
    $("capture-shoot").hidden = true;
    $("capture-done").hidden = false;
    setText($("capture-done"), "call.capture.back");
  }

  failed(problem) {
    // A spent or expired token cannot be used again: only the doctor can ask once more.
    const final = problem.status === 401 || problem.status === 409 || problem.status === 403;
    if (problem.status === 0) this.setStatus("call.capture.status.network", {}, "error");
    else this.setStatus(final ? "call.capture.status.refused_final" : "call.capture.status.refused",
      { detail: problem.detail }, "error");
    $("capture-shoot").disabled = final;
    $("capture-shoot").hidden = final;
    $("capture-done").hidden = !final;
    $("capture-later").hidden = final;
    setText($("capture-done"), "call.capture.back");
  }

  setStatus(key, vars = {}, tone = "") {
    const node = $("capture-status");
    showMessage(node, key, vars);
    node.dataset.tone = tone;
  }

  async close() {
    clearTimeout(this.closeTimer);
    this.request = null;
    $("capture-overlay").hidden = true;
    document.body.classList.remove("capturing");
    $("capture-preview").srcObject = null;
    if (this.torch) {
      await this.local.setTorch(false);
      this.torch = false;
      setText($("capture-torch"), "call.capture.torch_on");
    }
    if (this.switchedCamera) {
      this.switchedCamera = false;
      await this.local.useFrontCamera();
    }
  }

  /** `photo_captured`: the guardian sees every picture that is kept, and when. */
  photoStored(photo) {
    if (!photo?.body_site) return;
    const toast = $("capture-toast");
    showMessage(toast, `call.capture.kept.${photo.source === "stream" ? "stream" : "device"}`, {
      site: { key: "call.photo.site_label", vars: siteVars(photo, this.sites) },
      time: { time: photo.captured_at },
    });
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => showMessage(toast, null), TOAST_MS);
  }

  /** The consult ended or the page moves on: no prompt left over the outcome. */
  dispose() {
    if (this.request || !$("capture-overlay").hidden) this.close();
  }
}
