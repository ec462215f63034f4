// Alerts (subscribers): the organisation's blocking alerts with their delivery status,
// its subscriptions, and the customer watchlist upload.
import { call, get } from "../api.js";
import { formatNumber, formatTime, t, tv } from "../i18n.js";
import { badge, empty, field, h, heading, notice, problem, scoreBar, select, table } from "../ui.js";

const DELIVERY = { delivered: "fresh", queued: "never", retrying: "stale", failed: "error", dead: "error" };

export async function render(root, ctx) {
  const [{ alerts }, { subscriptions }] = await Promise.all([get("/v1/alerts", { limit: 200 }), get("/v1/subscriptions")]);
  if (!ctx.alive()) return;
  root.append(heading(t("alerts.title")), h("p", { class: "lead", text: t("alerts.intro") }));
  const alertSection = h("section", { class: "block" }, h("h2", { text: t("alerts.list") }));
  if (!alerts.length) alertSection.append(empty(t("alerts.none")));
  else
    alertSection.append(
      table(
        [
          t("alerts.col_when"),
          t("alerts.col_type"),
          t("alerts.col_customer"),
          t("alerts.col_designation"),
          t("alerts.col_fm1"),
          t("alerts.col_score"),
          t("alerts.col_delivery"),
        ],
        alerts.map((a) => alertRow(a, ctx.who.roles.includes("screener"))),
        t("alerts.caption"),
      ),
    );
  root.append(alertSection);

  const subs = h("section", { class: "block" }, h("h2", { text: t("alerts.subscriptions") }));
  if (!subscriptions.length) subs.append(empty(t("alerts.no_subscriptions")));
  for (const sub of subscriptions) subs.append(await subscriptionCard(sub));
  root.append(subs);
}

// Reading a designation needs the screener role: a subscriber sees its name, unlinked.
function alertRow(a, canRead) {
  const data = a.data || {};
  const customer = data.customer || {};
  const designation = data.designation || {};
  const match = data.match || {};
  const required = a.type === "blocking.required";
  return h(
    "tr",
    { dataset: { event: a.event_id } },
    h("td", { text: formatTime(a.created) }),
    h("td", {}, badge(required ? "error" : "fresh", tv("event", a.type))),
    h(
      "td",
      {},
      h("strong", { text: customer.reference || "—" }),
      customer.name ? h("div", { text: customer.name }) : null,
    ),
    h(
      "td",
      {},
      !designation.entity_id
        ? "—"
        : canRead
        ? h("a", { href: `#/entity/${encodeURIComponent(designation.entity_id)}`, text: designation.name || designation.entity_id })
        : h("span", { text: designation.name || designation.entity_id }),
      h("div", { class: "muted", text: [designation.source, designation.program].filter(Boolean).join(" · ") }),
    ),
    h("td", { class: "fm1" }, ...fm1Cell(data, designation)),
    h("td", {}, match.score !== undefined ? scoreBar(match.score) : "—"),
    h(
      "td",
      {},
      badge(DELIVERY[a.status] || "never", tv("delivery", a.status)),
      h("div", { class: "muted", text: t("alerts.attempts", { n: a.attempts }) }),
    ),
  );
}

// The FM-1 operation code(s) and the legal basis behind them; where no FM-1 rule applies
// (OFAC, UN regimes outside the TF and PF lists) the basis alone, and no code.
function fm1Cell(data, designation) {
  const codes = data.fm1 || [];
  if (!codes.length) {
    return [
      h("span", { class: "muted", text: t("alerts.no_fm1") }),
      ...(designation.legal_basis || []).map((b) => h("div", { class: "muted", text: b })),
    ];
  }
  return codes.map((c) =>
    h(
      "div",
      { dataset: { code: c.code } },
      h("strong", { text: c.code }),
      " ",
      h("span", { text: tv("fm1", c.code).replace(/^\d+:\s*/, "") }),
      ...(c.legal_basis || []).map((b) => h("div", { class: "muted", text: b })),
    ),
  );
}

async function subscriptionCard(sub) {
  const card = h("div", { class: "card", dataset: { subscription: sub.id } });
  card.append(
    h("h3", {}, h("code", { text: sub.url })),
    h(
      "dl",
      { class: "facts" },
      h("dt", { text: t("alerts.status") }),
      h("dd", {}, badge(sub.status === "active" ? "fresh" : sub.status === "pending" ? "stale" : "error", tv("sub_status", sub.status))),
      h("dt", { text: t("alerts.events") }),
      h("dd", { text: (sub.events || []).map((e) => tv("event", e)).join(", ") }),
      h("dt", { text: t("alerts.threshold") }),
      h("dd", { text: `${Math.round((sub.threshold || 0) * 100)}%` }),
      h("dt", { text: t("alerts.amendments") }),
      h("dd", { text: tv("amendments", sub.amendments || "identity") }),
    ),
  );
  const summary = h("p", { class: "watchlist-summary" });
  const showSummary = (w) => {
    summary.textContent = t("alerts.watchlist_summary", {
      customers: formatNumber(w.customers || 0),
      pending: formatNumber(w.pending_screening || 0),
    });
  };
  try {
    showSummary(await get(`/v1/subscriptions/${encodeURIComponent(sub.id)}/watchlist`));
  } catch (err) {
    summary.replaceChildren(problem(err));
  }
  const file = h("input", { type: "file", accept: ".csv,.jsonl,.ndjson,text/csv,application/x-ndjson" });
  const mode = select(
    [["replace", t("alerts.mode_replace")], ["patch", t("alerts.mode_patch")]],
    { name: "mode" },
  );
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "upload", novalidate: true },
    h("h4", { text: t("alerts.upload") }),
    h("div", { class: "grid2" }, field(t("alerts.file"), file, t("alerts.file_hint")), field(t("alerts.mode"), mode)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: t("alerts.upload_submit") })),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.replaceChildren();
    const chosen = file.files && file.files[0];
    if (!chosen) {
      status.append(notice(t("batch.no_file"), "error"));
      file.focus();
      return;
    }
    const jsonl = /\.(jsonl|ndjson)$/i.test(chosen.name);
    status.append(notice(t("alerts.uploading")));
    try {
      const report = await call(mode.value === "replace" ? "PUT" : "PATCH", `/v1/subscriptions/${encodeURIComponent(sub.id)}/watchlist`, {
        body: chosen,
        contentType: jsonl ? "application/x-ndjson" : "text/csv",
      });
      const counts = Object.entries(report)
        .filter(([, v]) => typeof v === "number")
        .map(([k, v]) => `${tv("report", k)}: ${formatNumber(v)}`)
        .join(" · ");
      status.replaceChildren(notice(`${t("alerts.uploaded")} ${counts}`, "ok"));
      showSummary(await get(`/v1/subscriptions/${encodeURIComponent(sub.id)}/watchlist`));
    } catch (err) {
      status.replaceChildren(problem(err));
    }
  });
  card.append(summary, form);
  return card;
}
