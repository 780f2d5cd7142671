// Strata RoQ player: WebTransport in, WebCodecs out. Every media frame arrives on its own
// unidirectional stream: a 28-byte header (see strata_roq/wt/wire.py), the frame, FIN.
"use strict";

const HEADER = 28, VIDEO = 0, AUDIO = 1, FLAG_KEY = 1, FLAG_CATCHUP = 2;
const params = new URLSearchParams(location.search);
const S = window.strata = {
  state: "starting", error: null, connectAt: null, firstPictureAt: null,
  videoReceived: 0, videoDecoded: 0, videoSkipped: 0, audioReceived: 0, audioDecoded: 0,
  framesReset: 0, bytes: 0, latencies: [], catchup: 0, decodeErrors: 0, renderedIndices: [],
};
const canvas = document.getElementById("video");
const ctx2d = canvas.getContext("2d");
const overlay = document.getElementById("overlay");
const statusLine = document.getElementById("status");
let clockOffset = 0;          // server wall clock minus ours (ms)

function hexBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

async function fetchInfo() {
  for (;;) {
    const t0 = Date.now();
    const info = await (await fetch("/api/info", {cache: "no-store"})).json();
    clockOffset = info.server_time_ms - (t0 + Date.now()) / 2;
    if (info.video) return info;
    statusLine.textContent = "waiting for the feed to bring a key frame…";
    await new Promise(r => setTimeout(r, 300));
  }
}

// ---- video: decode in index order; after a gap, wait for the next key frame ------------
let videoDecoder = null, nextIndex = null, needKey = true;
const pending = new Map();

function makeVideoDecoder(info) {
  const decoder = new VideoDecoder({
    output: frame => {
      if (canvas.width !== frame.displayWidth) {
        canvas.width = frame.displayWidth; canvas.height = frame.displayHeight;
      }
      ctx2d.drawImage(frame, 0, 0);
      const meta = decodeMeta.get(frame.timestamp);
      decodeMeta.delete(frame.timestamp);
      frame.close();
      S.videoDecoded++;
      if (S.firstPictureAt === null) S.firstPictureAt = performance.now();
      if (meta) {
        S.renderedIndices.push(meta.source);
        if (!meta.catchup && meta.capture) {
          S.latencies.push(Date.now() + clockOffset - meta.capture);
        }
      }
    },
    error: e => { S.decodeErrors++; S.error = String(e); needKey = true; videoDecoder = null; },
  });
  decoder.configure({codec: info.video.codec, optimizeForLatency: true});
  return decoder;
}
const decodeMeta = new Map();

function onVideo(info, f) {
  S.videoReceived++;
  if (nextIndex === null || f.key && f.index > nextIndex && needKey) nextIndex = f.index;
  if (f.index < nextIndex) return;             // too late: its place was given up
  pending.set(f.index, f);
  drainVideo(info);
}

function drainVideo(info) {
  for (;;) {
    let f = pending.get(nextIndex);
    if (!f) {
      if (pending.size === 0) return;
      const oldest = Math.min(...pending.keys());
      const waited = performance.now() - pending.get(oldest).arrived;
      if (waited < 150) { setTimeout(() => drainVideo(info), 30); return; }
      S.videoSkipped += oldest - nextIndex;   // lost or reset: decode can't use what follows
      nextIndex = oldest; needKey = true;
      continue;
    }
    pending.delete(nextIndex); nextIndex++;
    if (needKey && !f.key) { S.videoSkipped++; continue; }
    if (!videoDecoder) videoDecoder = makeVideoDecoder(info);
    needKey = false;
    decodeMeta.set(f.pts, {index: f.index, source: f.source, capture: f.capture,
                           catchup: f.catchup});
    videoDecoder.decode(new EncodedVideoChunk({type: f.key ? "key" : "delta",
                                               timestamp: f.pts, data: f.data}));
  }
}

