// Strata RoQ player: WebTransport in, WebCodecs out. Every media frame arrives on its own
// unidirectional stream: a 28-byte header (see strata_roq/wt/wire.py), the frame, FIN.
"use strict";

const HEADER = 28, VIDEO = 0, AUDIO = 1, FLAG_KEY = 1, FLAG_CATCHUP = 2;
const params = new URLSearchParams(location.search);
const datagramMode = params.get("mode") === "datagram";
const S = window.strata = {
  state: "starting", error: null, connectAt: null, firstPictureAt: null,
  videoReceived: 0, videoDecoded: 0, videoSkipped: 0, audioReceived: 0, audioDecoded: 0,
  framesReset: 0, bytes: 0, latencies: [], arrivalLatencies: [], decodedLatencies: [],
  submittedLatencies: [],
  catchup: 0, decodeErrors: 0,
  renderedIndices: [],
  avOffsets: [], audioResyncs: 0, audioHolds: 0, audioTightened: 0, audioLead: 0,
  audioOutputMs: [],                // audio output latency, sampled twice a second (ms)
  audioDecodeLagMs: [],             // each audio frame: decoded this long after it arrived
  audioDropped: 0,                  // decoded too late for its place while it came in time
  audioArrivalUnknown: 0,           // decoded frames whose arrival was not found
  audioOverdue: 0, audioGaps: 0,    // came after their turn; never came (waited for 30 ms)
  mode: "streams", framesIncomplete: 0, clockRttMs: null,
};
// Per-picture records keep the last RECORD entries (about an hour at 30 fps): a page left
// open for a day would otherwise hold millions.
const RECORD = 100000;
function record(list, value) {
  list.push(value);
  if (list.length > RECORD + RECORD / 10) list.splice(0, list.length - RECORD);
}
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

// The server's wall clock minus ours, from the quickest of a few exchanges: a fetch that
// waited on a busy machine puts up to half its round trip into the offset (pictures showed
// 10-40 ms before they were captured), the quickest one the least.
async function measureClockOffset(tries = 5) {
  let best = Infinity;
  for (let i = 0; i < tries; i++) {
    const t0 = performance.now(), w0 = Date.now();
    const {server_time_ms} = await (await fetch("/api/time", {cache: "no-store"})).json();
    const rtt = performance.now() - t0;
    if (rtt < best) { best = rtt; clockOffset = server_time_ms - (w0 + rtt / 2); }
  }
  S.clockRttMs = best;
}

async function fetchInfo() {
  for (;;) {
    const info = await (await fetch("/api/info", {cache: "no-store"})).json();
    if (info.video) { await measureClockOffset(); return info; }
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
      const meta = decodeMeta.get(frame.timestamp);
      decodeMeta.delete(frame.timestamp);
      if (meta) meta.decoded = performance.now();
      shown.push({frame, meta});
      paintDue();
    },
    error: e => { S.decodeErrors++; S.error = String(e); needKey = true; videoDecoder = null; },
  });
  decoder.configure({codec: info.video.codec, optimizeForLatency: true});
  return decoder;
}

function paint({frame, meta}) {
  if (canvas.width !== frame.displayWidth) {
    canvas.width = frame.displayWidth; canvas.height = frame.displayHeight;
  }
  ctx2d.drawImage(frame, 0, 0);
  frame.close();
  S.videoDecoded++;
  if (S.firstPictureAt === null) S.firstPictureAt = performance.now();
  if (meta) {
    record(S.renderedIndices, meta.source);
    if (!meta.catchup && meta.capture) {
      const now = Date.now() + clockOffset, ago = performance.now();
      record(S.latencies, now - meta.capture);
      record(S.arrivalLatencies, now - (ago - meta.arrived) - meta.capture);
      record(S.decodedLatencies, now - (ago - meta.decoded) - meta.capture);
      record(S.submittedLatencies, now - (ago - meta.submitted) - meta.capture);
    }
  }
}
const decodeMeta = new Map();

