// Live plots of the gateway's stats (Server-Sent Events from /api/events), drawn with uPlot.
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

function update(s) {
  const now = Date.now() / 1000;
  const cur = {t: now, video: s.frames ? s.frames.video : 0, audio: s.frames ? s.frames.audio : 0,
               sent: sum(s.per_viewer, "frames_sent"), resets: sum(s.per_viewer, "resets"),
               skipped: sum(s.per_viewer, "skipped")};
  if (last) {
    const dt = Math.max(cur.t - last.t, 1e-3), rate = k => Math.max(0, (cur[k] - last[k]) / dt);
    series.t.push(now); series.vin.push(rate("video")); series.ain.push(rate("audio"));
    series.out.push(rate("sent")); series.viewers.push(s.viewers);
    series.resets.push(rate("resets")); series.skipped.push(rate("skipped"));
    for (const k in series) if (series[k].length > KEEP) series[k].shift();
    pFrames.setData([series.t, series.vin, series.ain, series.out]);
    pViewers.setData([series.t, series.viewers]);
    pDrops.setData([series.t, series.resets, series.skipped]);
  }
  last = cur;
  document.getElementById("summary").textContent =
    `— ${s.viewers} watching, ${s.joined} joined, video ${s.frames ? s.frames.video : 0} frames in`;
  const body = document.querySelector("#viewers tbody");
  body.innerHTML = "";
  (s.per_viewer || []).forEach((v, i) => {
    const row = body.insertRow();
    for (const x of [i + 1, v.frames_sent, v.catchup_frames, v.resets, v.skipped,
                     (v.bytes_sent / 1e6).toFixed(1)]) row.insertCell().textContent = x;
  });
  window.dashboard.updates++;
}

const events = new EventSource("/api/events");
events.onmessage = e => update(JSON.parse(e.data));
