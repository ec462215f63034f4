// Lists: each source's status, version, counts, last success and sync history; held
// snapshots with approve / reject for administrators.
import { ApiError, get, post } from "../api.js";
import { formatNumber, formatTime, t, tv } from "../i18n.js";
import { announce, badge, empty, h, heading, notice, problem, table } from "../ui.js";

// The API's status (ok, stale, held, error, never, "+syncing") as the console names it. What
// an officer needs is the state of the data, not of the last poll: a list that serves
// within its freshness bound is "fresh" even when one check failed since (the reason is
// shown beside it); "failing" is checks failing while the data is stale or absent.
export function statusOf(source) {
  const base = String(source.status || "never").replace("+syncing", "") || "never";
  const serving = Boolean(source.version);
  if (!source.enabled && !serving) return "disabled";
  if (base === "held") return "held";
  if (base === "error") return serving && !source.stale ? "fresh" : "failing";
  if (!serving) return "never";
  return source.stale || base === "stale" ? "stale" : "fresh";
}

// Why the status is what it is, in a sentence (or null when the badge says it all).
export function explain(source, status) {
  const failed = String(source.status || "").startsWith("error");
  const hours = source.age_minutes === null || source.age_minutes === undefined
    ? null : (source.age_minutes / 60).toFixed(1);
  if (status === "fresh" && failed)
    return t("lists.why_fresh_failed", { time: formatTime(source.last_error_at), success: formatTime(source.last_success) });
  if (status === "stale") return t("lists.why_stale", { hours: hours ?? "?" });
  if (status === "failing")
    return source.version ? t("lists.why_failing", { hours: hours ?? "?" }) : t("lists.why_failing_empty");
  return null;
}

// A publisher's failure in a few words; the raw text (aiohttp's, the validator's) stays one
// click away. Matched on the message listd.pipeline.fetch and listd.pipeline.sync write.
const FAILURES = [
  [/Name or service not known|name resolution|DNSError|nodename nor servname/i, "error.dns"],
  [/CertificateError|SSLError|\[SSL[:\]]/, "error.tls"], // not "ssl:default", in every connect error
  [/TimeoutError|timed out|timeout/i, "error.timeout"],
  [/Cannot connect|Connect call failed|Connection refused|ConnectorError|Server disconnected|Connection reset|ServerDisconnected/i, "error.connect"],
  [/truncated body|ClientPayloadError/i, "error.truncated"],
  [/byte limit|bytes, over the/i, "error.too_large"],
  [/HTTP (\d{3})/, "error.http"],
  [/cancelled/i, "error.cancelled"],
  [/schema|not valid|XML|DOCTYPE|pars|element|entities/i, "error.invalid"],
];

export function shortError(text) {
  for (const [pattern, key] of FAILURES) {
    const m = pattern.exec(text);
    if (m) return t(key, { status: m[1] || "" });
  }
  return t("error.other");
}

function errorCell(text) {
  if (!text) return "—";
  return h(
    "details",
    { class: "error-detail" },
    h("summary", { class: "error-text", text: shortError(text) }),
    h("p", { class: "raw-error", lang: "en", text }),
  );
}

export async function render(root, ctx) {
  const isAdmin = ctx.who.roles.includes("admin");
  const area = h("div");
  root.append(heading(t("lists.title")), h("p", { class: "lead", text: t("lists.intro") }), area);
  await load(area, isAdmin, ctx);
}

