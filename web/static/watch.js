"use strict";
// canvascap audience page: the live transcript in the language the viewer picks, large,
// scrollable, with the screen kept on. URL: /watch?token=... (the read-only viewer token)
// and optionally &lang=es.

const store = new CaptionStore();
const view = document.getElementById("lines");
const picker = document.getElementById("language");
const backToLive = document.getElementById("live");
const params = new URLSearchParams(location.search);
let chosen = params.get("lang") ?? localStorage.getItem("canvascap-lang") ?? "";
let following = true; // keep the newest line in view until the viewer scrolls back

/** Offer every language the feed has carried so far (the spoken one is "as spoken"). */
function updateLanguages() {
  const known = new Set([...picker.options].map((o) => o.value));
  for (const caption of store.lines.values()) {
    if (caption.role === "translation" && !known.has(caption.lang)) {
      const option = picker.appendChild(document.createElement("option"));
      option.value = option.textContent = caption.lang;
      known.add(caption.lang);
    }
  }
  if (known.has(chosen)) picker.value = chosen;
}

/** The line to show for one caption id: the chosen language, else the spoken words. */
function lineFor(lines) {
  const spoken = [...lines.values()].find((c) => c.role !== "translation");
  const wanted = chosen ? lines.get(chosen) : spoken;
  // A stand-in is the spoken words shown while the translation is missing.
  return { caption: wanted || spoken, pending: Boolean(chosen) && (!wanted || wanted.stand_in) };
}

function render() {
  view.replaceChildren();
  for (const [, lines] of store.byId()) {
    const { caption, pending } = lineFor(lines);
    if (!caption) continue;
    const paragraph = view.appendChild(document.createElement("p"));
    paragraph.dir = "auto";
    paragraph.lang = caption.lang;
    paragraph.className = pending ? "pending" : caption.final ? "final" : "partial";
    paragraph.textContent = caption.text; // text, never HTML
  }
  if (following) view.scrollTop = view.scrollHeight;
}

view.addEventListener("scroll", () => {
  following = view.scrollTop + view.clientHeight >= view.scrollHeight - 8;
  backToLive.hidden = following;
});
backToLive.addEventListener("click", () => {
  following = true;
  view.scrollTop = view.scrollHeight;
  backToLive.hidden = true;
});
picker.addEventListener("change", () => {
  chosen = picker.value;
  localStorage.setItem("canvascap-lang", chosen);
  render();
});

// Keep the phone's screen on while captions are read; it may be refused (battery
// saving, an old browser), and is asked again when the page comes back into view.
async function keepAwake() {
  try {
    if ("wakeLock" in navigator && document.visibilityState === "visible") {
      await navigator.wakeLock.request("screen");
    }
  } catch {
    // captions work without it
  }
}
document.addEventListener("visibilitychange", keepAwake);
keepAwake();

function setStatus(state) {
  const badge = document.getElementById("status");
  badge.textContent = state;
  badge.className = `status ${state}`;
}

openFeed(store, {
  onChange: () => {
    store.prune(300); // scroll back over the last few hundred lines
    updateLanguages();
    render();
  },
  onStatus: setStatus,
});
