// Text in English, Russian and Kazakh: one JSON catalogue per language, chosen from the
// browser's languages unless the officer picked one with the switch (remembered).

export const LANGUAGES = ["en", "ru", "kk"];
const CHOICE = "listd.lang";
let catalogue = {};
let fallback = {};
let current = "en";

export function pick(preferred) {
  for (const tag of preferred || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export function chosen() {
  const stored = localStorage.getItem(CHOICE);
  if (LANGUAGES.includes(stored)) return stored;
  return pick(navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language]);
}

async function fetchCatalogue(lang) {
  const response = await fetch(`i18n/${lang}.json`);
  if (!response.ok) throw new Error(`no catalogue for ${lang}`);
  return response.json();
}

export async function load(lang, remember = false) {
  if (remember) localStorage.setItem(CHOICE, lang);
  if (!Object.keys(fallback).length) fallback = await fetchCatalogue("en");
  catalogue = lang === "en" ? fallback : await fetchCatalogue(lang);
  current = lang;
  document.documentElement.lang = lang;
}

export function lang() {
  return current;
}

// t("screen.found", {count: 3}) -> the text with {count} filled in. A missing key shows
// the English text (the tests make sure none is missing), then the key itself.
export function t(key, vars) {
  let text = catalogue[key] ?? fallback[key] ?? key;
  if (vars) {
    text = text.replace(/\{(\w+)\}/g, (all, name) => (name in vars ? String(vars[name]) : all));
  }
  return text;
}

export function has(key) {
  return key in catalogue || key in fallback;
}

// Translate a known value (a rule, an operation, a status...) or show it as it is.
export function tv(prefix, value) {
  const key = `${prefix}.${value}`;
  return key in catalogue || key in fallback ? t(key) : String(value ?? "");
}

export function translateStatic(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

export function formatNumber(n) {
  return new Intl.NumberFormat(current).format(n);
}

export function formatTime(iso) {
  if (!iso) return "—";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso);
  return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" }).format(when);
}
