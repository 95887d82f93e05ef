// Building DOM nodes without innerHTML: every string goes in as a text node, so data from
// the API (payloads, errors, tracebacks) can never turn into markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, props, children) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value); // CSSOM: allowed by the CSP
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** An HTML element: h("a", {href: "#/", class: "x", onclick: f}, "text", childNode). */
export function h(tag, props, ...children) {
  return build(document.createElement(tag), props, children);
}

/** An SVG element, same arguments. */
export function s(tag, props, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

/** A table: columns [{label, class}], rows already built as <tr>. */
export function table(columns, rows, empty) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.class, title: c.title }, c.label)));
  const body = rows.length
    ? rows
    : [h("tr", { class: "empty" }, h("td", { colspan: columns.length }, empty))];
  return h("table", {}, h("thead", {}, head), h("tbody", {}, body));
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || text}`, dataset: { badge: text } }, text);
}

/** JSON shown as indented text. */
export function jsonBlock(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2) ?? "null");
}
