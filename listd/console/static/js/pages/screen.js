// Screen: one name (any script) with optional birth date and identifier, or a CSV batch.
import { ApiError, post } from "../api.js";
import { basisFields } from "../basis.js";
import { parseCsv, toCsv } from "../csv.js";
import { plainWords } from "../explain.js";
import { formatNumber, t, tv } from "../i18n.js";
import { announce, download, empty, field, h, heading, notice, problem, scoreBar, table } from "../ui.js";

const CHUNK = 250; // queries per batch request: small enough for a smooth progress bar

export async function render(root) {
  const basis = basisFields();
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off", maxlength: "500" });
  const birth = h("input", {
    type: "text",
    name: "birth_date",
    autocomplete: "off",
    inputmode: "numeric",
    pattern: "\\d{4}(-\\d{2}(-\\d{2})?)?",
    placeholder: "1980-05-17",
  });
  const ident = h("input", { type: "text", name: "identifier", autocomplete: "off", maxlength: "100" });
  const results = h("section", { class: "results", "aria-live": "polite", "aria-label": t("screen.results") });
  const submit = h("button", { type: "submit", class: "primary", text: t("screen.submit") });
  const form = h(
    "form",
    { class: "card", id: "screen-form", novalidate: true },
    h(
      "div",
      { class: "grid3" },
      field(t("screen.name"), name, t("screen.name_hint")),
      field(t("screen.birth_date"), birth, t("screen.birth_date_hint")),
      field(t("screen.identifier"), ident, t("screen.identifier_hint")),
    ),
    basis.element,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    results.replaceChildren();
    let grounds;
    try {
      if (!name.value.trim()) {
        name.setAttribute("aria-invalid", "true");
        name.focus();
        throw new Error(t("screen.name_missing"));
      }
      name.removeAttribute("aria-invalid");
      if (birth.value.trim() && !birth.checkValidity()) {
        birth.setAttribute("aria-invalid", "true");
        birth.focus();
        throw new Error(t("screen.birth_date_invalid"));
      }
      birth.removeAttribute("aria-invalid");
      grounds = basis.value();
    } catch (err) {
      results.append(notice(err.message, "error"));
      return;
    }
    const body = { name: name.value.trim(), ...grounds };
    if (birth.value.trim()) body.birth_date = birth.value.trim();
    if (ident.value.trim()) body.identifiers = [ident.value.trim()];
    submit.disabled = true;
    results.append(notice(t("screen.working")));
    try {
      const answer = await post("/v1/screen", body);
      showMatches(results, answer, body.name);
    } catch (err) {
      results.replaceChildren(problem(err));
    } finally {
      submit.disabled = false;
    }
  });

  root.append(
    heading(t("screen.title")),
    h("p", { class: "lead", text: t("screen.intro") }),
    form,
    results,
    batchSection(basis),
  );
  name.focus();
}

function versionsLine(versions) {
  const items = Object.entries(versions || {}).map(([source, version]) =>
    h("li", {}, h("strong", { text: source }), " ", h("code", { text: version })),
  );
  return h("div", { class: "versions" }, h("h3", { text: t("screen.versions") }), h("ul", { class: "inline" }, items));
}

// A row the API would refuse as surely a mistake (docs: a name with no letter or digit, a
// birth date in the future), named by its line before anything is sent; or null.
function surelyWrong(r) {
  if (!/[\p{L}\p{N}]/u.test(r.name)) return t("batch.bad_name", { line: r.line, name: r.name });
  // A day's grace, as the API gives: east of UTC a child born today is "tomorrow" there.
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  const date = r.birth_date;
  if (/^\d{4}(-\d{2}(-\d{2})?)?$/.test(date) && date > tomorrow.slice(0, date.length))
    return t("batch.future_birth", { line: r.line, date });
  return null;
}

