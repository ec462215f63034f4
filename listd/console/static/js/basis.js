// The legal basis every screening and entity read states (docs/access.md): one of five
// grounds; a competent authority's request and "other" also need a case reference.
import { t } from "./i18n.js";
import { field, h, select } from "./ui.js";

export const BASES = ["onboarding", "transaction", "periodic_review", "authority_request", "other"];
const NEEDS_CASE = new Set(["authority_request", "other"]);
const STORED = "listd.basis";

export function remembered() {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORED) || "null");
    return value && BASES.includes(value.basis) ? value : null;
  } catch (err) {
    return null;
  }
}

export function remember(value) {
  sessionStorage.setItem(STORED, JSON.stringify(value));
}

// Two labelled controls; value() returns {basis, case_ref} or throws a message naming
// the field to fix.
export function basisFields() {
  const basis = select(
    [["", t("basis.choose")], ...BASES.map((b) => [b, t(`basis.${b}`)])],
    { name: "basis", required: true },
  );
  const caseRef = h("input", { type: "text", name: "case_ref", maxlength: "200", autocomplete: "off" });
  const caseField = field(t("basis.case_ref"), caseRef, t("basis.case_ref_hint"));
  const sync = () => {
    const needed = NEEDS_CASE.has(basis.value);
    caseRef.required = needed;
    caseField.classList.toggle("required", needed);
  };
  basis.addEventListener("change", sync);
  const known = remembered();
  if (known) {
    basis.value = known.basis;
    caseRef.value = known.case_ref || "";
  }
  sync();
  const element = h(
    "fieldset",
    { class: "basis" },
    h("legend", { text: t("basis.legend") }),
    field(t("basis.label"), basis, t("basis.hint")),
    caseField,
  );
  return {
    element,
    value() {
      if (!basis.value) {
        basis.setAttribute("aria-invalid", "true");
        basis.focus();
        throw new Error(t("basis.missing"));
      }
      basis.removeAttribute("aria-invalid");
      const ref = caseRef.value.trim();
      if (NEEDS_CASE.has(basis.value) && !ref) {
        caseRef.setAttribute("aria-invalid", "true");
        caseRef.focus();
        throw new Error(t("basis.case_missing"));
      }
      caseRef.removeAttribute("aria-invalid");
      const value = { basis: basis.value, case_ref: ref || undefined };
      remember(value);
      return value;
    },
  };
}