function onVideo(info, f) {
  S.videoReceived++;
  // Decoding starts (and restarts after a loss) at a key frame. A delta frame that comes
  // before any (in datagram mode a live frame can overtake the catch-up's key frame, which
  // comes on a stream) waits for it; what the key frame makes useless is let go.
  if (f.key && (nextIndex === null || f.index > nextIndex && needKey)) {
    nextIndex = f.index;
    for (const i of pending.keys()) if (i < nextIndex) pending.delete(i);
  }
  if (nextIndex !== null && f.index < nextIndex) return;   // too late: its place was given up
  pending.set(f.index, f);
  if (nextIndex === null) {
    if (pending.size > 300) pending.delete(Math.min(...pending.keys()));
    return;
  }
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
                           catchup: f.catchup, arrived: f.arrived,
                           submitted: performance.now()});
    videoDecoder.decode(new EncodedVideoChunk({type: f.key ? "key" : "delta",
                                               timestamp: f.pts, data: f.data}));
  }
}

// ---- audio: independent AAC or Opus frames, decoded and scheduled on Web Audio ----------
let audioDecoder = null, audioCtx = null;
const arrivals = new Map();                     // pts (ms) -> performance.now() it arrived
// The decoders hand a frame back with its timestamp a microsecond off at times (3911999 for
// 3912000, AAC and Opus alike): looked up exactly, most frames' arrival went missing and their
// decode time was taken for it. Audio frames are 10 ms or more apart, so the millisecond is
// the frame.
function arrivalOf(pts) {
  const ms = Math.round(pts / 1000);
  for (const key of [ms, ms - 1, ms + 1]) {      // (a microsecond off can round either way)
    const came = arrivals.get(key);
    if (came !== undefined) { arrivals.delete(key); return came; }
  }
  return undefined;
}
function startAudio(info) {
  // Made before the session connects: creating an AudioContext holds the main thread for
  // up to a few hundred ms, and on the first frame that wait stood between the viewer and
  // live (every picture of the catch-up queued behind it).
  if (!audioCtx) {
    audioCtx = new AudioContext({sampleRate: info.audio.sampleRate, latencyHint: "interactive"});
  }
  audioDecoder = new AudioDecoder({
    output: data => {
      S.audioDecoded++;
      const buf = audioCtx.createBuffer(data.numberOfChannels, data.numberOfFrames,
                                        data.sampleRate);
      for (let c = 0; c < data.numberOfChannels; c++) {
        data.copyTo(buf.getChannelData(c), {planeIndex: c, format: "f32-planar"});
      }
      const came = arrivalOf(data.timestamp);
      // its arrival on the context's clock (which may not have been running yet then)
      if (came === undefined) S.audioArrivalUnknown++;
      const ago = came === undefined ? 0 : (performance.now() - came) / 1000;
      record(S.audioDecodeLagMs, Math.round(ago * 1000));
      const at = audioSlot(data.timestamp, audioCtx.currentTime - ago);
      data.close();
      if (at === null) return;       // the context's clock is not running yet, or too late
      const src = audioCtx.createBufferSource();
      src.buffer = buf; src.connect(audioCtx.destination);
      src.start(at);
    },
    error: e => { S.decodeErrors++; S.error = String(e); audioDecoder = null; },
  });
  audioDecoder.configure(info.audio);
}

// Sound goes to the decoder in index order: it plays frames in the order given, and Chromium
// stamps each output with the next time in its own count, so a frame overtaken by the next
// (streams finish in any order) was heard out of place and the two swapped timestamps. A
// missing frame is waited for AUDIO_WAIT ms after a later one came, then left as a gap.
const AUDIO_WAIT = 30, audioPending = new Map();
let nextAudio = null, audioTimer = null;
function onAudio(info, f) {
  S.audioReceived++;
  if (!info.audio) return;
  if (!audioDecoder) startAudio(info);
  if (nextAudio !== null && f.index < nextAudio) { S.audioOverdue++; return; }
  audioPending.set(f.index, f);
  drainAudio();
}

