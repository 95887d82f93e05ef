// One queue: depth and counters (fencing and lease ones included), a live chart, pause /
// resume, its circuit breakers, and its tasks by state a page at a time; the dead-letter
// queue with each task's error and traceback, requeue one or all.

import { get, post, seg } from "../api.js";
import { lineChart } from "../chart.js";
import { badge, h, table } from "../dom.js";
import * as fmt from "../format.js";
import { observe, seriesOf, span } from "../store.js";
import { BREAKERS_EMPTY, breakerRow } from "./overview.js";

const PAGE_SIZE = 20;
const STATES = [
  { state: "queued", label: "Queued", depth: "queued" },
  { state: "scheduled", label: "Scheduled", depth: "scheduled" },
  { state: "running", label: "Running", depth: "running" },
  { state: "failed", label: "Dead-lettered", depth: "failed" },
];
// The queue's counters since it was created, with what each one means.
const COUNTERS = [
  ["succeeded", "Succeeded", "tasks that ended with a result"],
  ["failed", "Dead-lettered", "tasks that used up their retries (or their lease ran out on the last one)"],
  ["retried", "Retried", "failed attempts that were scheduled again, after a backoff"],
  ["cancelled", "Cancelled", "tasks cancelled while queued, scheduled or running"],
  ["lease_expired", "Leases expired", "claims whose worker stopped heartbeating: the task was taken back and redelivered"],
  ["stale_rejected", "Stale completions rejected", "results from a worker whose lease had been taken over: refused by the fencing token"],
  ["deferred", "Deferred by a breaker", "claims handed back unrun because the task type's circuit breaker was open"],
  ["orphans", "Orphans cleaned", "index entries whose task record had expired"],
];
const BREAKER_COLUMNS = [
  { label: "Task type" }, { label: "State" },
  { label: "Window", class: "num", title: "failures / outcomes in the current window" },
  { label: "Opened", class: "num", title: "times it opened" }, { label: "Last opened", class: "num" },
];

function taskColumns(state) {
  const common = [{ label: "Task" }, { label: "Type" }, { label: "Priority", class: "num" },
    { label: "Attempts", class: "num" }, { label: "Submitted", class: "num" }];
  if (state === "running") return [...common, { label: "Started", class: "num" }, { label: "Worker" }];
  if (state === "failed") {
    return [...common, { label: "Dead-lettered", class: "num" }, { label: "Error" }, { label: "" }];
  }
  return [...common, { label: "Waiting for", class: "num" }];
}

