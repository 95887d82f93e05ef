// One task: its record (payload, result or error and traceback, attempts, worker), its
// timestamps as a timeline, and cancel.

import { ApiError, get, post, seg } from "../api.js";
import { badge, h, jsonBlock } from "../dom.js";
import * as fmt from "../format.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

function timeline(t, now) {
  const created = Date.parse(t.created_at);
  const started = t.started_at ? Date.parse(t.started_at) : null;
  const finished = t.finished_at ? Date.parse(t.finished_at) : null;
  const end = finished ?? now;
  const waited = ((started ?? end) - created) / 1000;
  const ran = started !== null ? (end - started) / 1000 : null;
  const span = Math.max(1, end - created);
  const bar = h("div", { class: "timeline-bar" },
    h("span", { class: "wait", style: { flexGrow: String(Math.max(waited * 1000, span * 0.02)) },
      title: "waiting" }),
    started !== null ? h("span", { class: finished ? "run" : "run open",
      style: { flexGrow: String(Math.max(ran * 1000, span * 0.02)) }, title: "running" }) : null);
  const step = (label, iso, detail) => h("li", { class: iso ? "" : "pending" },
    h("span", { class: "when" }, iso ? fmt.time(iso, { millis: true }) : "–"),
    h("span", { class: "what" }, label), h("span", { class: "muted" }, detail || ""));
  const endLabel = { succeeded: "succeeded", failed: "dead-lettered", cancelled: "cancelled" }[t.status];
  const startedDetail = started === null
    ? (finished ? `never started (waited ${fmt.duration(waited)})` : `waiting for ${fmt.duration(waited)}`)
    : `after waiting ${fmt.duration(waited)}` + (finished ? "" : ` · running for ${fmt.duration(ran)}`);
  return h("div", { class: "timeline" }, bar, h("ol", {},
    step("submitted", t.created_at, ""),
    step(t.attempts > 1 ? `started (attempt ${t.attempts})` : "started", t.started_at, startedDetail),
    step(endLabel || "finished", t.finished_at,
      finished ? (ran !== null ? `after running ${fmt.duration(ran)}` : "without running") : "not yet")));
}

function field(label, value, key) {
  return [h("dt", {}, label), h("dd", { dataset: { field: key } }, value)];
}

export function taskPage(ctx, id) {
  const notice = h("p", { class: "notice", role: "status", hidden: true });
  const body = h("div", { class: "page" });
  let task = null;

  function say(text, kind = "ok") {
    notice.textContent = text;
    notice.className = `notice ${kind}`;
    notice.hidden = false;
  }

  async function cancel() {
    try {
      const { data } = await post(`tasks/${seg(id)}/cancel`);
      say(`${data.detail[0].toUpperCase()}${data.detail.slice(1)}.`);
    } catch (err) {
      if (err.status === 401 || !err.status) ctx.fail(err);
      else say(`${err.status} ${err.message}`, "problem");
    }
    ctx.wake();
  }

  function render(t, now) {
    const terminal = TERMINAL.has(t.status);
    const cancelButton = terminal ? null : h("button", { type: "button", class: "danger",
      dataset: { action: "cancel" }, disabled: t.cancel_requested, onclick: cancel,
      title: t.status === "running" ? "asks the running task to stop (cooperative)" : "cancels at once" },
    t.cancel_requested ? "Cancellation requested" : "Cancel task");
    const outcome = [];
    if (t.status === "succeeded" || t.result !== null) outcome.push(h("h3", {}, "Result"), jsonBlock(t.result));
    if (t.error) outcome.push(h("h3", {}, "Error"), h("pre", { class: "error-text" }, t.error));
    if (t.traceback) outcome.push(h("h3", {}, "Traceback"), h("pre", { class: "traceback" }, t.traceback));
    body.replaceChildren(
      h("section", { class: "card" },
        h("div", { class: "card-head" },
          h("h1", {}, h("span", { class: "muted" }, "task "), h("span", { class: "mono" }, t.id)),
          h("div", { class: "actions" }, cancelButton)),
        notice,
        h("dl", { class: "record" },
          field("Status", badge(t.status), "status"),
          field("Type", t.task_type, "task_type"),
          field("Queue", h("a", { href: `#/queues/${encodeURIComponent(t.queue)}` }, t.queue), "queue"),
          field("Priority", String(t.priority), "priority"),
          field("Attempts", `${t.attempts} of ${t.max_retries + 1} (max_retries ${t.max_retries})`, "attempts"),
          field("Worker", h("span", { class: "mono" }, t.worker || "–"), "worker"),
          field("Cancel requested", t.cancel_requested ? "yes" : "no", "cancel_requested"))),
      h("section", { class: "card" }, h("h2", {}, "Timeline"), timeline(t, now)),
      // Side by side, unless a traceback needs the whole width.
      h("div", { class: t.traceback ? "page" : "columns" },
        h("section", { class: "card" }, h("h2", {}, "Payload"), jsonBlock(t.payload)),
        h("section", { class: "card" }, h("h2", {}, "Outcome"),
          outcome.length ? outcome : h("p", { class: "muted" }, "Not finished yet."))));
  }

  async function refresh(signal) {
    let answer;
    try {
      answer = await get(`tasks/${seg(id)}`, signal);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        body.replaceChildren(h("section", { class: "card" }, h("h1", {}, "No such task"),
          h("p", {}, `The API knows no task ${id}: the id is wrong, or the task ended and its `
            + "record expired (results are kept for the queue's result TTL).")));
        task = null;
        return;
      }
      throw err;
    }
    // A finished task does not change: drawn again only when its record does.
    if (answer.changed || !task || !TERMINAL.has(task.status)) {
      task = answer.data;
      render(task, Date.now());
    }
  }

  return { name: "task", title: `Task ${id}`, node: body, refresh };
}
