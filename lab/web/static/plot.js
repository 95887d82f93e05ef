// Line charts over a run's time axis (seconds since the load started), with the fault
// windows of the event timeline shaded behind the lines, as the report's figures do.

import { h, s } from "./dom.js";

/** The smallest 1, 2 or 5 x 10^k at or above x. */
export function niceCeiling(x) {
  if (!(x > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(x));
  for (const step of [1, 2, 5, 10]) if (step * power >= x * (1 - 1e-9)) return step * power;
  return 10 * power;
}

/** Tick positions: the multiples of a 1-2-5 step from `from` to `to`, about `count`. */
function ticks(from, to, count, integer = false) {
  const step = integer ? Math.max(1, niceCeiling((to - from) / count)) : niceCeiling((to - from) / count);
  const out = [];
  for (let v = Math.ceil(from / step - 1e-9) * step; v <= to + step / 1000; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function label(v) {
  if (v === 0) return "0";
  if (Math.abs(v) >= 100) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

/** Polyline point lists; a null value ends a segment (a missing sample is a gap). */
function segments(t, v, x, y, step) {
  const parts = [];
  let current = [];
  for (let i = 0; i < t.length; i += 1) {
    if (v[i] === null || v[i] === undefined) {
      if (current.length) parts.push(current);
      current = [];
      continue;
    }
    if (step && current.length) current.push(`${x(t[i]).toFixed(1)},${current.at(-1).split(",")[1]}`);
    current.push(`${x(t[i]).toFixed(1)},${y(v[i]).toFixed(1)}`);
  }
  if (current.length) parts.push(current);
  return parts;
}

/** Shaded windows from events: red from an event's request to its effect (at least a
 *  sliver, so an instant kill shows), grey while a fault with a duration holds. */
export function windowsOf(events) {
  const out = [];
  for (const e of events) {
    if (e.requested_s === null) continue;
    const end = e.effective_s ?? e.requested_s;
    out.push({ from: e.requested_s, to: end, kind: "effect", label: e.action, index: e.index });
    if (e.lifted_s !== null && e.lifted_s !== undefined) {
      out.push({ from: end, to: e.lifted_s, kind: "held", label: "", index: e.index });
    }
  }
  return out;
}

/**
 * A chart: `series` [{label, t: [s], v: [value|null], step}], `windows` from windowsOf,
 * x from xMin to xMax seconds, y from 0 to a round number above the largest value
 * (`integer`: whole-number ticks, for counts of processes).
 */
export function plot({ title, unit, series, windows, xMin = 0, xMax, labels = false,
  integer = false, width = 1180, height = 200 }) {
  const pad = { left: 64, right: 16, top: labels ? 38 : 10, bottom: 30 };
  const w = width - pad.left - pad.right;
  const hgt = height - pad.top - pad.bottom;
  const values = series.flatMap((one) => one.v.filter((v) => v !== null && v !== undefined));
  const top = niceCeiling(Math.max(0, ...values));
  const span = Math.max(1e-9, xMax - xMin);
  const x = (t) => pad.left + w * ((t - xMin) / span);
  const y = (v) => pad.top + hgt * (1 - v / top);
  const minWidth = 3; // px: an instant event is still visible
  const labelEnds = [-Infinity, -Infinity]; // two rows of labels, so close events stay legible
  const shades = windows.map((win) => {
    const x0 = x(Math.max(xMin, win.from));
    const x1 = Math.max(x0 + minWidth, x(Math.min(xMax, win.to)));
    let text = null;
    if (labels && win.label) {
      const row = labelEnds[0] <= x0 ? 0 : labelEnds[1] <= x0 ? 1 : 0;
      labelEnds[row] = x0 + 7 * win.label.length + 8; // about 7 px a character at 11 px
      text = s("text", { x: x0, y: pad.top - 6 - 14 * row, "text-anchor": "start" }, win.label);
    }
    return s("g", { class: `window ${win.kind}`, dataset: { event: String(win.index) } },
      s("rect", { x: x0, y: pad.top, width: x1 - x0, height: hgt }), text);
  });
  const grid = ticks(0, top, 4, integer).map((v) => s("g", { class: "tick" },
    s("line", { x1: pad.left, x2: pad.left + w, y1: y(v), y2: y(v) }),
    s("text", { x: pad.left - 8, y: y(v) + 4, "text-anchor": "end" }, label(v))));
  const times = ticks(xMin, xMax, 10).map((t) => s("text", { x: x(t), y: height - 10,
    "text-anchor": "middle", class: "axis" }, label(t)));
  const lines = series.flatMap((one, i) => segments(one.t, one.v, x, y, one.step)
    .map((points) => s("polyline", { points: points.join(" "), class: `line s${i}` })));
  const legend = h("div", { class: "legend" },
    h("strong", {}, title),
    series.map((one, i) => h("span", { class: `key s${i}` }, one.label)));
  return h("figure", { class: "plot", dataset: { chart: title } }, legend,
    s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title },
      s("text", { x: 14, y: pad.top + hgt / 2, class: "unit", "text-anchor": "middle",
        transform: `rotate(-90 14 ${pad.top + hgt / 2})` }, unit),
      shades, grid, times, lines,
      values.length ? null : s("text", { x: pad.left + w / 2, y: pad.top + hgt / 2,
        "text-anchor": "middle", class: "axis" }, "no samples yet")));
}