function drainAudio() {
  for (;;) {
    if (!audioPending.size) return;
    const first = Math.min(...audioPending.keys());
    const waited = performance.now() - audioPending.get(first).arrived;
    if (nextAudio === null || !audioPending.has(nextAudio)) {
      if (waited < AUDIO_WAIT) {                 // (the first frames: any that came later?)
        if (audioTimer === null) {
          audioTimer = setTimeout(() => { audioTimer = null; drainAudio(); },
                                  AUDIO_WAIT - waited + 1);
        }
        return;
      }
      if (nextAudio !== null) S.audioGaps += first - nextAudio;
      nextAudio = first;
    }
    const f = audioPending.get(nextAudio);
    audioPending.delete(nextAudio); nextAudio++;
    if (!audioDecoder) continue;                 // (a decode error closed it)
    arrivals.set(Math.round(f.pts / 1000), f.arrived);
    if (arrivals.size > 500) arrivals.delete(arrivals.keys().next().value);
    audioDecoder.decode(new EncodedAudioChunk({type: "key", timestamp: f.pts, data: f.data}));
  }
}

// ---- A/V sync: the sound is the clock, pictures wait for it ------------------------------
// A media timestamp (µs) plays out at anchor.at + (pts - anchor.pts) / 1e6 on the audio
// context's clock, set once that clock runs. The anchor puts the sound ``lead`` after the
// arrival of the fastest audio frame of the last second (arrival as the frame came in, not
// when it was decoded: a main thread busy with the catch-up GOP would otherwise start the
// clock late for good). Each audio frame is placed by its own timestamp (a lost one leaves a
// gap instead of pulling the rest early). A frame too late for its place because it came late
// is played at once, and such lateness for 300 ms moves the anchor later; a frame that came in
// time but was decoded too late (a decoder or main thread starved for a moment, as when a
// second page starts) is left out, and the anchor follows only a lag that lasts 1.5 s — else
// that moment's lag stayed in the clock, and every picture waited for it, for seconds. When
// even the fastest frames of a second find more than 30 ms of spare cushion the anchor comes
// earlier. Pictures are painted when the sound of their timestamp is
// being heard (output latency included). Pictures that stay late — more than 45 ms behind
// their sound (the threshold of detectability for sound ahead of picture) for 300 ms — hold
// the sound back by the least of that lateness; a burst of late pictures (a stall) is only
// painted late. The sound is held back at most 200 ms in all (at 300 ms a run ended with
// latency at 345 ms, over a 300-ms budget), and the hold-back is given back 20 ms every half
// second once 2 s pass without one. Lateness does not hold the sound back for a second after
// the clock starts (the decoder is still working through the catch-up GOP) nor for half a
// second after the anchor moves. Without sound (none in the feed, or the context not running)
// pictures are painted as they are decoded. Every picture's offset from its sound is kept in
// ``strata.avOffsets`` (ms, positive: the picture came late).
const LEAD = 0.04, MAX_LEAD = 0.2, EARLY = 0.008, LATE = 0.045, PERSIST = 300;
const CUSHION = 0.03, WINDOW = 1.0, LAG_PERSIST = 1500;
let anchor = null, calmUntil = 0, lead = LEAD, lastHold = 0, paintTimer = null, lateSince = null;
let lateRun = [];                               // [time, lateness] of pictures late in a row
let slack = [];                                 // [arrival, playout - arrival] of recent audio
const shown = [];                               // decoded pictures waiting for their time

function playout(pts) { return anchor.at + (pts - anchor.pts) / 1e6; }

function moved(calm) { slack = []; lateRun = []; calmUntil = performance.now() + calm; }