// A server warning in the interface's language: its code (warning_details) names the
// catalogue entry; a warning without one is shown as the server wrote it.
export function warningText(message, answer) {
  const detail = (answer.warning_details || []).find((d) => d.message === message);
  if (!detail || !detail.code) return message;
  const key = `warning.${detail.code}`;
  const said = tv("warning", detail.code);
  return said === detail.code ? message : t(key, { ...detail, hours: detail.hours ?? "" });
}

function showMatches(results, answer, query) {
  const matches = answer.matches || [];
  const parts = [];
  parts.push(
    h("h2", {
      id: "results-title",
      text: matches.length
        ? t("screen.found", { count: formatNumber(matches.length), query })
        : t("screen.none", { query }),
    }),
  );
  for (const warning of answer.warnings || []) parts.push(notice(warningText(warning, answer), "warn"));
  parts.push(versionsLine(answer.list_versions));
  if (!matches.length) parts.push(empty(t("screen.none_detail")));
  const list = h("ol", { class: "matches" });
  for (const m of matches) {
    const words = plainWords(m.explanation);
    list.append(
      h(
        "li",
        { class: "match card" },
        h(
          "div",
          { class: "match-head" },
          scoreBar(m.score),
          h(
            "div",
            { class: "match-name" },
            h("a", { href: `#/entity/${encodeURIComponent(m.id)}`, text: m.name }),
            m.matched_name && m.matched_name !== m.name
              ? h("span", { class: "muted", text: ` — ${t("screen.matched_name", { name: m.matched_name })}` })
              : null,
          ),
        ),
        h(
          "dl",
          { class: "facts" },
          h("dt", { text: t("field.source") }),
          h("dd", { text: m.source }),
          h("dt", { text: t("field.reference") }),
          h("dd", { text: m.reference }),
          h("dt", { text: t("field.schema") }),
          h("dd", { text: tv("schema", m.schema) }),
          h("dt", { text: t("field.programs") }),
          h("dd", { text: (m.programs || []).join(", ") || "—" }),
        ),
        h("h3", { class: "small", text: t("screen.why") }),
        h("ul", { class: "explain" }, words.map((w) => h("li", { text: w }))),
        h(
          "details",
          {},
          h("summary", { text: t("screen.details") }),
          table(
            [t("explain.col_query"), t("explain.col_listed"), t("explain.col_rule"), t("explain.col_score")],
            (m.explanation.tokens || []).map((tok) =>
              h(
                "tr",
                {},
                h("td", { text: tok.query ?? "—" }),
                h("td", { text: tok.candidate ?? "—" }),
                h("td", { text: tv("rule", tok.rule) }),
                h("td", { text: `${Math.round(tok.score * 100)}%` }),
              ),
            ),
          ),
          h("p", { class: "muted", lang: "en", text: m.explanation.summary || "" }),
        ),
      ),
    );
  }
  if (matches.length) parts.push(list);
  results.replaceChildren(...parts);
  announce(parts[0].textContent);
}

// --- batch --------------------------------------------------------------------------------
const COLUMNS = {
  name: ["name", "full_name", "имя", "фио", "аты"],
  birth_date: ["birth_date", "birthdate", "dob", "date_of_birth", "дата_рождения"],
  identifier: ["identifier", "iin", "passport", "id", "document", "иин"],
  reference: ["reference", "ref", "customer", "customer_reference", "id_клиента"],
};

function columnsOf(header) {
  const found = {};
  header.forEach((cell, i) => {
    const name = cell.trim().toLowerCase().replace(/\s+/g, "_");
    for (const [col, aliases] of Object.entries(COLUMNS)) {
      if (aliases.includes(name) && !(col in found)) found[col] = i;
    }
  });
  return found;
}

