// The console's shell: sign-in, terms of use, the menu, the language switch and a hash
// router (#/screen, #/lists, #/changes, #/entity/<id>, #/alerts, #/audit).
import { ApiError, forgetKey, get, getKey, onAuthProblem, post, setKey } from "./api.js";
import { LANGUAGES, chosen, lang, load, t, translateStatic, tv } from "./i18n.js";
import { field, h, heading, problem } from "./ui.js";
import { isEdsSession, markEdsSession, renderSignedTerms, signInSection } from "./eds.js";
import * as screen from "./pages/screen.js";
import * as lists from "./pages/lists.js";
import * as changes from "./pages/changes.js";
import * as entity from "./pages/entity.js";
import * as alerts from "./pages/alerts.js";
import * as audit from "./pages/audit.js";

// Page name -> module and the role the API will ask for (the menu shows only these;
// the API still decides: a page opened by its address shows the API's refusal).
const PAGES = {
  screen: { module: screen, role: "screener", menu: true },
  lists: { module: lists, role: "screener", menu: true },
  changes: { module: changes, role: "screener", menu: true },
  alerts: { module: alerts, role: "subscriber", menu: true },
  audit: { module: audit, role: "auditor", menu: true },
  entity: { module: entity, role: "screener", menu: false },
};

const state = { who: null, cleanup: null, rendering: 0 };
const main = () => document.getElementById("main");

function route() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [pathPart, queryPart] = raw.split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "", args: parts.slice(1), query: new URLSearchParams(queryPart || "") };
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function home() {
  const roles = state.who ? state.who.roles : [];
  for (const [name, page] of Object.entries(PAGES)) {
    if (page.menu && roles.includes(page.role)) return `#/${name}`;
  }
  return "#/none";
}

function renderNav() {
  const nav = document.getElementById("nav");
  const session = document.getElementById("session");
  nav.replaceChildren();
  session.replaceChildren();
  if (!state.who) return;
  const current = route().page;
  const list = h("ul");
  for (const [name, page] of Object.entries(PAGES)) {
    if (!page.menu || !state.who.roles.includes(page.role)) continue;
    const link = h("a", { href: `#/${name}`, text: t(`nav.${name}`) });
    if (name === current) link.setAttribute("aria-current", "page");
    list.append(h("li", {}, link));
  }
  nav.append(list);
  session.append(
    h("span", {
      class: "who",
      text: t("session.who", { name: state.who.name, role: tv("role", state.who.role), org: state.who.org }),
    }),
    h("button", { type: "button", class: "link", onclick: signOut, text: t("session.sign_out") }),
  );
}

function signOut() {
  forgetKey();
  state.who = null;
  navigate("#/signin");
}

async function render() {
  const ticket = ++state.rendering;
  if (state.cleanup) {
    try {
      state.cleanup();
    } catch (err) {
      /* a page's cleanup must not stop the next page */
    }
    state.cleanup = null;
  }
  const where = route();
  const root = main();
  if (!getKey()) {
    state.who = null;
    renderNav();
    return renderSignIn(root);
  }
  if (!state.who) {
    try {
      state.who = await get("/v1/whoami");
    } catch (err) {
      if (err instanceof ApiError && err.code === "agreement_required") return renderTerms(root);
      if (err instanceof ApiError && err.status === 401) {
        forgetKey();
        return renderSignIn(root, err);
      }
      renderNav();
      root.replaceChildren(heading(t("app.title")), problem(err));
      return;
    }
  }
  if (ticket !== state.rendering) return;
  if (!where.page || where.page === "signin") return navigate(home());
  renderNav();
  const page = PAGES[where.page];
  root.replaceChildren();
  if (!page) {
    root.append(heading(t("nav.none")), h("p", { text: t("app.no_pages", { role: tv("role", state.who.role) }) }));
    return;
  }
  document.title = `${t(`nav.${where.page}`)} · listd`;
  const ctx = { who: state.who, args: where.args, query: where.query, navigate, alive: () => ticket === state.rendering };
  try {
    state.cleanup = (await page.module.render(root, ctx)) || null;
  } catch (err) {
    if (!(err instanceof ApiError)) console.error(err);
    root.append(problem(err instanceof ApiError ? err : new ApiError(0, { message: String(err) })));
  }
  focusTitle();
}

