// Submit a task of a registered type, with a form generated from the payload's JSON
// schema (GET /task-types). The API is the only judge of what is valid: the form sends
// what was typed, and a 422 problem is shown next to the field it names.

import { ApiError, get, post } from "../api.js";
import { h } from "../dom.js";

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const LARGEST_SHOWN_BOUND = 1e15; // a bound beyond this (e.g. 2**63 - 1) is not worth printing
let serial = 0; // unique element ids for labels

/** The schema itself, or its definition when it is a $ref. */
function resolve(schema, root) {
  if (schema && schema.$ref) return (root.$defs || {})[schema.$ref.split("/").pop()] || {};
  return schema || {};
}

/** X from "anyOf: [X, null]" (an optional field), with the nullable flag. */
function unwrap(schema, root) {
  const resolved = resolve(schema, root);
  const branches = resolved.anyOf || [];
  const nonNull = branches.filter((b) => b.type !== "null");
  if (branches.length === 2 && nonNull.length === 1) {
    return { ...resolve(nonNull[0], root), title: resolved.title,
      description: resolved.description, default: resolved.default };
  }
  return resolved;
}

function kindOf(schema) {
  if (Array.isArray(schema.enum)) return "enum";
  if (["integer", "number", "boolean", "string"].includes(schema.type)) return schema.type;
  return "json";
}

function bounds(schema) {
  const shown = (v) => v !== undefined && Math.abs(v) < LARGEST_SHOWN_BOUND;
  const lo = shown(schema.minimum) ? `≥ ${schema.minimum}`
    : shown(schema.exclusiveMinimum) ? `> ${schema.exclusiveMinimum}` : "";
  const hi = shown(schema.maximum) ? `≤ ${schema.maximum}`
    : shown(schema.exclusiveMaximum) ? `< ${schema.exclusiveMaximum}` : "";
  return [lo, hi].filter(Boolean).join(", ");
}

/** One input for one schema; read() gives the JSON text to send, or undefined (omit). */
function control(name, schema, { required, placeholder }) {
  const kind = kindOf(schema);
  const id = `f${(serial += 1)}`;
  let input;
  let read;
  if (kind === "enum" || kind === "boolean") {
    const values = kind === "boolean" ? [true, false] : schema.enum;
    input = h("select", { id, name },
      h("option", { value: "" }, required ? "choose…" : "(default)"),
      values.map((v) => h("option", { value: JSON.stringify(v) }, String(v))));
    read = () => input.value || undefined;
  } else if (kind === "json") {
    input = h("textarea", { id, name, rows: 6, spellcheck: "false",
      placeholder: placeholder || "any JSON value, e.g. {\"hello\": 1}" });
    read = () => {
      const text = input.value.trim();
      if (!text) return undefined;
      JSON.parse(text); // a syntax error is reported here; the API judges the rest
      return text;
    };
  } else {
    const numeric = kind === "integer" || kind === "number";
    input = h("input", { id, name, type: "text", autocomplete: "off",
      inputmode: numeric ? (kind === "integer" ? "numeric" : "decimal") : null,
      placeholder: placeholder ?? (schema.default !== undefined && schema.default !== null
        ? `default ${schema.default}` : "") });
    read = () => {
      const text = input.value.trim();
      if (!text) return undefined;
      // A number goes out as typed (exact, even beyond JavaScript's 2^53); anything else
      // as a string, for the API to refuse by name.
      return numeric && NUMBER.test(text) ? text : JSON.stringify(text);
    };
  }
  return { id, input, read };
}

function fieldBox(path, label, schema, c, { required, help }) {
  const error = h("div", { class: "field-error", role: "alert" });
  const notes = [help ?? schema.description, bounds(schema)].filter(Boolean).join(" · ");
  const wide = c.input.tagName === "TEXTAREA";
  const box = h("div", { class: wide ? "field wide" : "field", dataset: { field: path } },
    h("label", { for: c.id }, label, required ? h("span", { class: "required", title: "required" }, " *") : null,
      h("span", { class: "type" }, ` ${schema.type || "JSON"}`)),
    c.input, notes ? h("div", { class: "help" }, notes) : null, error);
  return { path, box, error, read: c.read };
}

