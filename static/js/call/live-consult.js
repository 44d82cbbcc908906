// The live consult as this browser takes part in it: the Socket.IO connection, the
// `join` on every (re)connect, and the peer connection once the consult is in_call.
// Screens are not its business: it reports what happens to the role's flow via handlers.
//
// Protocol events handled here (docs/protocol.md):
//   connect → join (again after every reconnect; then a new offer if we were in the call)
//   connect_error {code}  → handlers.onRefused (dead link, consult closed, not whitelisted);
//     wrong_node {url} → connect again there; cluster_unavailable → retry shortly
//   a redirected socket that drops → back to the page's own address (the node may be dead)
//   waiting, admitted, presence, guardian_confirmed, chat, consult_state, ended,
//   recording, renegotiate, replaced, capture_requested (guardian), photo_captured,
//   physician_not_whitelisted {message} (physician: suspended or revoked) → handlers.onRefused
import { ConsultPeer } from "./peer.js";
import { openSocket, request, SignalError } from "./socket.js";

const NOOP = () => {};
const RETRIED_JOIN_ERRORS = new Set(["timeout", "rate_limited", "internal_error"]);
const JOIN_RETRY_MS = 2000;
const CLUSTER_RETRY_MS = 3000;
const FRONT_DOOR_RETRY_MS = 500;
const MAX_REDIRECTS = 8; // in a row, without a successful connection in between

export class LiveConsult {
  constructor({ token, role, local }) {
    this.token = token;
    this.role = role;
    this.local = local;
    this.setHandlers({});
    this.socket = null;
    this.peer = null;
    this.iceServers = [];
    this.consultState = null;
    this.inCall = false; // we have (or want) media: reconnects send a new offer
    this.finished = false; // ended, replaced, left: no more reconnecting
    this.joinedOnce = false;
    this.base = null; // the node we were redirected to; null: the page's own origin
    this.redirects = 0;
    this.reopenTimer = 0;
    this.settleEnd = null; // while our `end` awaits its ack: settles it from the room's `ended`
  }

  /** The role's flow: onJoined, onWaiting, onAdmitted, onPresence, onChat, … (all optional). */
  setHandlers(handlers) {
    this.handlers = new Proxy(handlers, { get: (target, name) => target[name] || NOOP });
  }

  get pc() {
    return this.peer?.pc || null;
  }

  async connect() {
    await this.openAt(null);
  }

  /** (Re)open the socket at `base` (a node's origin) or at the page's own origin. */
  async openAt(base) {
    clearTimeout(this.reopenTimer);
    if (this.socket) {
      this.socket.off();
      this.socket.disconnect();
    }
    this.base = base;
    this.socket = await openSocket(this.token, base);
    const s = this.socket;
    s.on("connect", () => this.onConnect());
    s.on("connect_error", (error) => this.onConnectError(error));
    s.on("disconnect", (reason) => this.onDisconnect(reason));
    s.on("waiting", (payload) => this.handlers.onWaiting(payload));
    s.on("admitted", (payload) => this.onAdmitted(payload));
    s.on("presence", (payload) => this.handlers.onPresence(payload));
    s.on("guardian_confirmed", (payload) => this.handlers.onGuardianConfirmed(payload));
    s.on("chat", (message) => this.handlers.onChat(message));
    s.on("consult_state", (payload) => this.onConsultState(payload));
    s.on("ended", (payload) => this.onEnded(payload));
    s.on("recording", (payload) => this.handlers.onRecording(payload?.status));
    s.on("renegotiate", () => this.inCall && this.peer?.negotiate().catch((e) => this.offerFailed(e)));
    s.on("replaced", () => this.onReplaced());
    s.on("physician_not_whitelisted", (payload) => this.onWithdrawn(payload));
    s.on("capture_requested", (payload) => this.handlers.onCaptureRequested(payload));
    s.on("photo_captured", (photo) => this.handlers.onPhotoCaptured(photo));
  }

