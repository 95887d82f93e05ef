// The live page of a lab run: polls the run's document (GET api/run, conditional on the
// last ETag) and draws throughput, latency, queue depth and workers over the run's time
// axis, with the timeline's fault windows shaded, and the events as a table.
//
// One loop, one timer; each answer replaces the page's nodes, so a page left open during
// a long run stays the same size.

import { h, table } from "./dom.js";
import { plot, windowsOf } from "./plot.js";

const query = new URLSearchParams(location.search);
const POLL_MS = Math.min(60000, Math.max(100, Number(query.get("poll_ms")) || 1000));
const TIMEOUT_MS = 10000;

const main = document.getElementById("main");
const live = document.getElementById("live");
let etag = null;
let last = null; // the last document

const PHASES = {
  starting: "starting the system",
  load: "under load",
  draining: "load over, draining the backlog",
  reporting: "writing the report",
  done: "finished",
  failed: "the run failed",
  interrupted: "interrupted",
};

function setLive(kind, text) {
  live.className = `live ${kind}`;
  live.textContent = text;
}

const num = (v, digits = 0) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));

function stat(label, value, title) {
  return h("div", { class: "stat", title }, h("div", { class: "value" }, value),
    h("div", { class: "label" }, label));
}

function lastOf(values) {
  for (let i = values.length - 1; i >= 0; i -= 1) if (values[i] !== null) return values[i];
  return null;
}

function header(doc) {
  const load = doc.load || {};
  const smp = doc.samples || { t: [] };
  const elapsed = doc.elapsed_s === undefined ? "–" : Math.max(0, doc.elapsed_s).toFixed(1);
  return h("section", { class: "card" },
    h("div", { class: "card-head" },
      h("h1", {}, `Run of ${doc.name}`,
        h("span", { class: "badge phase", dataset: { phase: doc.phase } }, PHASES[doc.phase] || doc.phase)),
      h("span", { class: "muted mono small" }, doc.run_dir)),
    doc.description ? h("p", { class: "muted" }, doc.description) : null,
    doc.message ? h("p", { class: "problem" }, doc.message) : null,
    h("div", { class: "stats run" },
      stat("elapsed / load (s)", `${elapsed} / ${doc.duration_s}`,
        "seconds since the load started / the load's duration"),
      stat("sent / planned", `${num(load.sent)} / ${num(load.planned)}`),
      stat("accepted", num(load.accepted)),
      stat("refused / errors", `${num(load.refused)} / ${num(load.failed)}`,
        "429 / 503 answers (retried after Retry-After) / submits that failed otherwise"),
      stat("ended per s", num(lastOf(smp.ended_per_s || []), 1),
        "tasks that succeeded, were dead-lettered or cancelled, per second, last sample"),
      stat("queued", num(lastOf(smp.depth_queued || []))),
      stat("running", num(lastOf(smp.depth_running || []))),
      stat("workers", num(lastOf(smp.worker_processes || [])), "worker processes alive")));
}

function result(doc) {
  const r = doc.result;
  if (!r) return null;
  const rows = r.checks.map((c) => h("tr", {},
    h("td", {}, c.name), h("td", { class: `verdict ${c.passed ? "pass" : "fail"}` }, c.passed ? "pass" : "FAIL"),
    h("td", {}, c.detail)));
  return h("section", { class: "card", dataset: { result: r.passed ? "pass" : "fail" } },
    h("h2", {}, "Verdict: ", h("span", { class: `verdict ${r.passed ? "pass" : "fail"}` }, r.passed ? "PASS" : "FAIL")),
    h("p", {}, `accepted ${r.accepted}, succeeded ${r.succeeded}, lost ${r.lost}, duplicates `
      + `${r.duplicates}; throughput ${num(r.throughput_per_s, 1)} tasks/s; latency p50 `
      + `${num(r.latency_p50_s, 3)} s, p99 ${num(r.latency_p99_s, 3)} s`),
    table([{ label: "check" }, { label: "result" }, { label: "detail" }], rows, "no checks"),
    h("p", { class: "muted small" }, "Report: ", h("span", { class: "mono" }, r.report)));
}

