// Playing the other party. Browsers (Safari, WeChat, Chrome without a prior tap) may refuse
// to start sound without a user gesture: then the video plays muted at once and a
// "tap to enable sound" button appears; one tap unmutes.

export class RemotePlayback {
  constructor(video, unmuteButton, { onBlocked } = {}) {
    this.video = video;
    this.button = unmuteButton;
    this.onBlocked = onBlocked || (() => {});
    this.button.addEventListener("click", () => this.unmute());
  }

  async attach(stream) {
    if (this.video.srcObject !== stream) this.video.srcObject = stream;
    await this.play();
  }

  async play() {
    try {
      await this.video.play();
    } catch (error) {
      if (error?.name !== "NotAllowedError") return; // AbortError: a newer srcObject took over
      this.video.muted = true;
      this.button.hidden = false;
      this.onBlocked();
      await this.video.play().catch(() => {});
    }
  }

  async unmute() {
    this.video.muted = false;
    try {
      await this.video.play();
      this.button.hidden = true;
    } catch {
      this.video.muted = true;
    }
  }

  stop() {
    this.video.srcObject = null;
  }
}
