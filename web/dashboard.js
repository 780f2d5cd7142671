// Live plots of the gateway's stats (Server-Sent Events from /api/events), drawn with uPlot:
// totals, one line per viewer, and — when the feed is a bonded receiver — one per path.
"use strict";
const KEEP = 300;   // seconds of history
const series = {t: [], vin: [], ain: [], out: [], viewers: [], resets: [], skipped: []};
let last = null;
window.dashboard = {updates: 0};

function plot(id, title, labels, colors) {
  return new uPlot({title, width: 420, height: 220, scales: {x: {time: true}},
    series: [{}, ...labels.map((label, i) => ({label, stroke: colors[i], width: 2}))]},
    [[], ...labels.map(() => [])], document.getElementById(id));
}
const pFrames = plot("p-frames", "frames per second", ["video in", "audio in", "sent to viewers"],
                     ["#1f77b4", "#2ca02c", "#ff7f0e"]);
const pViewers = plot("p-viewers", "viewers", ["watching"], ["#9467bd"]);
const pDrops = plot("p-drops", "per second, all viewers", ["reset (late)", "skipped (slow viewer)"],
                    ["#d62728", "#8c564b"]);

function sum(list, key) { return list.reduce((a, v) => a + (v[key] || 0), 0); }

// Plots whose lines come and go (viewers join and leave, paths connect): rebuilt when the
// set of names changes.
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"];
const dynamic = {};
function pushLines(id, title, now, values) {
  const names = Object.keys(values);
  const el = document.getElementById(id);
  if (!names.length) { el.style.display = "none"; return; }
  let d = dynamic[id];
  if (!d || d.key !== names.join("\u0000")) {
    el.innerHTML = "";
    el.style.display = "";
    d = dynamic[id] = {key: names.join("\u0000"), t: [], ys: names.map(() => []),
      plot: new uPlot({title, width: 420, height: 220, scales: {x: {time: true}},
        series: [{}, ...names.map((n, i) => ({label: n, stroke: COLORS[i % COLORS.length],
                                                width: 2}))]},
        [[], ...names.map(() => [])], el)};
  }
  d.t.push(now);
  names.forEach((n, i) => d.ys[i].push(values[n]));
  if (d.t.length > KEEP) { d.t.shift(); d.ys.forEach(y => y.shift()); }
  d.plot.setData([d.t, ...d.ys]);
}
let lastViewers = {}, lastPaths = {};

function update(s) {
  const now = Date.now() / 1000;
  const cur = {t: now, video: s.frames ? s.frames.video : 0, audio: s.frames ? s.frames.audio : 0,
               sent: sum(s.per_viewer, "frames_sent"), resets: sum(s.per_viewer, "resets"),
               skipped: sum(s.per_viewer, "skipped")};
  if (last) {
    var dt = Math.max(cur.t - last.t, 1e-3);
    const rate = k => Math.max(0, (cur[k] - last[k]) / dt);
    series.t.push(now); series.vin.push(rate("video")); series.ain.push(rate("audio"));
    series.out.push(rate("sent")); series.viewers.push(s.viewers);
    series.resets.push(rate("resets")); series.skipped.push(rate("skipped"));
    for (const k in series) if (series[k].length > KEEP) series[k].shift();
    pFrames.setData([series.t, series.vin, series.ain, series.out]);
    pViewers.setData([series.t, series.viewers]);
    pDrops.setData([series.t, series.resets, series.skipped]);
    const perViewer = {}, pathRate = {}, pathRtt = {};
    for (const v of s.per_viewer || []) {
      const before = lastViewers[v.viewer];
      if (before) perViewer["viewer " + v.viewer] = Math.max(0, (v.frames_sent - before) / dt);
    }
    for (const p of s.paths || []) {
      const before = lastPaths[p.name];
      if (before !== undefined) pathRate[p.name] = Math.max(0, (p.bytes - before) * 8 / dt / 1e6);
      if (p.rtt_ms !== null) pathRtt[p.name] = p.rtt_ms;
    }
    pushLines("p-per-viewer", "frames per second, per viewer", now, perViewer);
    pushLines("p-path-rate", "Mbit/s received, per path", now, pathRate);
    pushLines("p-path-rtt", "RTT ms, per path", now, pathRtt);
  }
  lastViewers = Object.fromEntries((s.per_viewer || []).map(v => [v.viewer, v.frames_sent]));
  lastPaths = Object.fromEntries((s.paths || []).map(p => [p.name, p.bytes]));
  last = cur;
  document.getElementById("summary").textContent =
    `— ${s.viewers} watching, ${s.joined} joined, video ${s.frames ? s.frames.video : 0} frames in`;
  const body = document.querySelector("#viewers tbody");
  body.innerHTML = "";
  (s.per_viewer || []).forEach((v, i) => {
    const row = body.insertRow();
    for (const x of [v.viewer || i + 1, v.frames_sent, v.catchup_frames, v.resets, v.skipped,
                     (v.bytes_sent / 1e6).toFixed(1)]) row.insertCell().textContent = x;
  });
  window.dashboard.updates++;
}

const events = new EventSource("/api/events");
events.onmessage = e => update(JSON.parse(e.data));
