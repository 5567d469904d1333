"use strict";
// canvascap caption feed client, shared by the overlay and the control page.
// Applies the protocol's client rule (web/protocol.py) and reconnects with backoff.

const FEED_VERSION = 2;

/** A message in this page's protocol version, or null to ignore it. */
function upgrade(message) {
  if (message.v === FEED_VERSION) return message;
  if (message.v > FEED_VERSION) {
    // The server was updated while this page stayed open: fetch the matching code,
    // at most once a minute so a misconfigured server cannot loop the page.
    const last = Number(sessionStorage.getItem("canvascap-reloaded") || 0);
    if (Date.now() - last > 60000) {
      sessionStorage.setItem("canvascap-reloaded", String(Date.now()));
      location.reload();
    }
    return null;
  }
  if (message.v === 1) {
    // Version 1 had no roles: a line whose text is its source was the spoken one.
    const withRole = (c) => ({ ...c, role: c.text === c.source ? "spoken" : "translation" });
    if (message.type === "caption") return withRole(message);
    if (message.type === "snapshot") return { ...message, captions: message.captions.map(withRole) };
  }
  return null;
}

class CaptionStore {
  constructor() {
    this.session = null;
    this.lines = new Map(); // "id|lang" -> caption
  }

  /** Take a snapshot (on connect, and after every reconnect). A new session starts
   *  afresh; the same session keeps the finals already held, which the snapshot's short
   *  history may no longer hold, and drops partials it no longer has. */
  load(snapshot) {
    if (snapshot.session !== this.session) this.lines.clear();
    this.session = snapshot.session;
    const current = new Set(snapshot.captions.map((c) => `${c.id}|${c.lang}`));
    for (const [key, caption] of this.lines) {
      if (!caption.final && !current.has(key)) this.lines.delete(key);
    }
    for (const caption of snapshot.captions) this.apply(caption);
  }

  /** Apply one revision; return false if it is stale. */
  apply(caption) {
    const key = `${caption.id}|${caption.lang}`;
    const held = this.lines.get(key);
    if (held && (held.final || held.rev >= caption.rev)) return false;
    if (caption.final && !caption.text) this.lines.delete(key); // retracted: not speech
    else this.lines.set(key, caption);
    return true;
  }

  /** Caption ids in order, each with its lines by language. */
  byId() {
    const ids = new Map();
    for (const caption of this.lines.values()) {
      if (!ids.has(caption.id)) ids.set(caption.id, new Map());
      ids.get(caption.id).set(caption.lang, caption);
    }
    return new Map([...ids.entries()].sort((a, b) => a[0] - b[0]));
  }

  /** Forget all but the newest `keep` ids. */
  prune(keep) {
    const ids = [...new Set([...this.lines.values()].map((c) => c.id))].sort((a, b) => a - b);
    const cutoff = ids.length > keep ? ids[ids.length - keep] : -Infinity;
    for (const [key, caption] of this.lines) if (caption.id < cutoff) this.lines.delete(key);
  }
}

/** Connect to /ws (passing on ?token=), call back on every change, reconnect forever. */
function openFeed(store, { onChange, onStatus }) {
  const token = new URLSearchParams(location.search).get("token");
  let delayMs = 500;
  let current = null;
  function connect() {
    const url = new URL("/ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.search = token ? `?token=${encodeURIComponent(token)}` : "";
    const socket = new WebSocket(url);
    current = socket;
    socket.onopen = () => {
      delayMs = 500;
      if (onStatus) onStatus("live");
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = upgrade(JSON.parse(event.data));
      } catch {
        return;
      }
      if (!message) return;
      if (message.type === "snapshot") {
        store.load(message);
        onChange(null);
      } else if (message.type === "caption" && store.apply(message)) {
        onChange(message);
      }
    };
    socket.onclose = () => {
      if (onStatus) onStatus("reconnecting");
      setTimeout(connect, delayMs);
      delayMs = Math.min(delayMs * 2, 8000);
    };
  }
  connect();
  return {
    /** Send a control message (e.g. a speaker's name); false when not connected. */
    send(message) {
      if (!current || current.readyState !== WebSocket.OPEN) return false;
      current.send(JSON.stringify(message));
      return true;
    },
  };
}
