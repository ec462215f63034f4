// Entity: every field of a designation, all its names and scripts, documents, programmes,
// listing date and history. Opened from a change (?seq=N), what changed is highlighted.
import { ApiError, get } from "../api.js";
import { basisFields, remembered } from "../basis.js";
import { formatTime, t, tv } from "../i18n.js";
import { badge, empty, h, heading, notice, problem, table } from "../ui.js";

export async function render(root, ctx) {
  const id = ctx.args.join("/");
  const seq = ctx.query.get("seq");
  const grounds = remembered();
  if (!grounds || ctx.query.get("basis") === "change") return askBasis(root, ctx);
  const query = { basis: grounds.basis, case_ref: grounds.case_ref };
  let entity = null;
  let removed = false;
  let delta = null;
  if (seq && /^\d+$/.test(seq)) {
    const found = await get("/v1/deltas", { after: Number(seq) - 1, limit: 1 });
    delta = found.deltas.find((d) => String(d.seq) === seq && d.entity_id === id) || null;
  }
  try {
    entity = await get(`/v1/entities/${encodeURIComponent(id)}`, query);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404 && delta && delta.entity)) throw err;
    entity = delta.entity;
    removed = true;
  }
  if (!ctx.alive()) return;
  const changed = delta ? delta.changes || {} : {};
  const names = entity.names || [];
  const primary = (names.find((n) => n.kind === "primary") || names[0] || {}).full || entity.reference;
  root.append(
    heading(primary),
    h(
      "p",
      { class: "lead" },
      badge(removed ? "error" : "fresh", removed ? t("entity.removed") : t("entity.listed")),
      " ",
      h("code", { text: entity.id }),
      " · ",
      t("entity.basis_used", { basis: tv("basis", grounds.basis) }),
      " ",
      h("a", { href: `#/entity/${encodeURIComponent(id)}?${new URLSearchParams({ ...(seq ? { seq } : {}), basis: "change" })}`, text: t("entity.change_basis") }),
    ),
  );
  if (delta) root.append(changePanel(delta));
  root.append(facts(entity, changed));
  root.append(section(t("entity.names"), "names", changed, namesTable(names)));
  root.append(section(t("entity.documents"), "documents", changed, documentsTable(entity.documents || [])));
  root.append(
    section(t("entity.birth"), "birth_dates", changed, listOf((entity.birth_dates || []).map(birthText))),
    section(t("entity.birth_places"), "birth_places", changed, listOf((entity.birth_places || []).map(placeText))),
    section(t("entity.addresses"), "addresses", changed, listOf((entity.addresses || []).map(placeText))),
  );
  if (entity.remarks) root.append(section(t("field.remarks"), "remarks", changed, h("p", { class: "remarks", text: entity.remarks })));
  if ((entity.urls || []).length)
    root.append(section(t("field.urls"), "urls", changed, listOf(entity.urls)));
  const history = h("section", { class: "history" }, h("h2", { text: t("entity.history") }));
  root.append(history);
  try {
    const found = await get(`/v1/entities/${encodeURIComponent(id)}/history`, query);
    history.append(...historyTable(found, id, seq));
  } catch (err) {
    history.append(problem(err));
  }
}

function askBasis(root, ctx) {
  const basis = basisFields();
  const status = h("div", { class: "status-area" });
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    basis.element,
    h("button", { type: "submit", class: "primary", text: t("entity.open") }),
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    try {
      basis.value();
    } catch (err) {
      status.replaceChildren(notice(err.message, "error"));
      return;
    }
    const q = new URLSearchParams(ctx.query);
    q.delete("basis");
    ctx.navigate(`#/entity/${encodeURIComponent(ctx.args.join("/"))}${q.toString() ? `?${q}` : ""}`);
  });
  root.append(heading(t("entity.title")));
  root.append(h("p", { text: t("entity.basis_needed") }), form);
  form.querySelector("select").focus();
}

function mark(el, key, changed) {
  if (key in changed) {
    el.classList.add("changed");
    el.append(h("span", { class: "changed-tag", text: t("entity.changed") }));
  }
  return el;
}

function section(title, key, changed, content) {
  const head = mark(h("h2", { text: title }), key, changed);
  return h("section", { class: key in changed ? "block changed-block" : "block" }, head, content);
}

function facts(e, changed) {
  const dl = h("dl", { class: "facts wide" });
  const add = (key, value) => {
    const dt = mark(h("dt", { text: tv("field", key) }), key, changed);
    dl.append(dt, h("dd", { class: key in changed ? "changed" : "" }, value || "—"));
  };
  add("source", e.source);
  add("reference", e.reference);
  add("schema", tv("schema", e.schema));
  add("list_type", e.list_type);
  add("programs", (e.programs || []).join(", "));
  add("listed_on", e.listed_on);
  add("updated_on", (e.updated_on || []).join(", "));
  if (e.gender) add("gender", e.gender);
  if ((e.titles || []).length) add("titles", e.titles.join("; "));
  if ((e.positions || []).length) add("positions", e.positions.join("; "));
  add("nationalities", (e.nationalities || []).join(", "));
  return h("section", { class: "block" }, h("h2", { text: t("entity.designation") }), dl);
}

