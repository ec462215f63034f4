// A match's explanation (listd/screening/explain.py) in plain words, in the chosen language.
import { has, t, tv } from "./i18n.js";

const pct = (x) => `${Math.round(Number(x) * 100)}%`;

export function reasonText(reason) {
  if (!reason) return "";
  const text = String(reason);
  const slug = text.toLowerCase().replace(/[^a-z]+/g, "_").replace(/^_|_$/g, "");
  if (has(`reason.${slug}`)) return t(`reason.${slug}`);
  let m = /^(\d+) year\(s\) apart: not counted$/.exec(text);
  if (m) return t("reason.years_apart_ignored", { n: m[1] });
  m = /^(\d+) years apart$/.exec(text);
  if (m) return t("reason.years_apart", { n: m[1] });
  m = /^same valid (\w+)$/.exec(text);
  if (m) return t("reason.same_valid", { type: m[1] });
  m = /^same (.+) number$/.exec(text);
  if (m) return t("reason.same_number", { label: m[1] });
  return text;
}

function effectText(effect) {
  if (effect === "decisive") return t("explain.decisive");
  const n = Number(effect);
  if (Number.isNaN(n)) return String(effect);
  if (n === 0) return t("explain.no_effect");
  return t(n > 0 ? "explain.raises" : "explain.lowers", { by: Math.abs(n).toFixed(2) });
}

// Sentences, strongest evidence first.
export function plainWords(expl) {
  const out = [];
  if (!expl || !expl.name) return out;
  out.push(
    t("explain.name", {
      query: expl.name.query,
      candidate: expl.name.candidate,
      score: pct(expl.name.score),
      rule: tv("rule", expl.name.rule),
    }),
  );
  const partial = expl.name.partial;
  if (partial) out.push(t("explain.partial", { n: partial.matched, m: partial.listed }));
  const reading = expl.reading;
  if (reading)
    out.push(
      t("explain.reading", {
        name: reading.name,
        changes: (reading.changes || []).map((c) => tv("change", c)).join("; "),
      }),
    );
  for (const token of expl.tokens || []) {
    if (token.rule === "not_in_list_name") out.push(t("explain.not_in_list", { query: token.query }));
    else if (token.rule === "not_in_query") out.push(t("explain.not_in_query", { candidate: token.candidate }));
    else if (token.query === token.candidate)
      out.push(t("explain.same_word", { query: token.query }));
    else
      out.push(
        t("explain.token", {
          query: token.query,
          candidate: token.candidate,
          rule: tv("rule", token.rule),
          score: pct(token.score),
        }),
      );
  }
  const bd = expl.birth_date;
  if (bd)
    out.push(
      t("explain.birth_date", {
        query: bd.query,
        listed: bd.listed || "—",
        reason: reasonText(bd.reason),
        effect: effectText(bd.effect),
      }),
    );
  const ids = expl.identifiers;
  if (ids)
    out.push(
      t("explain.identifier", {
        number: ids.number || (ids.listed || []).join(", "),
        reason: reasonText(ids.reason),
        effect: effectText(ids.effect),
      }),
    );
  const nat = expl.nationality;
  if (nat)
    out.push(
      t("explain.nationality", {
        query: nat.query,
        listed: (nat.listed || []).join ? (nat.listed || []).join(", ") : nat.listed,
        reason: reasonText(nat.reason),
        effect: effectText(nat.effect),
      }),
    );
  return out;
}
