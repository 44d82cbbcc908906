// The chat panel. A message is shown at once as "sending"; the server's acknowledgement
// (or its `chat` broadcast, whichever comes first) marks it sent. A failed message keeps its
// client_id, so "resend" can never store it twice (the server makes resends idempotent).
import { el, setText } from "./text.js";

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ChatPanel {
  /**
   * @param {object} options
   * @param {string} options.myRole "physician" | "guardian"
   * @param {(text: string, clientId: string) => Promise<object>} options.send resolves with the stored message
   * @param {(count: number) => void} [options.onUnread]
   */
  constructor({ list, form, input, myRole, send, onUnread }) {
    this.list = list;
    this.input = input;
    this.myRole = myRole;
    this.send = send;
    this.onUnread = onUnread || (() => {});
    this.items = new Map(); // client_id → {node, status, text}
    this.seen = new Set(); // server message ids already shown
    this.unread = 0;
    this.visible = true;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      this.submit(text, newClientId());
    });
  }

  setVisible(visible) {
    this.visible = visible;
    if (visible) {
      this.unread = 0;
      this.onUnread(0);
      this.list.scrollTop = this.list.scrollHeight;
    }
  }

  async submit(text, clientId) {
    let item = this.items.get(clientId);
    if (!item) {
      item = this.render({ text, from_role: this.myRole, client_id: clientId });
      this.items.set(clientId, item);
    }
    this.setStatus(item, "pending");
    try {
      const message = await this.send(text, clientId);
      this.confirm(item, message);
    } catch {
      if (item.status !== "sent") this.setStatus(item, "failed");
    }
  }

  /** A `chat` event: someone's message (ours too, echoed to every participant). */
  receive(message) {
    if (message.id !== undefined && this.seen.has(message.id)) return;
    const mine = this.items.get(message.client_id);
    if (mine && message.from_role === this.myRole) {
      this.confirm(mine, message);
      return;
    }
    const item = this.render(message);
    if (message.client_id) this.items.set(message.client_id, item);
    if (message.seq !== undefined) this.place(item.node, message.seq);
    this.setStatus(item, "sent");
    this.seen.add(message.id);
    if (!this.visible && message.from_role !== this.myRole) {
      this.unread += 1;
      this.onUnread(this.unread);
    }
  }

  confirm(item, message) {
    if (message?.id !== undefined) this.seen.add(message.id);
    if (message?.sent_at) setText(item.time, "call.value", { value: { time: message.sent_at } });
    if (message?.seq !== undefined) this.place(item.node, message.seq);
    this.setStatus(item, "sent");
  }

  /**
   * Order stored messages by the server's sequence number, so both parties (and the record)
   * read the same conversation; messages still sending stay at the end.
   */
  place(node, seq) {
    node.dataset.seq = seq;
    const after = [...this.list.children].find((other) => other !== node
      && (other.dataset.seq === undefined || Number(other.dataset.seq) > seq));
    if (after) this.list.insertBefore(node, after);
    else this.list.append(node);
  }

  render(message) {
    const mine = message.from_role === this.myRole;
    const who = mine ? "call.chat.me" : `call.role.${message.from_role}`;
    const time = el("time", {});
    if (message.sent_at) setText(time, "call.value", { value: { time: message.sent_at } });
    const state = el("span", { class: "chat-state" });
    const retry = el("button", { type: "button", class: "link-button chat-retry", hidden: true, text: "call.chat.retry" });
    // Not <li>: the log role replaces a list's, and list items need a list around them.
    const node = el("div", { class: `chat-message ${mine ? "mine" : "theirs"}` },
      el("div", { class: "chat-meta" }, el("span", { text: who }), " ", time, " ", state),
      el("p", { class: "chat-text" }, message.text),
      retry);
    const item = { node, time, state, retry, text: message.text, status: null };
    retry.addEventListener("click", () => this.submit(item.text, message.client_id));
    this.list.append(node);
    this.list.scrollTop = this.list.scrollHeight;
    return item;
  }

  setStatus(item, status) {
    item.status = status;
    item.node.dataset.status = status;
    item.retry.hidden = status !== "failed";
    if (status === "pending") setText(item.state, "call.chat.pending");
    else if (status === "failed") setText(item.state, "call.chat.failed");
    else {
      item.state.textContent = "";
      delete item.state.dataset.callKey;
    }
  }
}