function charts(doc) {
  const smp = doc.samples;
  const events = doc.events || [];
  const windows = windowsOf(events);
  const lastT = Math.max(doc.elapsed_s || 0, ...smp.t);
  const xMin = Math.min(0, ...smp.t);
  const xMax = Math.max(doc.duration_s, lastT);
  const common = { windows, xMin, xMax };
  const lat = doc.latency;
  return h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", {}, "Over time"),
      h("div", { class: "legend" },
        h("span", { class: "window-key effect" }, "from an event's request to its effect"),
        h("span", { class: "window-key held" }, "a fault held until lifted"))),
    h("p", { class: "axis-note" }, "x: seconds since the load started"),
    plot({ ...common, labels: true, title: "Throughput", unit: "tasks / s", series: [
      { label: "offered (arrivals per second)", t: doc.offered.t, v: doc.offered.per_s, step: true },
      { label: "ended (succeeded, dead-lettered or cancelled)", t: smp.t, v: smp.ended_per_s },
    ] }),
    plot({ ...common, title: "Latency (workers' histograms, per second)", unit: "seconds", series: [
      { label: "queue wait p50", t: lat.wait.t, v: lat.wait.p50 },
      { label: "queue wait p95", t: lat.wait.t, v: lat.wait.p95 },
      { label: "run time p95", t: lat.run.t, v: lat.run.p95 },
    ] }),
    plot({ ...common, title: "Queue depth", unit: "tasks", series: [
      { label: "queued", t: smp.t, v: smp.depth_queued, step: true },
      { label: "scheduled", t: smp.t, v: smp.depth_scheduled, step: true },
      { label: "running", t: smp.t, v: smp.depth_running, step: true },
    ] }),
    plot({ ...common, title: "Workers", unit: "processes", height: 160, integer: true, series: [
      { label: "alive", t: smp.t, v: smp.worker_processes, step: true },
      { label: "registered", t: smp.t, v: smp.workers_registered, step: true },
    ] }));
}

const EVENT_COLUMNS = [
  { label: "#", class: "num" },
  { label: "action" },
  { label: "detail" },
  { label: "at (s)", class: "num", title: "scheduled by the scenario" },
  { label: "requested (s)", class: "num", title: "when the lab issued it" },
  { label: "effective (s)", class: "num", title: "when it had happened" },
  { label: "lifted (s)", class: "num", title: "when a fault with a duration was undone" },
  { label: "processes" },
  { label: "in flight", class: "num", title: "tasks the killed or cut-off workers held" },
  { label: "note" },
];

function eventRows(events) {
  return events.map((e) => h("tr", { class: `event-row${e.effective_s === null ? " pending" : ""}`,
    dataset: { event: e.action } },
  h("td", { class: "num" }, String(e.index)),
  h("td", { class: "action" }, e.action),
  h("td", { class: "mono small" }, e.detail),
  h("td", { class: "num" }, num(e.scheduled_s, 2)),
  h("td", { class: "num" }, num(e.requested_s, 2)),
  h("td", { class: "num" }, e.effective_s === null ? "pending" : num(e.effective_s, 2)),
  h("td", { class: "num" }, num(e.lifted_s, 2)),
  h("td", { class: "mono small" }, e.processes),
  h("td", { class: "num" }, num(e.in_flight)),
  h("td", { class: "small" }, e.note)));
}

function render(doc) {
  const parts = [header(doc), result(doc)];
  if (doc.samples) {
    parts.push(charts(doc));
    parts.push(h("section", { class: "card" }, h("h2", {}, "Event timeline"),
      h("div", { class: "wide" }, table(EVENT_COLUMNS, eventRows(doc.events),
        "no event yet (the scenario's events happen at their times)"))));
  } else {
    parts.push(h("section", { class: "card" }, h("p", { class: "muted" },
      "Starting the system; the charts begin with the load.")));
  }
  main.replaceChildren(h("div", { class: "page" }, parts));
  main.dataset.phase = doc.phase;
  document.title = `${doc.name} · ${PHASES[doc.phase] || doc.phase} · lab run`;
}

async function poll() {
  const headers = etag ? { "If-None-Match": etag } : {};
  const response = await fetch("api/run", { headers, cache: "no-store", credentials: "omit",
    signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (response.status === 304) return;
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  etag = response.headers.get("ETag");
  last = await response.json();
  render(last);
}

async function loop() {
  for (;;) {
    try {
      await poll();
      setLive("ok", `live · every ${POLL_MS / 1000} s`);
    } catch (err) {
      if (last && ["done", "failed", "interrupted"].includes(last.phase)) {
        setLive("warn", "the run is over and lab run has stopped serving this page");
      } else {
        setLive("error", `lab unreachable (${err.message}); retrying`);
      }
    }
    await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
  }
}

loop();