function focusTitle() {
  const title = document.getElementById("page-title");
  if (title && document.activeElement === document.body) title.focus({ preventScroll: true });
}

function renderSignIn(root, error) {
  document.title = `${t("signin.title")} · listd`;
  const input = h("input", {
    type: "password",
    name: "key",
    autocomplete: "off",
    required: true,
    spellcheck: "false",
  });
  const status = h("div", { class: "status-area" });
  if (error) status.append(problem(error));
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    field(t("signin.key"), input, t("signin.key_hint")),
    h("button", { type: "submit", class: "primary", text: t("signin.submit") }),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    status.replaceChildren();
    if (!key) {
      input.setAttribute("aria-invalid", "true");
      status.append(problem(new ApiError(400, { message: t("signin.key_missing"), field: t("signin.key") })));
      input.focus();
      return;
    }
    setKey(key);
    try {
      const terms = await get("/v1/agreement");
      if (!terms.accepted) return renderTerms(root, terms);
      state.who = await get("/v1/whoami");
      navigate(home());
    } catch (err) {
      forgetKey();
      status.append(problem(err));
      input.focus();
    }
  });
  const eds = signInSection(async (key, agreementRequired) => {
    setKey(key);
    markEdsSession();
    if (agreementRequired) return renderTerms(root);
    state.who = await get("/v1/whoami");
    navigate(home());
  });
  root.replaceChildren(heading(t("signin.title")), h("p", { class: "lead", text: t("signin.intro") }), form, eds);
  input.focus();
}

async function renderTerms(root, known) {
  renderNav();
  if (isEdsSession()) {
    // Signed in with the EDS: the terms are signed with it too, not ticked.
    return renderSignedTerms(root, heading(t("terms.title")), async () => {
      state.who = await get("/v1/whoami");
      navigate(home());
    });
  }
  const terms = known || (await get("/v1/agreement"));
  const box = h("input", { type: "checkbox", required: true });
  const status = h("div", { class: "status-area" });
  const form = h(
    "form",
    { class: "card", novalidate: true },
    h("pre", { class: "terms", tabindex: "0", text: terms.text }),
    h("div", { class: "check" }, box, h("label", { for: (box.id = "accept-terms"), text: t("terms.accept") })),
    h("button", { type: "submit", class: "primary", text: t("terms.submit") }),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!box.checked) {
      status.replaceChildren(problem(new ApiError(400, { message: t("terms.must_accept") })));
      box.focus();
      return;
    }
    try {
      await post("/v1/agreement", { accept: true, version: terms.version });
      state.who = await get("/v1/whoami");
      navigate(home());
    } catch (err) {
      status.replaceChildren(problem(err));
    }
  });
  root.replaceChildren(heading(t("terms.title")), h("p", { text: t("terms.intro") }), form);
  focusTitle();
}

function setupLanguageSwitch() {
  const select = document.getElementById("lang");
  select.replaceChildren(...LANGUAGES.map((code) => h("option", { value: code, text: t(`lang.${code}`) })));
  select.value = lang();
  select.onchange = async () => {
    await load(select.value, true);
    translateStatic(document);
    setupLanguageSwitch();
    render();
  };
}

onAuthProblem((error) => {
  if (error.status === 401) {
    forgetKey();
    state.who = null;
    renderNav();
    renderSignIn(main(), error);
  } else if (error.code === "agreement_required") {
    state.who = null;
    renderTerms(main());
  }
});

async function start() {
  // The skip link moves focus without touching the hash (the hash is the router's).
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    main().focus();
  });
  await load(chosen());
  translateStatic(document);
  setupLanguageSwitch();
  window.addEventListener("hashchange", render);
  await render();
}

start();