async function load(area, isAdmin, ctx) {
  const { sources } = await get("/v1/sources");
  if (!ctx.alive()) return;
  const rows = sources.map((s) => {
    const status = statusOf(s);
    const why = explain(s, status);
    const history = h("button", {
      type: "button",
      class: "link",
      "aria-expanded": "false",
      text: t("lists.history"),
      "aria-label": t("lists.history_of", { source: s.name }),
    });
    const actions = [history];
    if (isAdmin && s.enabled) {
      actions.push(
        h("button", {
          type: "button",
          class: "link",
          text: t("lists.sync_now"),
          "aria-label": t("lists.sync_now_of", { source: s.name }),
          onclick: (e) => act(e.target, area, isAdmin, ctx, `/v1/sources/${encodeURIComponent(s.name)}/sync`, "lists.synced"),
        }),
      );
    }
    const row = h(
      "tr",
      { dataset: { source: s.name } },
      h(
        "th",
        { scope: "row" },
        h("span", { class: "source-name", text: s.name }),
        // The kind only where it says more than the name (ofac-cons reads OFAC's format).
        s.kind && s.kind !== s.name ? h("div", { class: "muted", text: s.kind }) : null,
        s.origin ? h("div", { class: "muted", text: tv("origin", s.origin) }) : null,
      ),
      h(
        "td",
        { class: "status-cell" },
        badge(status, tv("status", status)),
        String(s.status || "").endsWith("syncing") ? [" ", badge("syncing", t("status.syncing"))] : null,
        why ? h("div", { class: "muted why", text: why }) : null,
      ),
      h("td", {}, s.version ? h("code", { text: s.version }) : "—"),
      h("td", { class: "num", text: formatNumber(s.entities || 0) }),
      h(
        "td",
        {},
        formatTime(s.last_success),
        s.age_minutes !== null && s.age_minutes !== undefined
          ? h("div", { class: "muted", text: t("lists.age", { hours: (s.age_minutes / 60).toFixed(1) }) })
          : null,
      ),
      h("td", { text: formatTime(s.published) }),
      h("td", { class: "error-cell" }, errorCell(s.last_error)),
      h("td", { class: "row-actions" }, actions),
    );
    const detail = h("tr", { class: "hidden detail" }, h("td", { colspan: "8" }));
    history.addEventListener("click", async () => {
      const open = history.getAttribute("aria-expanded") === "true";
      history.setAttribute("aria-expanded", String(!open));
      detail.classList.toggle("hidden", open);
      if (!open) await showHistory(detail.firstChild, s.name);
    });
    return [row, detail];
  });
  const held = sources.filter((s) => statusOf(s) === "held" || s.held_reason);
  const parts = [
    table(
      [
        t("lists.col_source"), t("lists.col_status"), t("lists.col_version"), t("lists.col_entities"),
        t("lists.col_last_success"), t("lists.col_published"), t("lists.col_error"), t("lists.col_actions"),
      ],
      rows.flat(),
      t("lists.caption"),
    ),
  ];
  if (held.length) {
    const section = h("section", { class: "held" }, h("h2", { text: t("lists.held_title") }));
    for (const s of held) section.append(await heldCard(s, area, isAdmin, ctx));
    parts.push(section);
  }
  area.replaceChildren(...parts);
}

async function showHistory(cell, name) {
  cell.replaceChildren(notice(t("app.loading")));
  try {
    const { history } = await get(`/v1/sources/${encodeURIComponent(name)}/history`, { limit: 20 });
    if (!history.length) return cell.replaceChildren(empty(t("lists.no_history")));
    cell.replaceChildren(
      table(
        [t("lists.h_started"), t("lists.h_outcome"), t("lists.col_entities"), t("lists.h_deltas"), t("lists.h_duration"), t("lists.col_error")],
        history.map((r) =>
          h(
            "tr",
            {},
            h("td", { text: formatTime(r.started) }),
            h("td", {}, badge(r.outcome === "failed" ? "error" : r.outcome === "held" ? "held" : "fresh", tv("outcome", r.outcome))),
            h("td", { class: "num", text: formatNumber(r.entities || 0) }),
            h("td", { text: deltaCounts(r.deltas) }),
            h("td", { class: "num", text: `${Number(r.duration || 0).toFixed(1)} s` }),
            h("td", { class: "error-cell" }, r.error ? errorCell(r.error) : r.held_reason || ""),
          ),
        ),
        t("lists.history_caption", { source: name }),
      ),
    );
  } catch (err) {
    cell.replaceChildren(problem(err));
  }
}

function deltaCounts(d) {
  if (!d || !Object.keys(d).length) return "—";
  return `+${d.added || 0} −${d.removed || 0} ~${d.amended || 0}`;
}

async function heldCard(source, area, isAdmin, ctx) {
  const card = h("div", { class: "card", dataset: { held: source.name } });
  card.append(h("h3", { text: source.name }));
  try {
    const held = await get(`/v1/sources/${encodeURIComponent(source.name)}/held`);
    const facts = h("dl", { class: "facts" });
    for (const [key, value] of Object.entries(held)) {
      facts.append(h("dt", { text: tv("held", key) }), h("dd", { text: value }));
    }
    card.append(facts);
  } catch (err) {
    card.append(err instanceof ApiError && err.status === 404 ? empty(source.held_reason || "") : problem(err));
  }
  if (isAdmin) {
    const base = `/v1/sources/${encodeURIComponent(source.name)}/held`;
    card.append(
      h(
        "div",
        { class: "actions" },
        h("button", {
          type: "button",
          class: "primary",
          text: t("lists.approve"),
          onclick: (e) => confirm(t("lists.approve_confirm", { source: source.name })) &&
            act(e.target, area, isAdmin, ctx, `${base}/approve`, "lists.approved"),
        }),
        h("button", {
          type: "button",
          class: "danger",
          text: t("lists.reject"),
          onclick: (e) => confirm(t("lists.reject_confirm", { source: source.name })) &&
            act(e.target, area, isAdmin, ctx, `${base}/reject`, "lists.rejected"),
        }),
      ),
    );
  } else {
    card.append(h("p", { class: "muted", text: t("lists.held_admin_only") }));
  }
  return card;
}

async function act(button, area, isAdmin, ctx, path, done) {
  button.disabled = true;
  const status = h("div", { class: "status-area" });
  area.prepend(status);
  try {
    await post(path, {});
    await load(area, isAdmin, ctx);
    area.prepend(notice(t(done), "ok"));
    announce(t(done));
  } catch (err) {
    status.replaceChildren(problem(err));
    button.disabled = false;
  }
}
