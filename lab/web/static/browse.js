// lab serve: the runs and sweeps of a results folder (#/), one result's report
// (#/result/KEY) and a comparison of several (#/compare?key=A&key=B), as lab report and
// lab compare write them. A report is the lab's own HTML: it is parsed inert (DOMParser:
// no script runs) and its body's nodes shown here; the page's CSP allows no inline script.

import { h, table } from "./dom.js";

const main = document.getElementById("main");
const live = document.getElementById("live");
let current = null; // the AbortController of the view on screen

/** A number to `digits` significant digits ("–" when absent). */
const num = (v, digits = 3) => (v === null || v === undefined ? "–"
  : String(Number(Number(v).toPrecision(digits))));

function setStatus(kind, text) {
  live.className = `live ${kind}`;
  live.textContent = text;
}

async function fetchOk(path, signal) {
  const response = await fetch(path, { signal, credentials: "omit", cache: "no-cache" });
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch {
      // not JSON: the status says enough
    }
    throw new Error(detail);
  }
  return response;
}

/** The body of a report (HTML text) as nodes: no <style>, no <script>. */
function reportNodes(text) {
  const doc = new DOMParser().parseFromString(text, "text/html");
  for (const el of doc.querySelectorAll("script, style, link, meta, iframe, object")) el.remove();
  for (const el of doc.body.querySelectorAll("*")) {
    for (const attr of [...el.attributes]) if (attr.name.startsWith("on")) el.removeAttribute(attr.name);
  }
  return [...doc.body.childNodes].map((node) => document.importNode(node, true));
}

function problem(err) {
  return h("section", { class: "card" }, h("p", { class: "problem", role: "alert" }, err.message),
    h("p", {}, h("a", { href: "#/" }, "Back to the runs")));
}

// --- #/ --------------------------------------------------------------------------------

const RESULT_COLUMNS = [
  { label: "", class: "pick", title: "pick two or more to compare" },
  { label: "Result" },
  { label: "Kind" },
  { label: "Scenario" },
  { label: "Verdict" },
  { label: "Accepted", class: "num" },
  { label: "Lost", class: "num" },
  { label: "Throughput (tasks/s)", class: "num" },
  { label: "Latency p99 (s)", class: "num" },
];

function verdict(entry) {
  if (entry.kind === "sweep") return `${entry.runs_done ?? "?"} of ${entry.runs ?? "?"} runs`;
  if (entry.passed === null || entry.passed === undefined) return "–";
  return h("span", { class: `verdict ${entry.passed ? "pass" : "fail"}` }, entry.passed ? "pass" : "FAIL");
}

async function indexView(signal) {
  const data = await (await fetchOk("api/results", signal)).json();
  const picked = new Set();
  const button = h("button", { type: "button", disabled: true, onclick: () => {
    const q = new URLSearchParams([...picked].map((k) => ["key", k]));
    location.hash = `#/compare?${q}`;
  } }, "Compare selected");
  const rows = data.results.map((e) => h("tr", { dataset: { key: e.key, kind: e.kind } },
    h("td", { class: "pick" }, h("input", { type: "checkbox", "aria-label": `compare ${e.key}`,
      onchange: (ev) => {
        if (ev.target.checked) picked.add(e.key); else picked.delete(e.key);
        button.disabled = picked.size < 2;
        button.textContent = picked.size ? `Compare selected (${picked.size})` : "Compare selected";
      } })),
    h("td", {}, e.sweep ? h("span", { class: "muted" }, "↳ ") : null,
      h("a", { href: `#/result/${encodeURIComponent(e.key)}` }, e.key)),
    h("td", {}, e.sweep ? "run of a sweep" : e.kind),
    h("td", {}, e.scenario || "–"),
    h("td", {}, verdict(e)),
    h("td", { class: "num" }, num(e.accepted, 6)),
    h("td", { class: e.lost ? "num warn" : "num" }, num(e.lost, 6)),
    h("td", { class: "num" }, num(e.throughput_per_second, 4)),
    h("td", { class: "num" }, num(e.latency_p99_s, 3))));
  document.title = "lab results";
  return h("div", { class: "page" }, h("section", { class: "card" },
    h("div", { class: "card-head" },
      h("h1", {}, "Runs and sweeps", h("span", { class: "muted small mono" }, data.root)),
      h("div", { class: "actions" }, button)),
    h("p", { class: "muted" }, "Open one for its report (figures and tables, as lab report writes "
      + "it); pick two or more to compare them as lab compare does."),
    h("div", { class: "wide" }, table(RESULT_COLUMNS, rows,
      "No results here (lab run writes its folders under results/)."))));
}

// --- #/result/KEY and #/compare --------------------------------------------------------

async function reportView(signal, title, path, crumbs, extra = null) {
  const text = await (await fetchOk(path, signal)).text();
  document.title = `${title} · lab results`;
  return h("div", { class: "page" }, h("section", { class: "card report", dataset: { report: title } },
    h("div", { class: "crumbs" }, h("a", { href: "#/" }, "Runs and sweeps"), " › ", crumbs),
    reportNodes(text)), extra);
}

/** A result's page; a sweep's also lists its runs, each a link to its own report. */
async function resultView(signal, key) {
  const data = await (await fetchOk("api/results", signal)).json();
  const runs = data.results.filter((e) => e.sweep === key);
  const extra = runs.length ? h("section", { class: "card" }, h("h2", {}, "Runs of this sweep"),
    table(RESULT_COLUMNS.slice(1), runs.map((e) => h("tr", { dataset: { key: e.key } },
      h("td", {}, h("a", { href: `#/result/${encodeURIComponent(e.key)}` }, e.key)),
      h("td", {}, "run of a sweep"), h("td", {}, e.scenario || "–"), h("td", {}, verdict(e)),
      h("td", { class: "num" }, num(e.accepted, 6)), h("td", { class: "num" }, num(e.lost, 6)),
      h("td", { class: "num" }, num(e.throughput_per_second, 4)),
      h("td", { class: "num" }, num(e.latency_p99_s, 3)))), "")) : null;
  return reportView(signal, key, `api/report?${new URLSearchParams({ key })}`, key, extra);
}

function route() {
  if (current) current.abort();
  current = new AbortController();
  const signal = current.signal;
  const [path, search] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  let view;
  if (parts[0] === "result" && parts.length === 2) {
    let key;
    try {
      key = decodeURIComponent(parts[1]);
    } catch {
      key = parts[1];
    }
    view = resultView(signal, key);
  } else if (parts[0] === "compare") {
    const keys = new URLSearchParams(search || "").getAll("key");
    const q = new URLSearchParams(keys.map((k) => ["key", k]));
    view = reportView(signal, `compare ${keys.join(", ")}`, `api/compare?${q}`,
      `comparison of ${keys.length}`);
  } else {
    view = indexView(signal);
  }
  main.dataset.view = parts[0] || "index";
  setStatus("warn", "loading… (a report not yet derived is drawn now: a few seconds)");
  view.then((node) => {
    if (signal.aborted) return;
    main.replaceChildren(node);
    setStatus("ok", "ready");
  }).catch((err) => {
    if (err.name === "AbortError") return;
    main.replaceChildren(problem(err));
    setStatus("error", err.message);
  });
}

window.addEventListener("hashchange", route);
route();
