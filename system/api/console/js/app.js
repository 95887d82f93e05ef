// The console's frame: routes (#/, #/queues/NAME[/STATE], #/tasks/ID, #/submit), one
// polling loop for whichever page is shown, the live indicator and the API key.
//
// There is exactly one loop and one timer for the life of the page: a page that is left
// replaces the previous one (its requests are aborted, its nodes and their listeners go
// with it), so a console left open for hours does not accumulate timers or listeners.

import { apiKey, forgetAnswers, get, ApiError, Unauthorized, Unreachable } from "./api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { overviewPage } from "./views/overview.js";
import { queuePage } from "./views/queue.js";
import { taskPage } from "./views/task.js";
import { submitPage } from "./views/submit.js";
import { keyPage } from "./views/key.js";

const query = new URLSearchParams(location.search);
// ?poll_ms=N sets the polling interval (default 1 s; 50 ms at the least).
const POLL_MS = Math.min(60000, Math.max(50, Number(query.get("poll_ms")) || 1000));
const EVERY = POLL_MS >= 1000 ? `${POLL_MS / 1000} s` : `${POLL_MS} ms`;

const main = document.getElementById("main");
const live = document.getElementById("live");
const keybox = document.getElementById("keybox");

let current = null; // {page, controller}: the page on screen and what aborts its requests
let pending = false; // a refresh was asked for while one was running
let wakeUp = null;

const ctx = {
  pollMs: POLL_MS,
  gapMs: Math.max(3 * POLL_MS, 5000), // a longer pause between samples is drawn as a gap
  /** Refresh the page now (after an action), instead of at the next tick. */
  wake() {
    pending = true;
    if (wakeUp) wakeUp();
  },
  /** An action's failure that is the frame's business (401: ask for a key). */
  fail(err) {
    onError(err);
  },
};

function parse(hash) {
  const [path, search] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(search || "") };
}

function pageFor({ parts, query: q }) {
  const [section, ...rest] = parts;
  if (!section) return overviewPage(ctx);
  if (section === "queues" && rest.length >= 1) return queuePage(ctx, rest[0], rest[1]);
  if (section === "tasks" && rest.length === 1) return taskPage(ctx, rest[0]);
  if (section === "submit") return submitPage(ctx, q);
  return {
    name: "missing",
    node: h("section", { class: "card" }, h("h1", {}, "No such page"),
      h("p", {}, h("a", { href: "#/" }, "Back to the overview"))),
    refresh: async () => {},
  };
}

function show(page) {
  if (current) current.controller.abort();
  current = { page, controller: new AbortController() };
  main.replaceChildren(page.node);
  main.dataset.page = page.name;
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === page.name);
  }
  document.title = page.title ? `${page.title} · taskq console` : "taskq console";
  ctx.wake();
}

function route() {
  let where;
  try {
    where = parse(location.hash);
  } catch {
    where = { parts: ["?"], query: new URLSearchParams() }; // a malformed %-escape
  }
  show(pageFor(where));
}

function showKeyPage(refused) {
  forgetAnswers(); // nothing read with another key (or none) stays on screen
  show(keyPage({ refused, onKey: tryKey }));
  setLive("warn", "API key needed");
}

/** Probe the API with a key; keep it if accepted. Returns an error text or null. */
async function tryKey(key) {
  apiKey.set(key);
  forgetAnswers();
  try {
    await get("queues");
  } catch (err) {
    apiKey.clear();
    if (err instanceof Unauthorized) return "The API refused this key.";
    return `Could not check the key: ${err.message}`;
  }
  renderKeybox();
  route();
  return null;
}

function renderKeybox() {
  if (!apiKey.get()) {
    keybox.replaceChildren();
    return;
  }
  const forget = h("button", { type: "button", class: "link", onclick: () => {
    apiKey.clear();
    forgetAnswers();
    renderKeybox();
    route();
  } }, "forget key");
  keybox.replaceChildren(h("span", { title: "kept in this tab only (sessionStorage)" },
    "API key in use · "), forget);
}

function setLive(kind, text) {
  live.className = `live ${kind}`;
  live.textContent = text;
}

function onError(err) {
  if (err.name === "AbortError") return;
  if (err instanceof Unauthorized) {
    const hadKey = Boolean(apiKey.get());
    apiKey.clear();
    renderKeybox();
    showKeyPage(hadKey);
  } else if (err instanceof Unreachable) {
    setLive("error", `API unreachable (${err.message}); retrying every ${EVERY}`);
  } else if (err instanceof ApiError && err.status === 503) {
    setLive("error", "Redis unreachable (503); retrying");
  } else if (err instanceof ApiError) {
    setLive("error", `${err.status}: ${err.message}`);
  } else {
    console.error(err);
    setLive("error", `console error: ${err.message}`);
  }
}

function sleep(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    wakeUp = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

async function loop() {
  for (;;) {
    const shown = current;
    pending = false;
    if (shown) {
      try {
        await shown.page.refresh(shown.controller.signal);
        if (shown === current && shown.page.name !== "key") {
          setLive("ok", `live · every ${EVERY} · updated ${fmt.time(new Date().toISOString())}`);
        }
      } catch (err) {
        if (shown === current) onError(err);
      }
    }
    if (shown !== current || pending) continue; // another page, or an action: refresh now
    await sleep(POLL_MS);
  }
}

window.addEventListener("hashchange", route);
renderKeybox();
route();
loop();
