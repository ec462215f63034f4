// Sign-in and the terms of use with a Kazakh digital signature (EDS of the NCA RK), through
// NCALayer, the NCA's desktop app, which listens on a local WebSocket (the server says
// where: LISTD_EDS_NCALAYER_URL). Its commonUtils module answers
// {"code": "200", "responseObject": <CMS, base64>} or {"code": "500", "message": ...};
// "action.canceled" is the officer closing its window. The two calls before a key exists
// go through fetch directly: a refusal here is explained here, not by the global sign-out.
import { getKey } from "./api.js";
import { has, t } from "./i18n.js";
import { h, notice } from "./ui.js";

const MODULE = "kz.gov.pki.knca.commonUtils";
const STORAGE = "PKCS12"; // NCALayer asks for the key file (or token) itself
const CONNECT_MS = 4000;
const VIA = "listd.via"; // sessionStorage: "eds" when the key came from an EDS sign-in

export function markEdsSession() {
  sessionStorage.setItem(VIA, "eds");
}

export function isEdsSession() {
  return sessionStorage.getItem(VIA) === "eds";
}

class EdsError extends Error {
  constructor(kind, message, reason) {
    super(message || kind);
    this.kind = kind; // no_ncalayer | cancelled | ncalayer | refused | off | http
    this.reason = reason || "";
  }
}

// A CMS of `data` (base64) by the key of `keyType` (AUTHENTICATION or SIGNATURE), content
// attached: the signed bytes travel with the signature.
export function ncalayerSign(url, data, keyType) {
  return new Promise((resolve, reject) => {
    let socket;
    let settled = false;
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        socket.close();
      } catch (err) {
        /* already closed */
      }
      fn(value);
    };
    const timer = setTimeout(() => finish(reject, new EdsError("no_ncalayer")), CONNECT_MS);
    try {
      socket = new WebSocket(url);
    } catch (err) {
      clearTimeout(timer);
      reject(new EdsError("no_ncalayer", String(err)));
      return;
    }
    let sent = false;
    socket.onopen = () => {
      clearTimeout(timer); // connected: the officer now takes their time in NCALayer
      socket.send(JSON.stringify({ module: MODULE, method: "createCMSSignatureFromBase64",
        args: [STORAGE, keyType, data, true] }));
      sent = true;
    };
    socket.onerror = () => finish(reject, new EdsError(sent ? "ncalayer" : "no_ncalayer"));
    socket.onclose = () => finish(reject, new EdsError(sent ? "ncalayer" : "no_ncalayer"));
    socket.onmessage = (event) => {
      let answer;
      try {
        answer = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (answer.result && answer.result.version) return; // NCALayer's greeting
      if (answer.code === "200" && answer.responseObject) return finish(resolve, answer.responseObject);
      if (answer.status === true && answer.body && answer.body.result) {
        const result = answer.body.result; // the newer basics module's shape
        return finish(resolve, Array.isArray(result) ? result[0] : result);
      }
      if (answer.message === "action.canceled" || (answer.status === true && !answer.body?.result)) {
        return finish(reject, new EdsError("cancelled"));
      }
      finish(reject, new EdsError("ncalayer", answer.message || answer.details || JSON.stringify(answer)));
    };
  });
}

async function send(method, path, json) {
  const headers = { Accept: "application/json", "Content-Type": "application/json" };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: json ? JSON.stringify(json) : undefined });
  } catch (err) {
    throw new EdsError("http", String(err.message || err));
  }
  const body = await response.json().catch(() => ({}));
  if (response.ok) return body;
  if (body.error === "eds_not_configured") throw new EdsError("off");
  if (body.error === "signature_refused" || body.reason) {
    throw new EdsError("refused", body.message, body.reason || "bad_signature");
  }
  throw new EdsError("http", body.message || `HTTP ${response.status}`);
}

// What went wrong, in the officer's language; `purpose` tells a wrong key's message apart.
function explain(err, purpose) {
  if (!(err instanceof EdsError)) return t("eds.ncalayer_error", { message: String(err.message || err) });
  if (err.kind === "no_ncalayer") return t("eds.no_ncalayer");
  if (err.kind === "cancelled") return t("eds.cancelled");
  if (err.kind === "off") return t("eds.off");
  if (err.kind === "ncalayer") return t("eds.ncalayer_error", { message: err.message });
  if (err.kind === "refused") {
    const reason = err.reason === "wrong_key" ? `wrong_key_${purpose}` : err.reason;
    return has(`eds.refused.${reason}`) ? t(`eds.refused.${reason}`) : err.message;
  }
  return t("eds.http_error", { message: err.message });
}

function alertBox(text) {
  return h("div", { class: "problem", role: "alert" }, h("p", { class: "problem-title", text }));
}

// A challenge asked for ahead of the click, with the time it stops being usable.
function fresh(challenge) {
  return challenge && Date.parse(challenge.expires) - Date.now() > 15000;
}

// The "Sign in with EDS" part of the sign-in page; `done(key, agreementRequired)` follows.
// It stays hidden until the server has said EDS is on: the page asks for the first
// challenge straight away (no public route tells EDS settings apart, and a challenge is what
// the click needs anyway) and keeps the part hidden on 404 `eds_not_configured`. Any other
// answer (429, no network) shows it: the click then explains what is wrong.
export function signInSection(done) {
  const status = h("div", { class: "status-area" });
  const button = h("button", { type: "button", class: "primary", text: t("eds.button") });
  const section = h("div", { class: "card narrow eds hidden", "data-eds": "unknown" },
    h("p", { class: "lead", text: t("eds.hint") }), button, status);
  let ahead = null;
  send("POST", "/v1/eds/challenge").then(
    (challenge) => {
      ahead = challenge;
      section.dataset.eds = "on";
      section.classList.remove("hidden");
    },
    (err) => {
      if (err instanceof EdsError && err.kind === "off") {
        section.dataset.eds = "off";
        return;
      }
      section.dataset.eds = "on";
      section.classList.remove("hidden");
    },
  );
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.replaceChildren(notice(t("eds.waiting")));
    try {
      const challenge = fresh(ahead) ? ahead : await send("POST", "/v1/eds/challenge");
      ahead = null; // single use: a refused attempt consumes it too
      const cms = await ncalayerSign(challenge.ncalayer, challenge.data, "AUTHENTICATION");
      const session = await send("POST", "/v1/eds/signin", { challenge: challenge.challenge, cms });
      status.replaceChildren();
      await done(session.key, session.agreement_required);
    } catch (err) {
      status.replaceChildren(alertBox(explain(err, "auth")));
    } finally {
      button.disabled = false;
    }
  });
  return section;
}

// The terms of use, signed with the SIGN key; `done()` follows.
export async function renderSignedTerms(root, headingNode, done) {
  const terms = await send("GET", "/v1/eds/agreement");
  const status = h("div", { class: "status-area" });
  const button = h("button", { type: "button", class: "primary", text: t("eds.terms_submit") });
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.replaceChildren(notice(t("eds.signing")));
    try {
      const cms = await ncalayerSign(terms.ncalayer, terms.data, "SIGNATURE");
      await send("POST", "/v1/eds/agreement", { version: terms.version, cms });
      status.replaceChildren();
      await done();
    } catch (err) {
      status.replaceChildren(alertBox(explain(err, "sign")));
    } finally {
      button.disabled = false;
    }
  });
  root.replaceChildren(headingNode, h("p", { text: t("eds.terms_intro") }),
    h("div", { class: "card" }, h("pre", { class: "terms", tabindex: "0", text: terms.text }), button, status));
}
