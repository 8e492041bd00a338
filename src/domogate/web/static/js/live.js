// The live channel /api/ws: the token goes in the first message, never in the URL. One
// Live is one connection to one origin (the API base's, or the one given); it pings often
// so that livesession.js can tell a dead path (paths.js) from a quiet one.

import { apiOrigin } from "./api.js";
import { PING_EVERY } from "./paths.js";

export class Live {
  constructor({ onMessage, onClose }) {
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.ws = null;
    this.lastError = null;
    this.pingTimer = null;
  }

  /** Open to `origin` (default: the API base) and sign in with `token`. */
  connect(token, origin = apiOrigin()) {
    this.close();
    const url = new URL("/api/ws", origin);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.origin = new URL(origin).origin;
    const ws = new WebSocket(url.href);
    this.ws = ws;
    this.lastError = null;
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "error") this.lastError = message.error;
      this.onMessage(message);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      this.onClose(event.code, this.lastError);
    };
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_EVERY);
  }

  get open() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  send(message) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  close() {
    clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
  }
}