// ---- audio: independent AAC frames, decoded and scheduled on Web Audio ------------------
let audioDecoder = null, audioCtx = null, audioTime = 0;
function onAudio(info, f) {
  S.audioReceived++;
  if (!info.audio) return;
  if (!audioDecoder) {
    audioCtx = new AudioContext({sampleRate: info.audio.sampleRate, latencyHint: "interactive"});
    audioDecoder = new AudioDecoder({
      output: data => {
        S.audioDecoded++;
        const buf = audioCtx.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
        for (let c = 0; c < data.numberOfChannels; c++) {
          data.copyTo(buf.getChannelData(c), {planeIndex: c, format: "f32-planar"});
        }
        data.close();
        const src = audioCtx.createBufferSource();
        src.buffer = buf; src.connect(audioCtx.destination);
        const now = audioCtx.currentTime;
        if (audioTime < now || audioTime > now + 0.3) audioTime = now + 0.02;
        src.start(audioTime); audioTime += buf.duration;
      },
      error: e => { S.decodeErrors++; S.error = String(e); audioDecoder = null; },
    });
    audioDecoder.configure(info.audio);
  }
  audioDecoder.decode(new EncodedAudioChunk({type: "key", timestamp: f.pts, data: f.data}));
}

// ---- transport -----------------------------------------------------------------------------
async function readFrame(info, stream) {
  const reader = stream.getReader();
  const chunks = []; let size = 0;
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      chunks.push(value); size += value.length;
    }
  } catch (e) { S.framesReset++; return; }     // reset at its deadline: better never than late
  const buf = new Uint8Array(size); let o = 0;
  for (const c of chunks) { buf.set(c, o); o += c.length; }
  if (size < HEADER) return;
  const v = new DataView(buf.buffer);
  if (v.getUint8(0) !== 0x53 || v.getUint8(1) !== 1) return;
  S.bytes += size;
  const flags = v.getUint8(3);
  const f = {kind: v.getUint8(2), key: !!(flags & FLAG_KEY), catchup: !!(flags & FLAG_CATCHUP),
             index: v.getUint32(4), pts: Number(v.getBigInt64(8)),
             capture: Number(v.getBigInt64(16)) / 1000, source: v.getUint32(24),
             data: buf.subarray(HEADER),
             arrived: performance.now()};
  if (f.catchup) S.catchup++;
  if (f.kind === VIDEO) onVideo(info, f); else if (f.kind === AUDIO) onAudio(info, f);
}

async function main() {
  const info = await fetchInfo();
  const token = params.get("token") || "";
  const url = `https://${location.hostname}:${info.port}/watch/${encodeURIComponent(info.stream)}` +
              (token ? `?token=${encodeURIComponent(token)}` : "");
  S.state = "connecting";
  const wt = new WebTransport(url, {serverCertificateHashes:
                                    [{algorithm: "sha-256", value: hexBytes(info.cert_sha256)}]});
  try {
    await wt.ready;
  } catch (e) {
    S.state = "refused"; S.error = String(e);
    statusLine.textContent = "refused: " + e; overlay.textContent = "not connected";
    return;
  }
  S.state = "connected"; S.connectAt = performance.now();
  statusLine.textContent = "";
  wt.closed.then(() => { S.state = "closed"; }, e => { S.state = "closed"; S.error = String(e); });
  const streams = wt.incomingUnidirectionalStreams.getReader();
  for (;;) {
    const {value, done} = await streams.read();
    if (done) break;
    readFrame(info, value);
  }
}

// ---- overlay ----------------------------------------------------------------------------------
let lastDecoded = 0, lastBytes = 0;
setInterval(() => {
  const recent = S.latencies.slice(-300).sort((a, b) => a - b);
  const pct = p => recent.length ? recent[Math.min(recent.length - 1, Math.floor(p * recent.length))].toFixed(0) : "-";
  const fps = (S.videoDecoded - lastDecoded) * 2, rate = (S.bytes - lastBytes) * 16 / 1e6;
  lastDecoded = S.videoDecoded; lastBytes = S.bytes;
  if (S.state === "connected" || S.state === "closed") {
    overlay.textContent =
      `latency p50 ${pct(0.5)} ms  p95 ${pct(0.95)} ms (glass to glass)\n` +
      `${fps} fps  ${rate.toFixed(2)} Mbit/s\n` +
      `video decoded ${S.videoDecoded}/${S.videoReceived}  dropped ${S.videoSkipped}  late ${S.framesReset}\n` +
      `audio decoded ${S.audioDecoded}/${S.audioReceived}` + (S.error ? `\nerror: ${S.error}` : "");
  }
}, 500);

main().catch(e => { S.state = "error"; S.error = String(e); statusLine.textContent = String(e); });