export function queuePage(ctx, name, stateArg) {
  const state = STATES.some((x) => x.state === stateArg) ? stateArg : "queued";
  let cursor = "0";
  const earlier = []; // cursors of the pages before this one
  const openTracebacks = new Set(); // task ids whose traceback is unfolded
  const base = `#/queues/${encodeURIComponent(name)}`;

  const stateBadge = h("span");
  const pauseButton = h("button", { type: "button" });
  const notice = h("p", { class: "notice", role: "status", hidden: true });
  const cards = h("div", { class: "stats" });
  const chartBox = h("div", { class: "chartbox" });
  const counterBox = h("dl", { class: "counters" });
  const breakerBox = h("div");
  const tabs = h("nav", { class: "tabs" });
  const listBox = h("div", { class: "wide" });
  const pager = h("div", { class: "pager" });
  const requeueAll = h("button", { type: "button", hidden: state !== "failed",
    title: "up to 1,000 at a time, oldest first", onclick: () => requeue([]) },
  "Requeue all dead-lettered");

  function say(text, kind = "ok") {
    notice.textContent = text;
    notice.className = `notice ${kind}`;
    notice.hidden = false;
  }

  async function act(run) {
    try {
      await run();
    } catch (err) {
      if (err.status === 401 || !err.status) ctx.fail(err);
      else say(`${err.status} ${err.message}`, "problem");
    }
    ctx.wake();
  }

  async function requeue(ids) {
    await act(async () => {
      const body = JSON.stringify(ids.length ? { ids } : {});
      const { data } = await post(`queues/${seg(name)}/dead-letter/requeue`, body);
      const n = data.requeued.length;
      say(n ? `Requeued ${n} task${n === 1 ? "" : "s"}: ${data.requeued.join(", ")}`
        : "Nothing to requeue (the tasks had left the dead-letter queue).");
    });
  }

  function renderHead(q) {
    stateBadge.replaceChildren(q.paused ? badge("paused") : badge("active"));
    pauseButton.textContent = q.paused ? "Resume" : "Pause";
    pauseButton.dataset.action = q.paused ? "resume" : "pause";
    pauseButton.title = q.paused ? "workers claim from this queue again"
      : "workers stop claiming from this queue; running tasks finish";
    pauseButton.onclick = () => act(async () => {
      const verb = q.paused ? "resume" : "pause";
      const { data } = await post(`queues/${seg(name)}/${verb}`);
      renderHead(data);
      say(data.paused ? "Paused: workers claim nothing from this queue until it is resumed."
        : "Resumed: workers claim from this queue again.");
    });
    const d = q.depth;
    const card = (label, value, col, title) => h("div", { class: "stat", title, dataset: { stat: col } },
      h("div", { class: "value" }, value), h("div", { class: "label" }, label));
    cards.replaceChildren(
      card("queued", fmt.count(d.queued), "queued"),
      card("scheduled", fmt.count(d.scheduled), "scheduled", "delayed, or waiting for a retry's backoff"),
      card("running", fmt.count(d.running), "running"),
      card("dead-lettered", fmt.count(d.failed), "failed"),
      card("oldest queued task has waited", fmt.duration(q.oldest_queued_age_seconds), "oldest"),
      card("ended, last minute", fmt.rate(q.throughput_per_second), "throughput"));
    counterBox.replaceChildren(...COUNTERS.flatMap(([key, label, title]) => [
      h("dt", { title }, label), h("dd", { dataset: { counter: key } }, fmt.count(q.totals[key] || 0))]));
    tabs.replaceChildren(...STATES.map((x) => h("a", {
      href: `${base}/${x.state}`, class: x.state === state ? "active" : "",
      dataset: { tab: x.state } }, `${x.label} (${fmt.count(d[x.depth])})`)));
  }

  function taskRow(t, now) {
    const cells = [
      h("td", { class: "id" }, h("a", { href: `#/tasks/${encodeURIComponent(t.id)}`, class: "mono" }, t.id)),
      h("td", {}, t.task_type),
      h("td", { class: "num" }, String(t.priority)),
      h("td", { class: "num" }, `${t.attempts} of ${t.max_retries + 1}`),
      h("td", { class: "num" }, fmt.time(t.created_at)),
    ];
    if (state === "running") {
      cells.push(h("td", { class: "num" }, fmt.ago(t.started_at, now)), h("td", { class: "mono small" }, t.worker || "–"));
    } else if (state === "failed") {
      // The traceback unfolds in a row of its own, below, as wide as the table.
      const columns = taskColumns(state).length;
      const detail = h("tr", { class: "detail", hidden: !openTracebacks.has(t.id),
        dataset: { tracebackOf: t.id } },
      h("td", { colspan: columns }, h("pre", { class: "traceback" }, t.traceback || "(no traceback)")));
      const toggle = h("button", { type: "button", class: "link", dataset: { traceback: t.id },
        onclick: () => {
          const open = !openTracebacks.has(t.id);
          if (open) openTracebacks.add(t.id); else openTracebacks.delete(t.id);
          detail.hidden = !open;
          toggle.textContent = open ? "hide traceback" : "show traceback";
        } }, openTracebacks.has(t.id) ? "hide traceback" : "show traceback");
      cells.push(h("td", { class: "num" }, fmt.time(t.finished_at)),
        h("td", { class: "error" }, h("div", {}, t.error || "(no error text)"), toggle),
        h("td", {}, h("button", { type: "button", dataset: { requeue: t.id },
          onclick: () => requeue([t.id]) }, "Requeue")));
      return [h("tr", { dataset: { task: t.id } }, cells), detail];
    } else {
      cells.push(h("td", { class: "num" }, fmt.duration((now - Date.parse(t.created_at)) / 1000)));
    }
    return h("tr", { dataset: { task: t.id } }, cells);
  }

  function renderList(page, now) {
    const label = STATES.find((x) => x.state === state).label.toLowerCase();
    listBox.replaceChildren(table(taskColumns(state), page.tasks.map((t) => taskRow(t, now)),
      `No ${label} task.`));
    const from = Number(cursor);
    pager.replaceChildren(
      h("button", { type: "button", disabled: !earlier.length, onclick: () => {
        cursor = earlier.pop();
        ctx.wake();
      } }, "← Previous"),
      h("span", { class: "muted" }, page.tasks.length
        ? `tasks ${from + 1}–${from + page.tasks.length}` : ""),
      h("button", { type: "button", disabled: !page.next_cursor, onclick: () => {
        earlier.push(cursor);
        cursor = page.next_cursor;
        ctx.wake();
      } }, "Next →"));
  }

  const node = h("div", { class: "page" },
    h("section", { class: "card" },
      h("div", { class: "card-head" },
        h("h1", {}, h("span", { class: "muted" }, "queue "), name, " ", stateBadge),
        h("div", { class: "actions" },
          h("a", { href: `#/submit?queue=${encodeURIComponent(name)}`, class: "button secondary" },
            "Submit a task here"),
          pauseButton)),
      notice, cards),
    h("div", { class: "columns wide-left" },
      h("section", { class: "card" }, h("h2", {}, "Tasks ended per second ",
        h("span", { class: "muted" }, "(measured between polls)")), chartBox),
      h("section", { class: "card" }, h("h2", {}, "Counters ", h("span", { class: "muted" }, "since the queue was created")),
        counterBox)),
    h("section", { class: "card" }, h("h2", {}, "Circuit breakers"), breakerBox),
    h("section", { class: "card" },
      h("div", { class: "card-head" }, tabs, requeueAll), listBox, pager));

  async function refresh(signal) {
    const list = `tasks?queue=${seg(name)}&status=${state}&limit=${PAGE_SIZE}&cursor=${cursor}`;
    const [q, page, b] = await Promise.all([get(`queues/${seg(name)}`, signal),
      get(list, signal), get(`queues/${seg(name)}/breakers`, signal)]);
    const now = Date.now();
    observe([q.data], now, false);
    if (q.changed) renderHead(q.data);
    requeueAll.disabled = !q.data.depth.failed;
    if (page.changed || state !== "failed") renderList(page.data, now); // times move on
    chartBox.replaceChildren(lineChart(seriesOf(name), { width: 760, height: 200, now,
      span: span(now), gapMs: ctx.gapMs, unit: "tasks/s", label: `tasks ended per second in ${name}` }));
    if (b.changed) {
      breakerBox.replaceChildren(table(BREAKER_COLUMNS, b.data.map((x) => breakerRow(x, false)),
        BREAKERS_EMPTY));
    }
  }

  return { name: "queue", title: `Queue ${name}`, node, refresh };
}