function namesTable(names) {
  if (!names.length) return empty("—");
  return table(
    [t("entity.name"), t("entity.kind"), t("entity.script"), t("entity.latin"), t("entity.quality")],
    names.map((n) =>
      h(
        "tr",
        {},
        h("td", { lang: n.script === "Cyrillic" ? "ru" : n.script === "Arabic" ? "ar" : null, dir: n.script === "Arabic" ? "rtl" : null, text: n.full }),
        h("td", { text: tv("name_kind", n.kind) }),
        h("td", { text: n.script || "—" }),
        h("td", { text: n.latin || "—" }),
        h("td", { text: n.quality || "—" }),
      ),
    ),
  );
}

function documentsTable(docs) {
  if (!docs.length) return empty(t("entity.no_documents"));
  return table(
    [t("entity.doc_type"), t("entity.doc_number"), t("entity.doc_country"), t("entity.doc_issued"), t("entity.doc_valid"), t("entity.doc_note")],
    docs.map((d) =>
      h(
        "tr",
        {},
        h("td", { text: d.type_label || tv("doc", d.type) }),
        h("td", {}, h("code", { text: d.number })),
        h("td", { text: d.country || "—" }),
        h("td", { text: [d.issued, d.expires].filter(Boolean).join(" – ") || "—" }),
        h("td", { text: d.valid === true ? t("entity.valid_yes") : d.valid === false ? t("entity.valid_no") : "—" }),
        h("td", { text: [d.note, ...(d.problems || [])].filter(Boolean).join("; ") || "—" }),
      ),
    ),
  );
}

function birthText(b) {
  const when = b.date || (b.from_year ? `${b.from_year}–${b.to_year}` : "");
  return [when, b.approximate ? t("entity.approximate") : "", b.note || ""].filter(Boolean).join(" · ");
}

function placeText(p) {
  return [p.street, p.city, p.region, p.postal_code, p.country, p.note].filter(Boolean).join(", ");
}

function listOf(items) {
  if (!items.length) return empty("—");
  return h("ul", {}, items.map((x) => h("li", { text: x })));
}

function itemText(x) {
  if (x === null || x === undefined) return "—";
  if (typeof x !== "object") return String(x);
  if ("full" in x) return x.full;
  if ("number" in x) return `${x.type || ""} ${x.number}`.trim();
  if ("date" in x || "from_year" in x) return birthText(x);
  return placeText(x) || JSON.stringify(x);
}

function changePanel(delta) {
  const box = h("section", { class: "card change-panel", id: "what-changed" });
  box.append(
    h("h2", { text: t("entity.what_changed", { op: tv("op", delta.op), seq: delta.seq }) }),
    h("p", { class: "muted", text: `${formatTime(delta.at)} · ${delta.source} ${delta.version || ""}` }),
  );
  const changes = delta.changes || {};
  if (delta.op !== "amended" || !Object.keys(changes).length) {
    box.append(h("p", { text: t(`entity.op_${delta.op}`) }));
    return box;
  }
  const dl = h("dl", { class: "diff" });
  for (const [key, change] of Object.entries(changes)) {
    dl.append(h("dt", { text: tv("field", key) }));
    const dd = h("dd");
    if ("from" in change || "to" in change) {
      dd.append(h("del", { text: itemText(change.from) }), " → ", h("ins", { text: itemText(change.to) }));
    }
    for (const x of change.added || []) dd.append(h("div", {}, h("ins", { text: `+ ${itemText(x)}` })));
    for (const x of change.removed || []) dd.append(h("div", {}, h("del", { text: `− ${itemText(x)}` })));
    if (change.reordered) dd.append(h("div", { text: t("entity.reordered") }));
    dl.append(dd);
  }
  box.append(dl);
  return box;
}

function historyTable(found, id, seq) {
  const rows = found.history || [];
  const parts = [];
  if (!rows.length) parts.push(empty(t("entity.no_history")));
  else
    parts.push(
      table(
        [t("entity.h_seq"), t("entity.h_op"), t("entity.h_at"), t("entity.h_version"), t("entity.h_fields")],
        rows.map((r) =>
          h(
            "tr",
            { class: String(r.seq) === seq ? "current" : "" },
            h("td", {}, h("a", { href: `#/entity/${encodeURIComponent(id)}?seq=${r.seq}`, text: `#${r.seq}` })),
            h("td", { text: tv("op", r.op) }),
            h("td", { text: formatTime(r.at) }),
            h("td", {}, h("code", { text: r.version || "" })),
            h("td", { text: (r.changed || []).map((f) => tv("field", f)).join(", ") || "—" }),
          ),
        ),
      ),
    );
  if (!found.complete) parts.push(h("p", { class: "muted", text: t("entity.history_partial") }));
  return parts;
}