/** The payload's fields: one per property of an object schema, else one JSON field. */
function payloadFields(taskType) {
  const root = taskType.payload_schema || {};
  const schema = resolve(root, root);
  if (schema.type !== "object" || !schema.properties) {
    const c = control("payload", {}, { required: false });
    return { fields: [fieldBox("payload", "Payload", {}, c, { required: false,
      help: "Any JSON value (this task type has no payload model)." })], object: false };
  }
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties).map(([name, prop]) => {
    const s = unwrap(prop, root);
    const c = control(name, s, { required: required.has(name) });
    return fieldBox(`payload.${name}`, s.title || name, s, c, { required: required.has(name) });
  });
  return { fields, object: true };
}

// The submission's own fields (TaskSubmission), besides task_type and payload.
function optionFields(queue) {
  const spec = [
    ["queue", "Queue", { type: "string" }, "1–64 of A-Z a-z 0-9 _ -", queue],
    ["priority", "Priority", { type: "integer", minimum: 0, maximum: 255 }, "higher runs first", "0"],
    ["max_retries", "Max retries", { type: "integer", minimum: 0, maximum: 1000 }, "retries after the first attempt", "queue default"],
    ["delay_seconds", "Delay (s)", { type: "number", minimum: 0 }, "seconds before it may run", "none"],
    ["timeout_seconds", "Timeout (s)", { type: "number", exclusiveMinimum: 0 }, "seconds it may run", "queue default"],
    ["idempotency_key", "Idempotency key", { type: "string" }, "a repeat returns the first task", "none"],
  ];
  return spec.map(([name, label, schema, help, placeholder]) => {
    const c = control(name, schema, { required: false, placeholder: name === "queue" ? "" : placeholder });
    if (name === "queue") c.input.value = placeholder;
    return fieldBox(name, label, schema, c, { required: false, help });
  });
}

