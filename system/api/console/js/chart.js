// Time series with a bounded history, drawn as small SVG line charts.

import { s } from "./dom.js";

export const SPAN_MS = 5 * 60 * 1000; // the longest a chart shows: the last five minutes
const MAX_POINTS = 600; // and never more samples than this, however fast the page polls
const MINUTE_MS = 60 * 1000;

/** Samples (time in ms, value) of the last SPAN_MS, at most MAX_POINTS: memory stays
 *  bounded however long a page stays open. */
export class Series {
  constructor() {
    this.t = [];
    this.v = [];
  }

  push(t, v) {
    this.t.push(t);
    this.v.push(v);
    let drop = 0;
    while (drop < this.t.length && this.t[drop] < t - SPAN_MS) drop += 1;
    drop = Math.max(drop, this.t.length - MAX_POINTS);
    if (drop > 0) {
      this.t.splice(0, drop);
      this.v.splice(0, drop);
    }
  }

  get last() {
    return this.v.length ? this.v[this.v.length - 1] : null;
  }
}

/** The time a chart spans, given how long the page has been collecting: one minute at
 *  first, then growing by whole minutes up to SPAN_MS, so a new page is not an empty chart
 *  with a few samples squeezed against its right edge. */
export function spanSince(startedAt, now) {
  const elapsed = now - startedAt;
  return Math.min(SPAN_MS, Math.max(MINUTE_MS, Math.ceil(elapsed / MINUTE_MS) * MINUTE_MS));
}

function timeTicks(span) {
  if (span <= MINUTE_MS) {
    return [60, 50, 40, 30, 20, 10, 0].map((sec) => [sec * 1000, sec ? `−${sec} s` : "now"]);
  }
  const minutes = [];
  for (let m = span / MINUTE_MS; m >= 0; m -= 1) minutes.push([m * MINUTE_MS, m ? `−${m} min` : "now"]);
  return minutes;
}

/** The smallest 1, 2 or 5 x 10^k at or above x (and at least 1). */
function niceCeiling(x) {
  if (!(x > 1)) return 1;
  const power = 10 ** Math.floor(Math.log10(x));
  for (const step of [1, 2, 5, 10]) if (step * power >= x) return step * power;
  return 10 * power;
}

/** Polyline segments; a pause between samples longer than gapMs (the page was hidden,
 *  the API unreachable) is drawn as a gap, not as a line across it. */
function segments(series, x, y, gapMs) {
  const parts = [];
  let current = [];
  for (let i = 0; i < series.t.length; i += 1) {
    if (i > 0 && series.t[i] - series.t[i - 1] > gapMs && current.length) {
      parts.push(current);
      current = [];
    }
    current.push(`${x(series.t[i]).toFixed(1)},${y(series.v[i]).toFixed(1)}`);
  }
  if (current.length) parts.push(current);
  return parts;
}

/** A line chart of the last `span` ms with axes: value axis in `unit`, time axis in
 *  seconds or minutes before now. */
export function lineChart(series, { width = 1180, height = 170, unit, now, span, gapMs, label }) {
  const pad = { left: 64, right: 16, top: 12, bottom: 28 };
  const w = width - pad.left - pad.right;
  const hgt = height - pad.top - pad.bottom;
  const top = niceCeiling(Math.max(0, ...series.v));
  const x = (t) => pad.left + w * (1 - (now - t) / span);
  const y = (v) => pad.top + hgt * (1 - v / top);
  const grid = [0, top / 2, top].map((v) =>
    s("g", { class: "tick" },
      s("line", { x1: pad.left, x2: pad.left + w, y1: y(v), y2: y(v) }),
      s("text", { x: pad.left - 8, y: y(v) + 4, "text-anchor": "end" },
        `${Number.isInteger(v) ? v : v.toFixed(1)}`)));
  const times = timeTicks(span).map(([before, text]) =>
    s("text", { x: x(now - before), y: height - 8, "text-anchor": "middle", class: "axis" }, text));
  const lines = segments(series, x, y, gapMs).map((points) =>
    s("polyline", { points: points.join(" "), class: "line" }));
  return s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": label },
    s("text", { x: 12, y: pad.top + hgt / 2, class: "unit",
      transform: `rotate(-90 12 ${pad.top + hgt / 2})`, "text-anchor": "middle" }, unit),
    grid, times, lines,
    series.t.length ? null : s("text", { x: pad.left + w / 2, y: pad.top + hgt / 2,
      "text-anchor": "middle", class: "axis" }, "collecting samples…"));
}

/** A sparkline: the same data, no axes (its scale is in its tooltip). */
export function sparkline(series, { width = 140, height = 28, now, span, gapMs }) {
  const top = niceCeiling(Math.max(0, ...series.v));
  const x = (t) => 1 + (width - 2) * (1 - (now - t) / span);
  const y = (v) => 2 + (height - 4) * (1 - v / top);
  const lines = segments(series, x, y, gapMs).map((points) =>
    s("polyline", { points: points.join(" "), class: "line" }));
  return s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "spark" },
    s("title", {}, `tasks ended per second over the last ${span / MINUTE_MS} min `
      + `(top of the scale: ${top} tasks/s)`),
    s("line", { x1: 0, x2: width, y1: height - 2, y2: height - 2, class: "base" }),
    lines);
}
