// The overview: every queue (depth by state, oldest wait, throughput, paused), the tasks
// ended per second as a live chart, live workers and circuit breakers.

import { get } from "../api.js";
import { lineChart, sparkline } from "../chart.js";
import { badge, h, table } from "../dom.js";
import * as fmt from "../format.js";
import { observe, rates, span, total } from "../store.js";

const QUEUE_COLUMNS = [
  { label: "Queue" },
  { label: "State" },
  { label: "Queued", class: "num" },
  { label: "Scheduled", class: "num", title: "delayed, or waiting for a retry's backoff" },
  { label: "Running", class: "num" },
  { label: "Dead-lettered", class: "num" },
  { label: "Oldest queued", class: "num", title: "how long the longest-waiting task has waited" },
  { label: "Ended, last min", class: "num", title: "succeeded, failed or cancelled; per second over about the last minute" },
  { label: "Ended per second, live", class: "spark" },
];

const WORKER_COLUMNS = [
  { label: "Worker" },
  { label: "Queues" },
  { label: "In flight", class: "num", title: "tasks running now / concurrency" },
  { label: "Processed", class: "num" },
  { label: "Failed", class: "num" },
  { label: "Up for", class: "num" },
  { label: "Last heartbeat", class: "num" },
];

const BREAKER_COLUMNS = [
  { label: "Queue" },
  { label: "Task type" },
  { label: "State" },
  { label: "Window", class: "num", title: "failures / outcomes in the current window" },
  { label: "Opened", class: "num", title: "times it opened" },
  { label: "Last opened", class: "num" },
];

function queueRow(q, sparkCell) {
  const d = q.depth;
  return h("tr", { dataset: { queue: q.name } },
    h("td", {}, h("a", { href: `#/queues/${encodeURIComponent(q.name)}` }, q.name)),
    h("td", { dataset: { col: "state" } }, q.paused ? badge("paused") : badge("active")),
    h("td", { class: "num", dataset: { col: "queued" } }, fmt.count(d.queued)),
    h("td", { class: "num", dataset: { col: "scheduled" } }, fmt.count(d.scheduled)),
    h("td", { class: "num", dataset: { col: "running" } }, fmt.count(d.running)),
    h("td", { class: d.failed ? "num warn" : "num", dataset: { col: "failed" } }, fmt.count(d.failed)),
    h("td", { class: "num" }, fmt.duration(q.oldest_queued_age_seconds)),
    h("td", { class: "num" }, fmt.rate(q.throughput_per_second)),
    sparkCell);
}

function workerRow(w, now) {
  const busy = w.concurrency ? Math.min(1, w.in_flight / w.concurrency) : 0;
  return h("tr", { dataset: { worker: w.id, pid: w.pid } },
    h("td", { title: w.id, class: "nowrap" }, h("span", { class: "mono" }, `${w.host} · pid ${w.pid}`)),
    h("td", {}, w.queues.join(", ")),
    h("td", { class: "num" },
      h("span", { class: "meter", title: `${Math.round(busy * 100)} % busy` },
        h("span", { style: { width: `${busy * 100}%` } })),
      ` ${w.in_flight} / ${w.concurrency}`),
    h("td", { class: "num" }, fmt.count(w.processed)),
    h("td", { class: "num" }, fmt.count(w.failed)),
    h("td", { class: "num" }, fmt.duration((now - Date.parse(w.started_at)) / 1000)),
    h("td", { class: "num" }, fmt.ago(w.last_heartbeat, now)));
}

export function breakerRow(b, withQueue = true) {
  return h("tr", { dataset: { breaker: `${b.queue || ""}/${b.task_type}` } },
    withQueue ? h("td", {}, h("a", { href: `#/queues/${encodeURIComponent(b.queue)}` }, b.queue)) : null,
    h("td", {}, b.task_type),
    h("td", {}, badge(b.state.replace("_", "-"), b.state)),
    h("td", { class: "num" }, `${fmt.count(b.window_failures)} / ${fmt.count(b.window_calls)}`),
    h("td", { class: "num" }, fmt.count(b.opens)),
    h("td", { class: "num" }, b.opened_at ? fmt.time(b.opened_at) : "never"));
}

export const BREAKERS_EMPTY = "No circuit breaker has counted an outcome yet (handlers declared "
  + "with @task(breaker=True) get one per queue).";

export function overviewPage(ctx) {
  let filter = "";
  let queues = [];
  const sparkCells = new Map(); // queue -> its sparkline cell in the current table
  const chartBox = h("div", { class: "chartbox" });
  const queueBox = h("div", { class: "scroll" });
  const workerBox = h("div", { class: "scroll" });
  const breakerBox = h("div", { class: "scroll" });
  const filterInput = h("input", { type: "search", placeholder: "filter queues",
    "aria-label": "filter queues", oninput: () => {
      filter = filterInput.value.trim();
      renderQueues();
      renderSparks(Date.now());
    } });
  const queueCount = h("span", { class: "muted" });

  function renderQueues() {
    sparkCells.clear();
    const shown = queues.filter((q) => q.name.includes(filter));
    const rows = shown.map((q) => {
      const cell = h("td", { class: "spark" });
      sparkCells.set(q.name, cell);
      return queueRow(q, cell);
    });
    queueCount.textContent = filter ? `${shown.length} of ${queues.length}` : `${queues.length}`;
    queueBox.replaceChildren(table(QUEUE_COLUMNS, rows,
      filter ? "No queue matches the filter." : "No queue has received a task yet."));
  }

  function renderSparks(now) {
    for (const [name, cell] of sparkCells) {
      const series = rates.get(name);
      cell.replaceChildren(series ? sparkline(series, { now, span: span(now), gapMs: ctx.gapMs }) : "");
    }
  }

  const node = h("div", { class: "page" },
    h("section", { class: "card" },
      h("h2", {}, "Tasks ended per second, all queues ",
        h("span", { class: "muted" }, "(succeeded, failed or cancelled; measured between polls)")),
      chartBox),
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Queues ", queueCount), filterInput),
      queueBox),
    h("section", { class: "card" }, h("h2", {}, "Live workers"), workerBox),
    h("section", { class: "card" }, h("h2", {}, "Circuit breakers"), breakerBox));

  async function refresh(signal) {
    const [q, w, b] = await Promise.all([
      get("queues", signal), get("workers", signal), get("breakers", signal)]);
    const now = Date.now();
    observe(q.data, now, true);
    if (q.changed) {
      queues = q.data;
      renderQueues();
    }
    renderSparks(now);
    chartBox.replaceChildren(lineChart(total, { now, span: span(now), gapMs: ctx.gapMs,
      unit: "tasks/s", label: "tasks ended per second, all queues" }));
    const workers = [...w.data].sort((a, x) => a.id.localeCompare(x.id));
    workerBox.replaceChildren(table(WORKER_COLUMNS, workers.map((x) => workerRow(x, now)),
      "No live worker (a worker appears here once it heartbeats)."));
    if (b.changed) {
      breakerBox.replaceChildren(table(BREAKER_COLUMNS, b.data.map((x) => breakerRow(x)),
        BREAKERS_EMPTY));
    }
  }

  return { name: "overview", title: "Overview", node, refresh };
}
