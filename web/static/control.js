"use strict";
// canvascap control page: live transcript, pipeline health, overlay URL builder.

const token = new URLSearchParams(location.search).get("token");
const store = new CaptionStore();
const transcript = document.getElementById("transcript");

function clock(seconds) {
  const s = Math.floor(seconds);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function renderTranscript() {
  const atBottom = transcript.scrollTop + transcript.clientHeight >= transcript.scrollHeight - 4;
  transcript.replaceChildren();
  const open = new Map(); // pieces of one utterance (finals sent mid-sentence): one line
  for (const [, lines] of store.byId()) {
    for (const caption of lines.values()) {
      const key =
        caption.utterance >= 0 ? `${caption.utterance}|${caption.lang}|${caption.speaker}` : null;
      let line = key && open.get(key);
      if (!line) {
        line = transcript.appendChild(document.createElement("p"));
        line.dir = "auto";
        const time = line.appendChild(document.createElement("span"));
        time.className = "time";
        time.textContent = `${clock(caption.start_s)} ${caption.lang}`;
        if (caption.speaker) {
          const who = line.appendChild(document.createElement("span"));
          who.className = "speaker";
          who.textContent = `${caption.speaker}: `; // text, never HTML
        }
        if (key) open.set(key, line);
      } else if (!caption.continues_word) {
        line.append(" ");
      }
      const piece = line.appendChild(document.createElement("span"));
      piece.className = caption.final ? "final" : "partial";
      piece.textContent = caption.text; // text, never HTML
    }
  }
  if (atBottom) transcript.scrollTop = transcript.scrollHeight;
}

function setStatus(state) {
  const badge = document.getElementById("status");
  badge.textContent = state;
  badge.className = `status ${state}`;
}

const feed = openFeed(store, {
  onChange: () => {
    store.prune(200);
    renderTranscript();
  },
  onStatus: setStatus,
});

// Speaker names: "S1 is Ana" applies to what is said from now on.
const rename = document.getElementById("rename");
rename.addEventListener("submit", (event) => {
  event.preventDefault();
  const label = rename.elements.label.value.trim().toUpperCase();
  const name = rename.elements.name.value.trim();
  const sent = feed.send({ type: "rename", label, name });
  document.getElementById("renamed").textContent = sent
    ? `${label} is now ${name || label}`
    : "not connected; try again";
});

// Overlay URL builder with a live preview.
const form = document.getElementById("style");
const urlBox = document.getElementById("overlay-url");
const preview = document.getElementById("preview");

function overlayUrl() {
  const url = new URL("/overlay", location.href);
  const defaults = { lines: "3", size: "42", color: "#ffffff", align: "center" };
  for (const [name, raw] of new FormData(form)) {
    const value = String(raw).trim().replace(/^#/, "");
    if (value && value !== (defaults[name] || "").replace(/^#/, "")) {
      url.searchParams.set(name, value);
    }
  }
  if (token) url.searchParams.set("token", token);
  return url;
}

function updateUrl() {
  const url = overlayUrl();
  urlBox.value = url.href;
  url.searchParams.set("fade", "0"); // the preview keeps the last caption on show
  preview.src = url.href;
}

form.addEventListener("input", updateUrl);

// Scale the 1920x1080 preview to the width it has on this page.
const previewBox = document.getElementById("preview-box");
new ResizeObserver(() => {
  previewBox.style.setProperty("--scale", String(previewBox.clientWidth / 1920));
}).observe(previewBox);
document.getElementById("copy").addEventListener("click", async () => {
  urlBox.select();
  try {
    await navigator.clipboard.writeText(urlBox.value);
  } catch {
    document.execCommand("copy");
  }
});
updateUrl();

// Captions sent to other platforms, and how many attempts failed.
function showOutputs(counters) {
  const names = { zoom: "Zoom", youtube: "YouTube", obs: "OBS" };
  const parts = [];
  for (const [key, label] of Object.entries(names)) {
    const sent = counters[`${key}.sent`] || 0;
    const failed = counters[`${key}.failures`] || 0;
    if (sent || failed) parts.push(`${label}: ${sent} sent, ${failed} failed attempt(s)`);
  }
  const requests = counters["translate.requests"] || 0;
  const failedRequests = counters["translate.request_errors"] || 0;
  const untranslated = counters["translate.lines_untranslated"] || 0;
  if (requests || failedRequests) {
    parts.push(
      `Translation: ${requests} request(s), ${failedRequests} failed, ` +
        `${untranslated} line(s) left untranslated`,
    );
  }
  document.getElementById("outputs").textContent = parts.join("; ");
}

// Glossary terms heard in final captions, and how many were set right from a misspelling.
function showGlossary(counters) {
  const parts = [];
  for (const [name, uses] of Object.entries(counters)) {
    if (!name.startsWith("glossary.used.")) continue;
    const term = name.slice("glossary.used.".length);
    const fixed = counters[`glossary.fixed.${term}`] || 0;
    parts.push(`${term} ${uses}${fixed ? ` (${fixed} set right)` : ""}`);
  }
  document.getElementById("glossary").textContent = parts.length
    ? `Glossary terms heard: ${parts.join(", ")}`
    : "";
}

// The audience page: its address (with the read-only viewer token) and a QR code.
function showAudiencePage(watchUrl) {
  const link = document.getElementById("watch-url");
  if (!watchUrl || link.href === watchUrl) return;
  link.href = watchUrl;
  link.textContent = watchUrl;
  document.getElementById("watch-local").hidden = !/^http:\/\/(127\.|localhost|\[::1\])/.test(watchUrl);
  document.getElementById("watch-qr").src =
    `/watch-qr.svg${token ? `?token=${encodeURIComponent(token)}` : ""}`;
}

// Pipeline health, once a second.
async function poll() {
  try {
    const response = await fetch(`/healthz${token ? `?token=${encodeURIComponent(token)}` : ""}`);
    const health = await response.json();
    const body = document.querySelector("#metrics tbody");
    body.replaceChildren();
    for (const [name, edge] of Object.entries(health.edges)) {
      const row = body.insertRow();
      const lag = edge.lag_s_p50 == null ? "-" : `${Math.round(edge.lag_s_p50 * 1000)} ms`;
      for (const cell of [name, edge.depth, lag, edge.dropped]) {
        row.insertCell().textContent = String(cell);
      }
    }
    // Stages working in a reduced way (a transcript the disk refuses, ...): text only.
    const alerts = document.getElementById("alerts");
    const problems = Object.entries(health.degraded || {});
    alerts.hidden = problems.length === 0;
    alerts.replaceChildren(
      ...problems.map(([stage, reason]) => {
        const item = document.createElement("li");
        item.textContent = `${stage}: ${reason}`;
        return item;
      }),
    );
    showAudiencePage(health.watch_url);
    showOutputs(health.counters || {});
    showGlossary(health.counters || {});
    document.getElementById("clients").textContent =
      `${health.clients} overlay client(s), up ${Math.round(health.uptime_s)} s`;
  } catch {
    // the server is restarting; the feed shows "reconnecting"
  }
}
poll();
setInterval(poll, 1000);