export function submitPage(ctx, query) {
  let types = null;
  const node = h("div", { class: "page" }, h("section", { class: "card" },
    h("h1", {}, "Submit a task"), h("p", { class: "muted" }, "Loading the task types…")));

  function render() {
    const typeSelect = h("select", { name: "task_type", id: "task-type" },
      types.map((t) => h("option", { value: t.name }, t.name)));
    if (types.some((t) => t.name === query.get("type"))) typeSelect.value = query.get("type");
    const about = h("p", { class: "muted" });
    const payloadBox = h("fieldset", {}, h("legend", {}, "Payload"));
    const options = optionFields(query.get("queue") || "default");
    const banner = h("div", { class: "problem", role: "alert", hidden: true });
    const accepted = h("div", { class: "notice ok", role: "status", hidden: true });
    const button = h("button", { type: "submit" }, "Submit");
    let payload = null;

    function chooseType() {
      const t = types.find((x) => x.name === typeSelect.value);
      about.textContent = `${t.description || "(no description)"} · runs as ${t.mode}`
        + (t.circuit_breaker ? " · guarded by a circuit breaker" : "");
      payload = payloadFields(t);
      payloadBox.replaceChildren(h("legend", {}, "Payload"), ...payload.fields.map((f) => f.box));
    }

    function clearErrors() {
      banner.hidden = true;
      accepted.hidden = true;
      for (const f of [...payload.fields, ...options]) {
        f.error.textContent = "";
        f.box.classList.remove("invalid");
      }
    }

    function markField(f, message) {
      f.error.textContent = message;
      f.box.classList.add("invalid");
    }

    /** The request body as JSON text, numbers exactly as typed (indented when `pretty`);
     *  null when a JSON field does not parse (marked on the field when `mark`). */
    function bodyText(mark, pretty = false) {
      const [outer, inner] = pretty ? [",\n  ", ",\n    "] : [",", ","];
      const parts = [`"task_type"${pretty ? ": " : ":"}${JSON.stringify(typeSelect.value)}`];
      let bad = false;
      const values = (fields) => fields.flatMap((f) => {
        try {
          const text = f.read();
          return text === undefined ? [] : [[f.path.replace(/^payload\./, ""), text]];
        } catch (err) {
          if (mark) markField(f, `not valid JSON: ${err.message}`);
          bad = true;
          return [];
        }
      });
      const sep = pretty ? ": " : ":";
      if (payload.object) {
        const entries = values(payload.fields).map(([k, v]) => `${JSON.stringify(k)}${sep}${v}`);
        const body = entries.length && pretty ? `{\n    ${entries.join(inner)}\n  }` : `{${entries.join(inner)}}`;
        parts.push(`"payload"${sep}${body}`);
      } else {
        for (const [, v] of values(payload.fields)) parts.push(`"payload"${sep}${v}`);
      }
      for (const [k, v] of values(options)) parts.push(`${JSON.stringify(k)}${sep}${v}`);
      if (bad) return null;
      return pretty ? `{\n  ${parts.join(outer)}\n}` : `{${parts.join(outer)}}`;
    }

    function showProblem(err) {
      const problem = err.problem || {};
      const unplaced = [];
      for (const e of problem.errors || []) {
        const f = [...payload.fields, ...options].find((x) => x.path === e.field)
          || (!payload.object && e.field.startsWith("payload") ? payload.fields[0] : null);
        if (f) markField(f, `${e.field}: ${e.message}`);
        else unplaced.push(`${e.field}: ${e.message}`);
      }
      banner.replaceChildren(h("strong", {}, `${err.status} ${problem.title || "Refused"}: `),
        problem.detail || err.message);
      if (unplaced.length) banner.append(h("ul", {}, unplaced.map((u) => h("li", {}, u))));
      banner.hidden = false;
    }

    const form = h("form", { novalidate: true, class: "submit", onsubmit: async (event) => {
      event.preventDefault();
      clearErrors();
      const text = bodyText(true);
      if (text === null) return;
      button.disabled = true;
      try {
        const { data } = await post("tasks", text);
        const link = h("a", { href: `#/tasks/${encodeURIComponent(data.id)}`, class: "mono",
          dataset: { accepted: data.id } }, data.id);
        accepted.replaceChildren(data.created ? "Accepted: task " : "An earlier task has this idempotency key: ",
          link, ` (${data.status})`);
        accepted.hidden = false;
      } catch (err) {
        if (err instanceof ApiError && err.status !== 401) showProblem(err);
        else ctx.fail(err);
      } finally {
        button.disabled = false;
        ctx.wake();
      }
    } },
    h("div", { class: "field" }, h("label", { for: "task-type" }, "Task type"), typeSelect, about),
    payloadBox,
    h("fieldset", { class: "options" }, h("legend", {}, "Options"), options.map((f) => f.box)),
    h("div", { class: "actions" }, button),
    banner, accepted);
    const preview = h("pre", { class: "json", dataset: { preview: "" } });
    function showPreview() {
      const text = bodyText(false, true);
      preview.textContent = text === null ? "(a JSON field does not parse yet)" : text;
    }
    typeSelect.addEventListener("change", () => {
      chooseType();
      clearErrors();
    });
    form.addEventListener("input", showPreview);
    form.addEventListener("change", showPreview);
    chooseType();
    showPreview();
    node.replaceChildren(h("div", { class: "submit-layout" },
      h("section", { class: "card" }, h("h1", {}, "Submit a task"), form),
      h("aside", { class: "card" }, h("h2", {}, "The request"),
        h("p", { class: "muted" }, "POST /tasks with this body (numbers as typed):"), preview,
        h("p", { class: "muted small" }, "The API checks it against the task type's payload ",
          "schema; a refusal names the field, shown next to it."))));
  }

  async function refresh(signal) {
    if (types) return; // the registry is fixed while the API runs
    const answer = await get("task-types", signal);
    types = answer.data;
    render();
  }

  return { name: "submit", title: "Submit a task", node, refresh };
}
