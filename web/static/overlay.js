"use strict";
// canvascap overlay. URL parameters (all optional):
//   lang=es          show this language's line (falls back to the source until it arrives)
//   show=source|translation|both   default: translation if lang is given, else source
//   lines=3          caption lines kept on screen
//   fade=8           seconds of silence before captions fade out (0: never)
//   font=Inter       font family        size=42        font size in px
//   color=ffffff     text colour        bg=00000099    box colour ("transparent" for none)
//   outline=4        dark outline around the letters, in px (default: on without a box)
//   align=center|left|right|start|end
//   speakers=1       start each line with who said it (S1, S2, ... or the names given)
//   token=...        needed when the server is not on this computer only

const params = new URLSearchParams(location.search);
const root = document.getElementById("captions");
const store = new CaptionStore();
const targetLang = params.get("lang");
const show = params.get("show") || (targetLang ? "translation" : "source");
const fadeS = Number(params.get("fade") ?? 8);
const lineCount = Number.parseInt(params.get("lines"), 10) || 3;
const speakers = params.get("speakers") === "1";

function cssColor(value) {
  if (!value) return null;
  const candidate = /^[0-9a-f]{3,8}$/i.test(value) ? `#${value}` : value;
  return CSS.supports("color", candidate) ? candidate : null;
}

function setStyle() {
  const style = document.documentElement.style;
  if (lineCount > 0) style.setProperty("--lines", String(lineCount));
  const size = Number.parseFloat(params.get("size"));
  if (size > 0) style.setProperty("--size", `${size}px`);
  const font = params.get("font");
  if (font && CSS.supports("font-family", font)) style.setProperty("--font", font);
  const color = cssColor(params.get("color"));
  if (color) style.setProperty("--color", color);
  const bg = cssColor(params.get("bg"));
  if (bg) style.setProperty("--bg", bg);
  // Without a box, light text needs an outline to be read over a light scene.
  const outline = Number.parseFloat(params.get("outline"));
  const boxless = bg && CSS.supports("color", bg) && /^(transparent|#[0-9a-f]{6}00)$/i.test(bg);
  const width = Number.isFinite(outline) ? outline : boxless ? Math.max(2, size / 14 || 3) : 0;
  if (width > 0) style.setProperty("--outline", `${width}px`);
  const align = params.get("align");
  if (["left", "right", "center", "start", "end"].includes(align)) {
    style.setProperty("--align", align);
  }
}

/** The spoken line of a caption id (raw or cleaned): the one that is not a translation. */
function sourceLine(lines) {
  for (const caption of lines.values()) if (caption.role !== "translation") return caption;
  return lines.values().next().value;
}

/** Fill an element with a caption's text: stable prefix, then the changing tail. */
function fill(element, caption, text) {
  const stableChars = caption && caption.text === text ? caption.stable_chars : 0;
  let stable = element.querySelector(".stable");
  let tail = element.querySelector(".tail");
  if (!stable) {
    stable = element.appendChild(document.createElement("span"));
    stable.className = "stable";
    tail = element.appendChild(document.createElement("span"));
    tail.className = "tail";
  }
  const head = caption.final ? text : text.slice(0, stableChars);
  // textContent only: caption text is never parsed as HTML.
  if (stable.textContent !== head) stable.textContent = head;
  const rest = caption.final ? "" : text.slice(head.length);
  if (tail.textContent !== rest) tail.textContent = rest;
}

/** The paragraph of an utterance: pieces sent as finals mid-sentence share one line,
 *  unless another person speaks (with speakers=1). */
function lineFor(caption) {
  const who = speakers && caption.speaker ? caption.speaker : "";
  const base = caption.utterance >= 0 ? `line-u${caption.utterance}` : `line-c${caption.id}`;
  const id = who ? `${base}-s${encodeURIComponent(who)}` : base;
  let line = document.getElementById(id);
  if (!line) {
    line = root.appendChild(document.createElement("p"));
    line.id = id;
    line.className = "line";
    line.dir = "auto"; // right-to-left scripts lay out correctly
    if (who) {
      const label = line.appendChild(document.createElement("span"));
      label.className = "speaker";
      label.textContent = who; // text, never HTML: names come from users
    }
  }
  return line;
}

function render() {
  const seen = new Set();
  for (const [id, lines] of store.byId()) {
    const source = sourceLine(lines);
    const translated = targetLang ? lines.get(targetLang) : null;
    // The top line: the translation when only that is asked for, else the spoken words.
    const primary = show === "translation" ? translated || source : source;
    const line = lineFor(source);
    let block = document.getElementById(`caption-${id}`);
    if (!block) {
      block = line.appendChild(document.createElement("span"));
      block.id = `caption-${id}`;
    } else if (block.parentElement !== line) {
      line.appendChild(block); // its speaker was decided otherwise
    }
    const joined = primary === source && source.continues_word; // rest of the word before
    const standIn = primary.stand_in ? " stand-in" : ""; // the spoken words, untranslated
    block.className = `caption ${primary.final ? "final" : "partial"}${joined ? " continues" : ""}${standIn}`;
    block.lang = primary.lang;
    let text = block.querySelector(".text:not(.translation)");
    if (!text) {
      text = block.appendChild(document.createElement("span"));
      text.className = "text";
    }
    fill(text, primary, primary.text);
    let second = block.querySelector(".translation");
    if (show === "both" && translated) {
      if (!second) {
        second = block.appendChild(document.createElement("span"));
        second.className = "text translation";
        second.dir = "auto";
      }
      second.lang = translated.lang;
      second.classList.toggle("stand-in", Boolean(translated.stand_in));
      fill(second, translated, translated.text);
    } else if (second) {
      second.remove();
    }
    seen.add(block.id);
    seen.add(line.id);
  }
  for (const line of [...root.children]) {
    const blocks = [...line.children].filter((child) => child.classList.contains("caption"));
    if (!seen.has(line.id) || blocks.length === 0) line.remove();
    else for (const block of blocks) if (!seen.has(block.id)) block.remove();
  }
}

/** Show exactly `lineCount` whole lines: the container ends where the oldest kept line
 *  starts, so older lines roll out of view whole instead of being cut through. */
function fitLines() {
  root.style.height = "auto";
  const bottoms = new Map(); // one entry per visual line: its top, by its bottom
  for (const text of root.querySelectorAll(".text")) {
    for (const box of text.getClientRects()) {
      const key = Math.round(box.bottom);
      bottoms.set(key, Math.min(bottoms.get(key) ?? Infinity, box.top));
    }
  }
  const lines = [...bottoms.entries()].sort((a, b) => a[0] - b[0]);
  if (lines.length <= lineCount) return;
  const kept = lines.slice(-lineCount);
  const top = Math.min(...kept.map(([, lineTop]) => lineTop));
  const bottom = root.getBoundingClientRect().bottom;
  root.style.height = `${Math.ceil(bottom - top)}px`;
}

let fadeTimer = null;
function wake() {
  root.classList.remove("faded");
  clearTimeout(fadeTimer);
  if (fadeS > 0) fadeTimer = setTimeout(() => root.classList.add("faded"), fadeS * 1000);
}

setStyle();
addEventListener("resize", fitLines);
openFeed(store, {
  onChange: () => {
    store.prune(50);
    render();
    fitLines();
    wake();
  },
});
