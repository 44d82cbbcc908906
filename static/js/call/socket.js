// The Socket.IO connection to the /consult namespace (docs/protocol.md).
//
// The client library is imported when the page first needs the socket, not at load: the
// summary, recording notice, intake and camera check use only the HTTP API and keep working
// if the socket bundle cannot be fetched on a bad connection.

const CLIENT_URL = "/vendor/socket.io/socket.io.esm.min.js";
const ACK_TIMEOUT_MS = 12000;

let ioLoading = null;

function loadClient() {
  ioLoading ??= import(CLIENT_URL).then((module) => module.io);
  return ioLoading;
}

/** A refused or unanswered event: `code` is the protocol's error code, or "timeout". */
export class SignalError extends Error {
  constructor(code, message = "") {
    super(message || code);
    this.code = code;
  }
}

/** `base`: another node's origin after a `wrong_node` redirect; null for this page's own. */
export async function openSocket(token, base = null) {
  const io = await loadClient();
  return io(base ? new URL("/consult", base).href : "/consult", {
    auth: { token },
    transports: ["websocket", "polling"],
    // Come back quickly: the other party sees "reconnecting" until we do.
    reconnectionDelay: 500,
    reconnectionDelayMax: 4000,
    randomizationFactor: 0.3,
  });
}

/**
 * Emit `event` and wait for its acknowledgement ({ok: true, ...} or {ok: false, error}).
 * Resolves with the result, rejects with a SignalError.
 */
export async function request(socket, event, payload = {}, timeoutMs = ACK_TIMEOUT_MS) {
  let reply;
  try {
    reply = await socket.timeout(timeoutMs).emitWithAck(event, payload);
  } catch {
    throw new SignalError("timeout", `${event}: no answer`);
  }
  if (!reply || reply.ok !== true) {
    throw new SignalError(reply?.error?.code || "internal_error", reply?.error?.message || "");
  }
  return reply;
}
