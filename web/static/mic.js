"use strict";
// canvascap remote microphone: sends this browser's microphone to a running session
// (canvascap run --source browser). Blocks of 40 ms go over the /ingest WebSocket, each
// after the index of its first sample, so the server counts what was lost as a gap.

const RATE = 16000;
const BLOCK = 640; // 40 ms
const MAX_WAITING = RATE * 2 * 2; // bytes: 2 s of audio not yet sent; more is dropped
const token = new URLSearchParams(location.search).get("token");
const streamId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
const button = document.getElementById("start");
const meter = document.getElementById("level");
const status = document.getElementById("status");
const sent = document.getElementById("sent");

let socket = null;
let produced = 0; // samples captured so far
let dropped = 0; // samples that could not be sent
let retries = 0;
let refused = false;

function show(text) {
  status.textContent = text; // text, never HTML: reasons come from the server
}

function showCounts() {
  const lost = dropped ? `, ${(dropped / RATE).toFixed(1)} s lost` : "";
  sent.textContent = `${(produced / RATE).toFixed(0)} s captured${lost}`;
}

function onBlock(pcm, level) {
  meter.value = Math.min(1, level * 5);
  const first = produced;
  produced += pcm.length;
  if (!socket || socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > MAX_WAITING) {
    dropped += pcm.length; // a gap, counted by the server too; never sent late
  } else {
    const message = new Uint8Array(8 + pcm.byteLength);
    new DataView(message.buffer).setBigUint64(0, BigInt(first), true);
    message.set(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength), 8);
    socket.send(message);
  }
  if (produced % RATE < BLOCK) showCounts();
}

function connect() {
  const url = new URL("/ingest", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (token) url.searchParams.set("token", token);
  socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    retries = 0;
    socket.send(JSON.stringify({ type: "hello", stream: streamId, sample_rate: RATE }));
    show("sending");
  };
  socket.onclose = (event) => {
    socket = null;
    if (event.code >= 4000 || event.code === 1008 || event.code === 1003) {
      refused = true; // another sender, no such session, or a bad token: say why, stop
      show(event.reason || "the server refused the microphone");
      button.disabled = false;
      return;
    }
    if (refused) return;
    show("reconnecting…");
    setTimeout(connect, Math.min(5000, 250 * 2 ** retries++));
  };
}

async function start() {
  button.disabled = true;
  refused = false;
  if (!navigator.mediaDevices) {
    show("this browser allows the microphone only over HTTPS here: start canvascap with " +
      "--tls-cert and --tls-key, and open the https:// address");
    button.disabled = false;
    return;
  }
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
  } catch (error) {
    show(`no microphone: ${error.message}`);
    button.disabled = false;
    return;
  }
  const context = new AudioContext();
  await context.audioWorklet.addModule("/mic-worklet.js");
  const node = new AudioWorkletNode(context, "pcm16k", { processorOptions: { block: BLOCK } });
  node.port.onmessage = ({ data }) => onBlock(data.pcm, data.level);
  context.createMediaStreamSource(media).connect(node);
  node.connect(context.destination); // silent, but keeps the node running everywhere
  await context.resume();
  show("connecting…");
  connect();
}

button.addEventListener("click", start);
