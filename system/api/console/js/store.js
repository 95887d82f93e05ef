// Live rates kept while the page is open: tasks ended per second, per queue and in total,
// from the difference of each queue's counters between two polls. Bounded: five minutes
// per series (chart.js), and a queue that disappears takes its series with it.

import { Series, spanSince } from "./chart.js";

const ENDED = ["succeeded", "failed", "cancelled"];
const last = new Map(); // queue -> {t, ended}: the counters at the previous poll
export const rates = new Map(); // queue -> Series
export const total = new Series();
let startedAt = null; // the first observation: how far back the charts can go

/** The time span the charts show now. */
export function span(now) {
  return spanSince(startedAt ?? now, now);
}

function ended(queue) {
  return ENDED.reduce((sum, key) => sum + (queue.totals[key] || 0), 0);
}

export function seriesOf(name) {
  let series = rates.get(name);
  if (!series) {
    series = new Series();
    rates.set(name, series);
  }
  return series;
}

/** Record the counters of `queues` read at time t (ms). `everyQueue`: the list is all of
 *  them (GET /queues), so the total gets a sample and vanished queues are dropped. */
export function observe(queues, t, everyQueue) {
  startedAt = startedAt ?? t;
  let sum = 0;
  let sampled = false;
  for (const queue of queues) {
    const before = last.get(queue.name);
    const now = ended(queue);
    last.set(queue.name, { t, ended: now });
    if (!before || t <= before.t) continue;
    const perSecond = Math.max(0, now - before.ended) / ((t - before.t) / 1000);
    seriesOf(queue.name).push(t, perSecond);
    sum += perSecond;
    sampled = true;
  }
  if (!everyQueue) return;
  const names = new Set(queues.map((q) => q.name));
  for (const name of [...last.keys()]) {
    if (!names.has(name)) {
      last.delete(name);
      rates.delete(name);
    }
  }
  if (sampled || queues.length === 0) total.push(t, sum);
}
