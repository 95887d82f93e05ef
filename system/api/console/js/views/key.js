// Asked for when the API answers 401: nothing else is shown until a key is accepted.

import { h } from "../dom.js";

export function keyPage({ refused, onKey }) {
  const input = h("input", { type: "password", name: "key", autocomplete: "off",
    "aria-label": "API key", placeholder: "API key", required: true });
  const message = h("p", { class: "problem", role: "alert", hidden: !refused },
    refused ? "The API refused the key in use; give another." : "");
  const button = h("button", { type: "submit" }, "Use this key");
  const form = h("form", { class: "keyform", onsubmit: async (event) => {
    event.preventDefault();
    if (!input.value) return;
    button.disabled = true;
    const error = await onKey(input.value.trim());
    button.disabled = false;
    if (error) {
      message.textContent = error;
      message.hidden = false;
      input.select();
    }
  } }, input, button);
  const node = h("section", { class: "card narrow" },
    h("h1", {}, "API key required"),
    h("p", {}, "This API is protected by keys (TASKQ_API_KEYS). Give one to see its queues. ",
      "It stays in this browser tab only (sessionStorage, gone when the tab closes) and is ",
      "sent with each request as an Authorization: Bearer header; no cookie is set."),
    form, message);
  return { name: "key", title: "API key", node, refresh: async () => {} };
}
