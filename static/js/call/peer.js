// The one RTCPeerConnection this browser holds with the server (docs/protocol.md, "Media").
//
// It sends the microphone and camera (sendrecv audio, then video: the server takes each
// party's first audio and first video m-line) and receives the other party's. The browser
// always offers; the server answers with its own candidates inside the answer, and our
// candidates trickle up with `ice_candidate`.
//
// Recovery, in order of cost: an ICE restart on the same connection (tracks and the
// <video> stay as they are), then a fresh connection (the server builds a new peer for
// an offer with new ICE credentials or DTLS fingerprint, so either is understood).

const CONNECTED = new Set(["connected", "completed"]);
const DISCONNECTED_GRACE_MS = 3000; // "disconnected" often heals by itself on a phone
const RESTART_TIMEOUT_MS = 8000;
const RESTART_COOLDOWN_MS = 20000;

export class ConsultPeer {
  /**
   * @param {object} options
   * @param {RTCIceServer[]} options.iceServers from the `join` result
   * @param {import("./devices.js").LocalMedia} options.local
   * @param {{offer: Function, candidate: Function, canSignal: Function}} options.signal
   * @param {(stream: MediaStream) => void} options.onRemoteStream
   * @param {(state: string) => void} options.onStateChange
   */
  constructor({ iceServers, local, signal, onRemoteStream, onStateChange }) {
    this.iceServers = iceServers || [];
    this.local = local;
    this.signal = signal;
    this.onRemoteStream = onRemoteStream;
    this.onStateChange = onStateChange || (() => {});
    this.pc = null;
    this.generation = 0;
    this.negotiating = null;
    this.queued = null; // options of a negotiation asked for while one was running
    this.troubleTimer = 0;
    this.recovering = false;
    this.lastRestartAt = 0;
    this.closed = false;
    local.onTrackChange((kind, track) => this.replaceTrack(kind, track));
  }

  get connected() {
    return Boolean(this.pc && CONNECTED.has(this.pc.iceConnectionState));
  }

  create() {
    this.pc?.close();
    this.generation += 1;
    const generation = this.generation;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    this.senders = {};
    for (const kind of ["audio", "video"]) {
      const track = kind === "audio" ? this.local.audioTrack : this.local.videoTrack;
      // A transceiver even without a track (no camera on this PC): the m-line is there, and
      // replaceTrack can fill it later without renegotiating.
      const transceiver = track
        ? pc.addTransceiver(track, { direction: "sendrecv", streams: [this.local.stream] })
        : pc.addTransceiver(kind, { direction: "sendrecv" });
      this.senders[kind] = transceiver.sender;
    }
    this.remoteStream = new MediaStream();
    this.onRemoteStream(this.remoteStream);
    this.answered = false;
    this.pendingCandidates = [];

    pc.ontrack = ({ track }) => {
      if (generation !== this.generation) return;
      for (const old of this.remoteStream.getTracks()) {
        if (old.kind === track.kind && old !== track) this.remoteStream.removeTrack(old);
      }
      this.remoteStream.addTrack(track);
      this.onRemoteStream(this.remoteStream);
    };
    pc.onicecandidate = ({ candidate }) => {
      if (generation !== this.generation) return;
      // The protocol takes exactly these three fields (unknown fields are refused); a null
      // candidate says gathering is over.
      const payload = candidate && candidate.candidate
        ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }
        : candidate ? null : { candidate: null };
      if (!payload) return;
      // The server can only use a candidate once it has our offer: hold them until the answer.
      if (this.answered) this.sendCandidate(payload);
      else this.pendingCandidates.push(payload);
    };
    pc.oniceconnectionstatechange = () => {
      if (generation === this.generation) this.watch(pc.iceConnectionState);
    };
    pc.onconnectionstatechange = () => {
      if (generation === this.generation && pc.connectionState === "failed") this.watch("failed");
    };
    return pc;
  }

  sendCandidate(payload) {
    // A lost candidate is not fatal (the others, or a restart, carry on): swallow refusals.
    this.signal.candidate(payload).catch(() => {});
  }

  /** Send an offer and apply the answer; calls made meanwhile are merged into one more round. */
  negotiate(options = {}) {
    if (this.closed) return Promise.resolve();
    if (!this.pc) this.create();
    if (this.negotiating) {
      this.queued = { iceRestart: Boolean(this.queued?.iceRestart || options.iceRestart) };
      return this.negotiating;
    }
    this.negotiating = this.offerAnswer(options).finally(() => {
      this.negotiating = null;
      const next = this.queued;
      this.queued = null;
      if (next && !this.closed) this.negotiate(next).catch(() => {});
    });
    return this.negotiating;
  }

  async offerAnswer({ iceRestart = false }) {
    const pc = this.pc;
    const generation = this.generation;
    this.answered = false;
    // Offline: the socket's reconnect sends a fresh offer. (Socket.IO would otherwise buffer
    // this one and deliver it, stale, after the reconnect.)
    if (!this.signal.canSignal()) return;
    const offer = await pc.createOffer({ iceRestart });
    await pc.setLocalDescription(offer);
    let answer;
    try {
      answer = await this.signal.offer({ sdp: pc.localDescription.sdp, type: "offer" });
    } catch (error) {
      if (generation === this.generation && pc.signalingState === "have-local-offer") {
        await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
      throw error;
    }
    if (generation !== this.generation || pc.signalingState !== "have-local-offer") return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this.answered = true;
    const held = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const payload of held) this.sendCandidate(payload);
  }

  watch(state) {
    this.onStateChange(state);
    clearTimeout(this.troubleTimer);
    if (CONNECTED.has(state)) return;
    if (state === "disconnected" || state === "failed") {
      const wait = state === "failed" ? 500 : DISCONNECTED_GRACE_MS;
      this.troubleTimer = setTimeout(() => {
        if (!this.connected) this.recover();
      }, wait);
    }
  }

  /** Bring media back: after a socket reconnect, or when ICE fails. */
  async recover() {
    if (this.closed || this.recovering || !this.signal.canSignal()) return;
    this.recovering = true;
    try {
      const usable = this.pc && this.pc.connectionState !== "failed" && this.pc.signalingState !== "closed";
      if (usable && Date.now() - this.lastRestartAt > RESTART_COOLDOWN_MS) {
        this.lastRestartAt = Date.now();
        await this.negotiate({ iceRestart: true });
        if (await this.waitConnected(RESTART_TIMEOUT_MS)) return;
      }
      if (!this.signal.canSignal()) return; // the socket's reconnect will call again
      this.create();
      await this.negotiate();
    } catch {
      // The next socket reconnect or ICE state change tries again.
    } finally {
      this.recovering = false;
    }
  }

  waitConnected(timeoutMs) {
    const pc = this.pc;
    return new Promise((resolve) => {
      const done = (ok) => {
        clearTimeout(timer);
        pc.removeEventListener("iceconnectionstatechange", check);
        resolve(ok);
      };
      const check = () => {
        if (pc !== this.pc) done(false);
        else if (CONNECTED.has(pc.iceConnectionState)) done(true);
        else if (pc.iceConnectionState === "failed") done(false);
      };
      const timer = setTimeout(() => done(this.connected && pc === this.pc), timeoutMs);
      pc.addEventListener("iceconnectionstatechange", check);
      check();
    });
  }

  replaceTrack(kind, track) {
    // replaceTrack swaps what the sender encodes without touching the SDP.
    this.senders?.[kind]?.replaceTrack(track).catch(() => {});
  }

  close() {
    this.closed = true;
    clearTimeout(this.troubleTimer);
    this.pc?.close();
  }
}