function audioSlot(pts, arrived) {
  const now = audioCtx.currentTime;
  if (anchor === null) {
    if (audioCtx.state !== "running" || now === 0) return null;
    anchor = {pts, at: arrived + lead}; moved(1000);    // (the first decodes lag: late)
  } else if (playout(pts) > now + MAX_LEAD + 0.5) {     // the timestamps jumped
    anchor = {pts, at: now + lead}; moved(500); S.audioResyncs++;
  }
  if (playout(pts) < now) {                              // too late for its place
    const t = performance.now();
    if (lateSince === null) lateSince = t;
    const lagged = arrived + EARLY < playout(pts);      // came in time, decoded too late
    if (t - lateSince < (lagged ? LAG_PERSIST : PERSIST) || t < calmUntil) {
      if (!lagged) return now;                           // played at once
      S.audioDropped++; return null;                     // left out: the clock stays
    }
    anchor = {pts, at: Math.max(arrived + lead, now + 0.01)}; moved(500); S.audioResyncs++;
  }
  lateSince = null;
  slack.push([arrived, playout(pts) - arrived]);
  while (slack.length && slack[0][0] < arrived - WINDOW) slack.shift();
  if (slack.length >= 20 && arrived - slack[0][0] > WINDOW * 0.9) {
    const spare = Math.min(...slack.map(x => x[1])) - lead;
    if (spare > CUSHION) { anchor.at -= spare; moved(500); S.audioTightened++; }
  }
  return playout(pts);
}

function audioHeard() {                         // the context time being heard right now
  const ts = audioCtx.getOutputTimestamp ? audioCtx.getOutputTimestamp() : null;
  if (ts && ts.contextTime > 0 && ts.performanceTime > 0) {
    return ts.contextTime + (performance.now() - ts.performanceTime) / 1000;
  }
  return audioCtx.currentTime - (audioCtx.baseLatency || 0) - (audioCtx.outputLatency || 0);
}

function judge(late) {
  const t = performance.now();
  record(S.avOffsets, late * 1000);
  if (t < calmUntil) return;
  if (late <= LATE) { lateRun = []; return; }
  lateRun.push([t, late]);
  if (t - lateRun[0][0] >= PERSIST && lateRun.length >= 5 && lead < MAX_LEAD) {
    const hold = Math.min(Math.min(...lateRun.map(x => x[1])), MAX_LEAD - lead);
    lead += hold; anchor.at += hold; lastHold = t; moved(500);
    S.audioHolds++;
  }
}

function paintDue() {
  const clocked = anchor !== null && audioCtx.state === "running" && shown.length < 30;
  if (clocked && lead > LEAD && performance.now() - lastHold > 2000) {
    const back = Math.min(0.02, lead - LEAD);
    lead -= back; anchor.at -= back; lastHold = performance.now() - 1500; slack = [];
  }
  S.audioLead = lead;
  while (shown.length) {
    const item = shown[0];
    if (clocked) {
      const late = audioHeard() - playout(item.frame.timestamp);
      if (late < -EARLY) {
        if (paintTimer === null) {
          paintTimer = setTimeout(() => { paintTimer = null; paintDue(); },
                                  Math.min(50, -late * 1000 - 4));
        }
        return;
      }
      if (item.meta && !item.meta.catchup) judge(late);
    }
    shown.shift();
    paint(item);
  }
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
  onFrame(info, buf);
}

function onFrame(info, buf) {
  const size = buf.length;
  if (size < HEADER) return;
  const v = new DataView(buf.buffer, buf.byteOffset, size);
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

// ---- datagram mode (?mode=datagram): frames cut into datagrams, put back together here ----
// Each datagram: a 12-byte fragment header (see strata_roq/wt/wire.py), then a slice of the
// frame as a stream would carry it. Nothing is retransmitted: a frame with a fragment still
// missing 500 ms after its first one is given up (counted in framesIncomplete).
const FRAGMENT = 12, partial = new Map();
function onDatagram(info, d) {
  if (d.length < FRAGMENT || d[0] !== 0x44 || d[1] !== 1) return;
  const v = new DataView(d.buffer, d.byteOffset, d.length);
  const part = v.getUint16(2), count = v.getUint16(4), seq = v.getUint32(8);
  if (part >= count) return;
  let p = partial.get(seq);
  if (!p) {
    p = {parts: new Array(count), got: 0, size: 0, first: performance.now()};
    partial.set(seq, p);
  }
  if (p.parts.length !== count || p.parts[part]) return;
  p.parts[part] = d.subarray(FRAGMENT); p.got++; p.size += d.length - FRAGMENT;
  if (p.got < count) return;
  partial.delete(seq);
  const buf = new Uint8Array(p.size); let o = 0;
  for (const c of p.parts) { buf.set(c, o); o += c.length; }
  onFrame(info, buf);
}
setInterval(() => {
  const now = performance.now();
  for (const [seq, p] of partial) {
    if (now - p.first > 500) { partial.delete(seq); S.framesIncomplete++; }
  }
}, 250);

async function readDatagrams(info, wt) {
  const reader = wt.datagrams.readable.getReader();
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    onDatagram(info, value);
  }
}

