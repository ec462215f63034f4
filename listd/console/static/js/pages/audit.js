// Audit (auditors): the organisation's journal, filtered by time, outcome and text, and
// exported as JSON lines or CSV.
import { get } from "../api.js";
import { toCsv } from "../csv.js";
import { formatNumber, formatTime, t, tv } from "../i18n.js";
import { announce, badge, download, empty, field, h, heading, notice, problem, select, table } from "../ui.js";

const PAGE = 200;

function isoOf(local) {
  // <input type="datetime-local"> gives local time without a zone; the API wants ISO.
  if (!local) return undefined;
  const when = new Date(local);
  return Number.isNaN(when.getTime()) ? undefined : when.toISOString();
}

export async function render(root, ctx) {
  const from = h("input", { type: "datetime-local", name: "from" });
  const to = h("input", { type: "datetime-local", name: "to" });
  const outcome = select(
    [["", t("audit.any_outcome")], ...["ok", "refused", "error"].map((o) => [o, tv("outcome", o)])],
    { name: "outcome" },
  );
  const text = h("input", { type: "search", name: "text", autocomplete: "off" });
  const area = h("div", { class: "audit-area" });
  const exportJson = h("button", { type: "button", text: t("audit.export_jsonl") });
  const exportCsv = h("button", { type: "button", text: t("audit.export_csv") });
  const form = h(
    "form",
    { class: "card filters", id: "audit-filters", novalidate: true },
    field(t("audit.from"), from),
    field(t("audit.to"), to),
    field(t("audit.outcome"), outcome),
    field(t("audit.text"), text, t("audit.text_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: t("audit.apply") }), exportJson, exportCsv),
  );
  root.append(heading(t("audit.title")), h("p", { class: "lead", text: t("audit.intro") }), form, area);

  const keep = (e) => {
    if (outcome.value && e.outcome !== outcome.value) return false;
    const needle = text.value.trim().toLowerCase();
    return !needle || JSON.stringify(e).toLowerCase().includes(needle);
  };

  // The first page is read at once, so a refusal (403) shows before any interaction.
  let entries = [];
  let next = 0;
  let end = false;
  const more = h("button", { type: "button", text: t("audit.more") });
  const show = () => {
    const shown = entries.filter(keep);
    const parts = [
      h("p", { class: "muted", text: t("audit.count", { shown: formatNumber(shown.length), read: formatNumber(entries.length) }) }),
    ];
    parts.push(shown.length ? auditTable(shown) : empty(t("audit.none")));
    if (!end) parts.push(h("div", { class: "actions" }, more));
    area.replaceChildren(...parts);
  };
  const readPage = async () => {
    const page = await get("/v1/audit", { from: isoOf(from.value), to: isoOf(to.value), after: next, limit: PAGE });
    entries = entries.concat(page.entries);
    end = page.entries.length < PAGE;
    next = page.next;
  };
  const reload = async () => {
    entries = [];
    next = 0;
    end = false;
    area.replaceChildren(notice(t("app.loading")));
    try {
      await readPage();
      show();
      announce(t("audit.count", { shown: entries.filter(keep).length, read: entries.length }));
    } catch (err) {
      area.replaceChildren(problem(err));
    }
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      await readPage();
      show();
    } catch (err) {
      area.append(problem(err));
    }
    more.disabled = false;
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    reload();
  });
  outcome.addEventListener("change", show);
  text.addEventListener("input", show);

  // An export reads every page of the range. Reading the journal adds entries, so it
  // stops at the time it started (`to` defaults to now) rather than chasing its own tail.
  const exportAll = async (kind) => {
    const status = notice(t("audit.exporting"));
    area.prepend(status);
    try {
      const until = isoOf(to.value) || new Date().toISOString();
      let after = 0;
      const all = [];
      for (;;) {
        const page = await get("/v1/audit", { from: isoOf(from.value), to: until, after, limit: 1000 });
        all.push(...page.entries);
        if (page.entries.length < 1000 || page.next === after) break;
        after = page.next;
      }
      const chosen = all.filter(keep);
      const stamp = until.replace(/[:.]/g, "-");
      if (kind === "jsonl") {
        download(`listd-journal-${stamp}.jsonl`, chosen.map((e) => JSON.stringify(e)).join("\n") + "\n", "application/x-ndjson");
      } else {
        const cols = ["seq", "at", "kind", "name", "role", "org", "method", "route", "path", "status", "outcome", "error", "action", "target", "basis", "case_ref", "query", "matches", "list_versions", "ip", "request_id", "link"];
        const cell = (v) => (v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : v);
        download(`listd-journal-${stamp}.csv`, toCsv([cols, ...chosen.map((e) => cols.map((c) => cell(e[c])))]), "text/csv");
      }
      status.replaceWith(notice(t("audit.exported", { n: formatNumber(chosen.length) }), "ok"));
    } catch (err) {
      status.replaceWith(problem(err));
    }
  };
  exportJson.addEventListener("click", () => exportAll("jsonl"));
  exportCsv.addEventListener("click", () => exportAll("csv"));

  await readPage();
  if (ctx.alive()) show();
}

function summary(e) {
  if (e.action) return `${e.action}${e.target ? ` → ${e.target}` : ""}`;
  const q = e.query;
  if (!q) return "";
  if (Array.isArray(q)) return t("audit.batch", { n: q.length });
  if (typeof q === "object") return Object.entries(q).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
  return String(q);
}

function auditTable(entries) {
  const newestFirst = [...entries].reverse();
  return table(
    [t("audit.col_seq"), t("audit.col_at"), t("audit.col_who"), t("audit.col_request"), t("audit.col_outcome"), t("audit.col_basis"), t("audit.col_detail")],
    newestFirst.map((e) =>
      h(
        "tr",
        {},
        h("td", { class: "num", text: e.seq }),
        h("td", { text: formatTime(e.at) }),
        h("td", {}, h("span", { text: e.name || e.via || "—" }), h("div", { class: "muted", text: [tv("role", e.role || ""), e.org].filter(Boolean).join(" · ") })),
        h("td", {}, h("code", { text: e.kind === "admin" ? e.action || "admin" : `${e.method || ""} ${e.path || e.route || ""}` })),
        h("td", {}, badge(e.outcome === "ok" ? "fresh" : e.outcome === "refused" ? "stale" : e.outcome === "error" ? "error" : "never", `${e.status ?? ""} ${tv("outcome", e.outcome || "")}`.trim())),
        h("td", { text: [e.basis ? tv("basis", e.basis) : "", e.case_ref || ""].filter(Boolean).join(" · ") || "—" }),
        h("td", { class: "detail-cell", text: [summary(e), e.matches !== undefined && e.matches !== null ? t("audit.matches", { n: e.matches }) : ""].filter(Boolean).join(" · ") }),
      ),
    ),
    t("audit.caption"),
  );
}