function batchSection(basis) {
  const file = h("input", { type: "file", name: "batch", accept: ".csv,text/csv" });
  const progress = h("progress", { max: "1", value: "0", class: "hidden" });
  const progressLabel = h("span", { class: "muted", "aria-live": "polite" });
  const status = h("div", { class: "status-area" });
  const run = h("button", { type: "submit", class: "primary", text: t("batch.submit") });
  let outcome = null;
  const save = h("button", { type: "button", class: "hidden", text: t("batch.download") });
  save.addEventListener("click", () => outcome && download("listd-screening-results.csv", toCsv(outcome), "text/csv"));
  const form = h(
    "form",
    { class: "card", id: "batch-form", novalidate: true },
    h("p", { text: t("batch.intro") }),
    field(t("batch.file"), file, t("batch.file_hint")),
    h("div", { class: "actions" }, run, save),
    h("div", { class: "progress" }, progress, progressLabel),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    save.classList.add("hidden");
    outcome = null;
    let grounds;
    try {
      grounds = basis.value();
      if (!file.files || !file.files.length) {
        file.focus();
        throw new Error(t("batch.no_file"));
      }
    } catch (err) {
      status.append(notice(err.message, "error"));
      return;
    }
    const rows = parseCsv(await file.files[0].text());
    const cols = columnsOf(rows[0] || []);
    if (!("name" in cols)) {
      status.append(notice(t("batch.no_name_column"), "error"));
      return;
    }
    const records = rows.slice(1).map((r, n) => ({
      line: n + 2,
      name: (r[cols.name] || "").trim(),
      birth_date: "birth_date" in cols ? (r[cols.birth_date] || "").trim() : "",
      identifier: "identifier" in cols ? (r[cols.identifier] || "").trim() : "",
      reference: "reference" in cols ? (r[cols.reference] || "").trim() : String(n + 1),
    }));
    const usable = records.filter((r) => r.name);
    if (!usable.length) {
      status.append(notice(t("batch.empty"), "error"));
      return;
    }
    const mistake = usable.map(surelyWrong).find(Boolean);
    if (mistake) {
      status.append(notice(mistake, "error"));
      return;
    }
    run.disabled = true;
    progress.classList.remove("hidden");
    progress.max = usable.length;
    progress.value = 0;
    const out = [
      ["reference", "name", "birth_date", "identifier", "matches", "best_score", "entity_id", "listed_name", "source", "programs", "explanation", "list_versions"],
    ];
    let hits = 0;
    try {
      for (let start = 0; start < usable.length; start += CHUNK) {
        const chunk = usable.slice(start, start + CHUNK);
        const queries = chunk.map((r) => {
          const q = { name: r.name };
          if (/^\d{4}(-\d{2}(-\d{2})?)?$/.test(r.birth_date)) q.birth_date = r.birth_date;
          if (r.identifier) q.identifiers = [r.identifier];
          return q;
        });
        const answer = await post("/v1/screen/batch", { queries, ...grounds });
        const versions = Object.entries(answer.list_versions || {}).map(([s, v]) => `${s}=${v}`).join(" ");
        answer.results.forEach((result, i) => {
          const r = chunk[i];
          const best = result.matches[0];
          if (best) hits += 1;
          out.push([
            r.reference, r.name, r.birth_date, r.identifier, result.matches.length,
            best ? best.score : "", best ? best.id : "", best ? best.name : "",
            best ? best.source : "", best ? (best.programs || []).join(" ") : "",
            best ? best.explanation.summary : "", versions,
          ]);
        });
        progress.value = Math.min(usable.length, start + chunk.length);
        progressLabel.textContent = t("batch.progress", {
          done: formatNumber(progress.value),
          total: formatNumber(usable.length),
        });
      }
      outcome = out;
      status.append(
        notice(t("batch.done", { total: formatNumber(usable.length), hits: formatNumber(hits) }), "ok"),
      );
      save.classList.remove("hidden");
      save.focus();
    } catch (err) {
      status.append(problem(err instanceof ApiError ? err : new ApiError(0, { message: String(err) })));
    } finally {
      run.disabled = false;
    }
  });
  return h("section", { class: "batch" }, h("h2", { text: t("batch.title") }), form);
}
