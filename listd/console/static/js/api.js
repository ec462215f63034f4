// The JSON API, called with the key the officer signed in with (kept in sessionStorage,
// so it is gone when the tab closes). Every answer other than 2xx becomes an ApiError
// carrying the API's error code, message and field.

const KEY = "listd.key";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.error || `http_${status}`;
    this.field = this.body.field || null;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY);
}

export function setKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem("listd.via"); // how the key was got (eds.js)
}

function headers(extra) {
  const out = { Accept: "application/json", ...(extra || {}) };
  const key = getKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function parse(response) {
  const type = response.headers.get("Content-Type") || "";
  if (response.status === 204) return null;
  if (type.includes("json")) return response.json();
  return { message: await response.text() };
}

// Listeners told about 401 (signed out) and 403 agreement_required answers.
const listeners = new Set();
export function onAuthProblem(fn) {
  listeners.add(fn);
}

export async function call(method, path, { query, json, body, contentType, signal } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const extra = {};
  let payload = body;
  if (json !== undefined) {
    extra["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (contentType) {
    extra["Content-Type"] = contentType;
  }
  let response;
  try {
    response = await fetch(url, { method, headers: headers(extra), body: payload, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { error: "network", message: String(err.message || err) });
  }
  const data = await parse(response);
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 || error.code === "agreement_required") {
      for (const fn of listeners) fn(error);
    }
    throw error;
  }
  return data;
}

export const get = (path, query, opts) => call("GET", path, { query, ...(opts || {}) });
export const post = (path, json, opts) => call("POST", path, { json, ...(opts || {}) });

// Server-Sent Events over fetch: EventSource cannot send an Authorization header.
// Calls onEvent(event, data, id) for each event; reconnects after `retry` ms with the
// last id seen, until `signal` aborts. onState("live" | "reconnecting" | "closed").
export async function stream(path, { after, signal, onEvent, onState }) {
  let last = after;
  let retry = 2000;
  while (!signal.aborted) {
    try {
      const extra = { Accept: "text/event-stream" };
      if (last !== undefined && last !== null) extra["Last-Event-ID"] = String(last);
      const response = await fetch(path, { headers: headers(extra), signal });
      if (!response.ok) {
        const error = new ApiError(response.status, await parse(response));
        if (response.status === 401 || response.status === 403 || response.status === 410) {
          onState("closed", error);
          return;
        }
        throw error;
      }
      onState("live");
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
          let event = "message";
          let id = null;
          const data = [];
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "event") event = val;
            else if (field === "data") data.push(val);
            else if (field === "id") id = val;
            else if (field === "retry" && /^\d+$/.test(val)) retry = Number(val);
          }
          if (id !== null) last = id;
          if (data.length) onEvent(event, data.join("\n"), id);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
    }
    if (signal.aborted) return;
    onState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, retry));
  }
}