  reopenLater(base, delayMs) {
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => !this.finished && this.openAt(base).catch(() => {}), delayMs);
  }

  async onConnect() {
    this.redirects = 0;
    let result;
    try {
      result = await request(this.socket, "join", {});
    } catch (error) {
      if (RETRIED_JOIN_ERRORS.has(error.code)) {
        // A slow or busy server: try again while the socket stays up.
        setTimeout(() => this.socket.connected && !this.finished && this.onConnect(), JOIN_RETRY_MS);
      } else {
        this.handlers.onJoinRefused(error);
      }
      return;
    }
    this.iceServers = result.ice_servers || [];
    this.consultState = result.consult?.state || this.consultState;
    const reconnect = this.joinedOnce;
    const hadMedia = this.inCall; // before onJoined, which may start the call for the first time
    this.joinedOnce = true;
    this.handlers.onConnection("connected");
    this.handlers.onJoined(result, { reconnect });
    // The join result carries what was missed while away: the chat so far and where the
    // other party stands.
    for (const message of result.chat || []) this.handlers.onChat(message);
    const other = this.role === "guardian" ? "physician" : "guardian";
    if (result.presence?.[other]) this.handlers.onPresence({ role: other, ...result.presence[other] });
    if (this.consultState === "in_call" && hadMedia) {
      // Back after a drop: the protocol wants a new offer (an ICE restart if the old
      // connection survived, a new connection otherwise; ConsultPeer decides).
      this.peer ? this.peer.recover() : this.startMedia();
    }
  }

  /** Ask to join again (after a refused join was put right, e.g. the recording notice). */
  rejoin() {
    if (this.socket?.connected) this.onConnect();
    else this.socket?.connect();
  }

  onConnectError(error) {
    const code = error?.data?.code;
    if (code === "wrong_node" || code === "cluster_unavailable") {
      this.handlers.onConnection("reconnecting");
      this.redirects += 1;
      if (code === "wrong_node" && error.data.url && this.redirects <= MAX_REDIRECTS) {
        // Several nodes: this consult lives on another one. Same token, that node's address.
        this.reopenLater(error.data.url, this.redirects > 1 ? FRONT_DOOR_RETRY_MS : 0);
      } else {
        // Redis away, or going round in circles while a dead node's placement expires.
        this.redirects = 0;
        this.reopenLater(null, CLUSTER_RETRY_MS);
      }
    } else if (code || this.socket.active === false) {
      // A refusal by the server (err.data) is final: Socket.IO does not retry it.
      this.finished = true;
      this.handlers.onRefused(code || "unauthenticated", error?.data?.message || error?.message);
    } else {
      this.handlers.onConnection("reconnecting");
      // The node we were sent to may be dead: go back to the front door, which places the
      // consult on a live node.
      if (this.base) this.reopenLater(null, FRONT_DOOR_RETRY_MS);
    }
  }

  onDisconnect(reason) {
    if (this.finished || reason === "io client disconnect") return;
    this.handlers.onConnection("reconnecting");
    if (this.base && reason !== "io server disconnect") {
      this.reopenLater(null, FRONT_DOOR_RETRY_MS);
    } else if (reason === "io server disconnect") {
      // The server hung up without saying `replaced` or `ended`: Socket.IO does not come
      // back by itself in that case.
      setTimeout(() => !this.finished && this.socket.connect(), 1000);
    }
  }

  onAdmitted(payload) {
    this.consultState = payload?.state || "in_call";
    this.handlers.onAdmitted(payload);
  }

  onConsultState(payload) {
    this.consultState = payload?.state || this.consultState;
    this.handlers.onConsultState(payload);
    if (payload?.state === "ended") this.onEnded({ outcome: payload.outcome });
    else if (["cancelled", "no_show", "archived"].includes(payload?.state)) {
      this.finish();
      this.handlers.onRefused("consult_closed", payload.state);
    }
  }

  /** `ended` {outcome, outcome_detail} (also reached from consult_state and our own `end`). */
  onEnded(payload) {
    // The room's `ended` reaches this page before the ack of our own `end`, and finish()
    // then closes the socket and loses that ack: the consult ending is the answer.
    this.settleEnd?.(payload);
    if (this.finished) return;
    // Media stops with the consult, and so does the recording; the server's own `recording
    // {status: "stopped"}` comes after `ended` and may not reach a socket that is closing.
    this.handlers.onRecording("stopped");
    this.finish();
    this.handlers.onEnded(payload?.outcome ?? null, payload?.outcome_detail ?? null);
  }

  /** Suspended or revoked from the whitelist: the server closes this socket next. */
  onWithdrawn(payload) {
    if (this.finished) return;
    this.handlers.onRecording("stopped");
    this.finish();
    this.handlers.onRefused("physician_not_whitelisted", payload?.message || "");
  }

  onReplaced() {
    this.finish();
    this.handlers.onReplaced();
  }

  /** The consult is in_call: create the peer connection and send the first offer. */
  async startCall() {
    if (this.inCall) return;
    this.inCall = true;
    await this.startMedia();
  }

  async startMedia() {
    this.peer ??= new ConsultPeer({
      iceServers: this.iceServers,
      local: this.local,
      signal: {
        offer: (description) => request(this.socket, "offer", description, 20000),
        candidate: (candidate) => request(this.socket, "ice_candidate", candidate),
        canSignal: () => Boolean(this.socket?.connected) && !this.finished,
      },
      onRemoteStream: (stream) => this.handlers.onRemoteStream(stream),
      onStateChange: (state) => this.handlers.onMediaState(state),
    });
    try {
      await this.peer.negotiate();
    } catch (error) {
      this.offerFailed(error);
    }
  }

  offerFailed(error) {
    // A timeout or drop is retried by the reconnect; the rest is worth showing.
    if (error instanceof SignalError && error.code !== "timeout") this.handlers.onMediaError(error.code);
  }

  // Client → server events, each resolving with the acknowledgement's result.
  admit() {
    return request(this.socket, "admit", {});
  }

  confirmGuardianPresent() {
    return request(this.socket, "confirm_guardian_present", {});
  }

  /** `end` with an outcome body ({outcome: "completed", diagnosis, …}; server/clinical/outcome.py). */
  async end(body) {
    let settleEnd;
    const endedMeanwhile = new Promise((resolve) => {
      settleEnd = (payload) => resolve({ ok: true, ...payload });
    });
    this.settleEnd = settleEnd;
    try {
      const result = await Promise.race([request(this.socket, "end", body), endedMeanwhile]);
      this.onEnded(result);
      return result;
    } finally {
      if (this.settleEnd === settleEnd) this.settleEnd = null;
    }
  }

  /** `capture_request` {body_site, laterality?, view?, retake_of?} → {request_id, expires_at}. */
  requestCapture(body) {
    return request(this.socket, "capture_request", body);
  }

  async leave() {
    try {
      await request(this.socket, "leave", {}, 5000);
    } finally {
      this.finish();
    }
  }

  async sendChat(text, clientId) {
    const result = await request(this.socket, "chat", { text, client_id: clientId });
    return result.message;
  }

  sendQuality(quality) {
    // Only the latest quality matters: not worth queueing while disconnected.
    if (this.socket?.connected) request(this.socket, "presence", { quality }).catch(() => {});
  }

  finish() {
    this.finished = true;
    clearTimeout(this.reopenTimer);
    this.inCall = false;
    this.peer?.close();
    this.socket?.disconnect();
  }
}
