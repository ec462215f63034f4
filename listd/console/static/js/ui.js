// Small DOM helpers. Text from the API is always set as text, never parsed as HTML.
import { t, tv } from "./i18n.js";

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let ids = 0;
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

// A labelled form control: label, control, optional hint wired with aria-describedby.
export function field(labelText, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const parts = [h("label", { for: id, text: labelText }), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId, text: hint }));
  }
  return h("div", { class: "field" }, parts);
}

export function select(options, props) {
  return h(
    "select",
    props,
    options.map(([value, label]) => h("option", { value, text: label })),
  );
}

export function badge(kind, text) {
  return h("span", { class: `badge badge-${kind}`, text });
}

export function heading(text) {
  return h("h1", { id: "page-title", tabindex: "-1", text });
}

// An API failure as a message an officer can act on; a refusal (403) says which role
// the action needs and which role the key has.
export function problem(error) {
  const box = h("div", { class: "problem", role: "alert" });
  const status = error.status;
  let title;
  let detail = error.message;
  if (status === 403 && error.code === "forbidden") {
    const needs = (/needs role (.+)$/.exec(error.message || "") || [])[1];
    title = t("error.forbidden");
    detail = needs
      ? t("error.forbidden_detail", { role: tv("role", error.body.role || "?"), needs })
      : error.message;
  } else if (status === 403 && error.code === "blocked") {
    title = t("error.blocked");
  } else if (status === 401) {
    title = t("error.unauthorized");
  } else if (status === 503 && error.code === "maintenance") {
    title = t("error.maintenance");
    if (error.body.until) detail = t("error.maintenance_until", { until: error.body.until });
  } else if (status === 429) {
    title = t("error.rate_limited");
  } else if (status === 0) {
    title = t("error.network");
  } else if (status === 404) {
    title = t("error.not_found");
  } else if (status === 400 || status === 413) {
    title = t("error.bad_request");
    if (error.field) detail = `${error.field}: ${error.message}`;
  } else {
    title = t("error.other", { status });
  }
  box.append(h("p", { class: "problem-title", text: title }));
  if (detail && detail !== title) box.append(h("p", { text: detail }));
  return box;
}

export function notice(text, kind = "info") {
  return h("p", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status", text });
}

export function empty(text) {
  return h("p", { class: "empty", text });
}

export function download(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename, class: "hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function announce(text) {
  const live = document.getElementById("live");
  if (live) {
    live.textContent = "";
    setTimeout(() => (live.textContent = text), 50);
  }
}

export function table(columns, rows, caption) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", { text: caption }) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, rows),
    ),
  );
}

export function scoreBar(score) {
  const pct = Math.round(score * 100);
  const fill = h("span");
  fill.style.width = `${pct}%`; // CSSOM: the CSP allows no inline style attributes
  return h(
    "span",
    { class: "score" },
    h("span", { class: "score-num", text: `${pct}%` }),
    h("span", { class: "score-bar", "aria-hidden": "true" }, fill),
  );
}
