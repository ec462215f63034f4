// Changes: the delta feed newest first, filtered by source, programme, operation and class
// (identity changes that call for re-screening, or details such as comments and links);
// new deltas arrive live over the SSE stream while the page is open.
import { get, stream } from "../api.js";
import { formatNumber, formatTime, t, tv } from "../i18n.js";
import { announce, badge, empty, field, h, heading, select } from "../ui.js";

const PAGE = 50;

export async function render(root, ctx) {
  const [{ sources }, { programs }] = await Promise.all([get("/v1/sources"), get("/v1/programs")]);
  const filters = {
    source: ctx.query.get("source") || "",
    program: ctx.query.get("program") || "",
    op: ctx.query.get("op") || "",
    class: ctx.query.get("class") || "",
  };
  const sourceSel = select([["", t("changes.all_sources")], ...sources.map((s) => [s.name, s.name])], { name: "source" });
  const programSel = select(
    [["", t("changes.all_programs")], ...programs.map((p) => [p.program, `${p.program} (${formatNumber(p.entities)})`])],
    { name: "program" },
  );
  const opSel = select(
    [["", t("changes.all_ops")], ...["added", "amended", "removed"].map((o) => [o, tv("op", o)])],
    { name: "op" },
  );
  const classSel = select(
    [["", t("changes.all_classes")], ...["identity", "details"].map((c) => [c, tv("class", c)])],
    { name: "class" },
  );
  sourceSel.value = filters.source;
  classSel.value = filters.class;
  programSel.value = filters.program;
  opSel.value = filters.op;
  const apply = () => {
    const q = new URLSearchParams();
    if (sourceSel.value) q.set("source", sourceSel.value);
    if (programSel.value) q.set("program", programSel.value);
    if (opSel.value) q.set("op", opSel.value);
    if (classSel.value) q.set("class", classSel.value);
    ctx.navigate(`#/changes${q.toString() ? `?${q}` : ""}`);
  };
  const form = h(
    "form",
    { class: "card filters", id: "changes-filters" },
    field(t("changes.source"), sourceSel),
    field(t("changes.program"), programSel),
    field(t("changes.op"), opSel),
    field(t("changes.class"), classSel, t("changes.class_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("changes.apply") })),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    apply();
  });
  const liveState = h("span", { class: "live-state", id: "live-state", role: "status" }, badge("never", t("changes.connecting")));
  const feed = h("ol", { class: "feed", id: "feed", "aria-label": t("changes.feed") });
  const more = h("button", { type: "button", class: "hidden", text: t("changes.older") });
  root.append(
    h("div", { class: "title-row" }, heading(t("changes.title")), liveState),
    h("p", { class: "lead", text: t("changes.intro") }),
    form,
    feed,
    h("div", { class: "actions" }, more),
  );

  const query = { limit: PAGE, source: filters.source, program: filters.program, op: filters.op, class: filters.class };
  const first = await get("/v1/deltas/recent", query);
  for (const d of first.deltas) feed.append(row(d, false));
  if (!first.deltas.length) feed.append(h("li", { class: "empty-row" }, empty(t("changes.none"))));
  let next = first.next;
  const showMore = () => more.classList.toggle("hidden", !next);
  showMore();
  more.addEventListener("click", async () => {
    more.disabled = true;
    const page = await get("/v1/deltas/recent", { ...query, before: next });
    for (const d of page.deltas) feed.append(row(d, false));
    next = page.next;
    more.disabled = false;
    showMore();
  });

  const controller = new AbortController();
  const live = new URLSearchParams();
  if (filters.source) live.set("source", filters.source);
  if (filters.class) live.set("class", filters.class);
  stream(`/v1/deltas/stream${live.toString() ? `?${live}` : ""}`, {
    after: first.last_seq,
    signal: controller.signal,
    onState: (s) => {
      const label = { live: t("changes.live"), reconnecting: t("changes.reconnecting"), closed: t("changes.closed") }[s];
      liveState.replaceChildren(badge(s === "live" ? "fresh" : s === "closed" ? "error" : "stale", label));
    },
    onEvent: (event, data) => {
      if (event !== "delta") return;
      const delta = JSON.parse(data);
      const programsOf = (delta.entity && delta.entity.programs) || [];
      if (filters.op && delta.op !== filters.op) return;
      if (filters.program && !programsOf.includes(filters.program)) return;
      const placeholder = feed.querySelector(".empty-row");
      if (placeholder) placeholder.remove();
      feed.prepend(row(summarise(delta), true));
      announce(t("changes.arrived", { name: nameOf(delta.entity), op: tv("op", delta.op) }));
    },
  });
  return () => controller.abort();
}

function nameOf(entity) {
  const names = (entity && entity.names) || [];
  const primary = names.find((n) => n.kind === "primary") || names[0];
  return primary ? primary.full : (entity && entity.reference) || "";
}

function summarise(delta) {
  return {
    seq: delta.seq,
    op: delta.op,
    entity_id: delta.entity_id,
    source: delta.source,
    at: delta.at,
    name: nameOf(delta.entity),
    programs: (delta.entity && delta.entity.programs) || [],
    changed: Object.keys(delta.changes || {}).sort(),
    class: delta.class,
  };
}

function row(d, fresh) {
  const kind = { added: "fresh", amended: "stale", removed: "error" }[d.op] || "never";
  return h(
    "li",
    { class: `feed-item${fresh ? " arrived" : ""}`, dataset: { seq: d.seq, op: d.op, class: d.class || "" } },
    badge(kind, tv("op", d.op)),
    h(
      "div",
      { class: "feed-main" },
      h("a", { href: `#/entity/${encodeURIComponent(d.entity_id)}?seq=${d.seq}`, text: d.name || d.entity_id }),
      h(
        "div",
        { class: "muted" },
        `${d.entity_id} · ${(d.programs || []).join(", ") || "—"}`,
        d.op === "amended" && d.class ? ` · ${tv("class", d.class)}` : "",
        d.changed && d.changed.length ? ` · ${t("changes.fields", { fields: d.changed.map((f) => tv("field", f)).join(", ") })}` : "",
      ),
    ),
    h("div", { class: "feed-meta" }, h("span", { text: formatTime(d.at) }), h("span", { class: "muted", text: `#${d.seq}` })),
  );
}