async function main() {
  const info = await fetchInfo();
  const token = params.get("token") || "";
  const query = new URLSearchParams();
  if (token) query.set("token", token);
  if (datagramMode) query.set("mode", "datagram");
  const url = `https://${location.hostname}:${info.port}/watch/${encodeURIComponent(info.stream)}` +
              (query.toString() ? "?" + query : "");
  S.state = "connecting";
  // decoders ready before the first frame (their set-up would otherwise delay it)
  if (info.audio) startAudio(info);
  videoDecoder = makeVideoDecoder(info);
  const wt = new WebTransport(url, {serverCertificateHashes:
                                    [{algorithm: "sha-256", value: hexBytes(info.cert_sha256)}]});
  if (datagramMode) {
    // a key frame arrives as a burst of datagrams: let them queue rather than be dropped
    // (set before the session is ready: the first live frames may come right after it)
    try { wt.datagrams.incomingHighWaterMark = 4096; } catch (e) { /* older API */ }
  }
  try {
    await wt.ready;
  } catch (e) {
    S.state = "refused"; S.error = String(e);
    statusLine.textContent = "refused: " + e; overlay.textContent = "not connected";
    return;
  }
  S.state = "connected"; S.connectAt = performance.now();
  S.mode = datagramMode ? "datagram" : "streams";
  statusLine.textContent = "";
  wt.closed.then(() => { S.state = "closed"; }, e => { S.state = "closed"; S.error = String(e); });
  if (datagramMode) readDatagrams(info, wt);
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
  const av = S.avOffsets.slice(-300).map(Math.abs).sort((a, b) => a - b);
  const avp95 = av.length ? av[Math.min(av.length - 1, Math.floor(0.95 * av.length))].toFixed(0) : "-";
  lastDecoded = S.videoDecoded; lastBytes = S.bytes;
  // How long the sound scheduled now takes to be heard: pictures wait for it (lip sync),
  // so it is part of the glass-to-glass latency the page can do nothing about.
  const out = audioCtx && audioCtx.state === "running" ?
    (audioCtx.currentTime - audioHeard()) * 1000 : null;
  if (out !== null) { S.audioOutputMs.push(Math.round(out * 10) / 10); }
  if (S.audioOutputMs.length > 600) S.audioOutputMs.shift();
  if (S.state === "connected" || S.state === "closed") {
    overlay.textContent =
      `latency p50 ${pct(0.5)} ms  p95 ${pct(0.95)} ms (glass to glass)\n` +
      `${fps} fps  ${rate.toFixed(2)} Mbit/s\n` +
      `video decoded ${S.videoDecoded}/${S.videoReceived}  dropped ${S.videoSkipped}  late ${S.framesReset}` +
      (datagramMode ? `  incomplete ${S.framesIncomplete} (datagrams)\n` : "\n") +
      `audio decoded ${S.audioDecoded}/${S.audioReceived}  A/V offset p95 ${avp95} ms` +
      (out !== null ? `  audio output ${out.toFixed(0)} ms` : "") +
      (S.error ? `\nerror: ${S.error}` : "");
  }
}, 500);

main().catch(e => { S.state = "error"; S.error = String(e); statusLine.textContent = String(e); });
