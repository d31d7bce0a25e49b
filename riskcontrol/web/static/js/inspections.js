// Walking one inspection round on a phone. The page works without this script (a plain form the server
// checks); the script only helps: it shows the "what was found" fields of failed items alone, counts what
// is ticked, ticks the rest OK on request, checks the walk before it is handed in, and keeps a walk in
// progress in this tab's storage, so a reload, a failed send or a locked phone does not lose what was
// ticked. The draft is forgotten once the round shows as handed in.

import { dataJson, show, translator } from "./page.js";

const root = document.getElementById("inspection");
const form = document.getElementById("insp-form");

if (root) {
  const draftKey = `inspection-draft:${root.dataset.round}`;
  if (form) walk(root, form, draftKey);
  else forget(draftKey);
}

function forget(draftKey) {
  try {
    sessionStorage.removeItem(draftKey);
  } catch {
    // Storage disabled: there is nothing to forget.
  }
}

function walk(root, form, draftKey) {
  const t = translator(dataJson(root, "messages"));
  const items = Array.from(form.querySelectorAll(".insp-item"));
  const $ = (id) => document.getElementById(id);
  const progress = $("insp-progress");
  const restOk = $("insp-rest-ok");
  const check = $("insp-check");

  const verdictOf = (item) => item.querySelector("input[type=radio]:checked")?.value || "";
  const noteOf = (item) => item.querySelector("textarea");
  const floorOf = (item) => item.querySelector(".insp-failed input");

  // The script checks the walk itself, with words that name the items.
  form.noValidate = true;

  function update() {
    let ticked = 0;
    let failed = 0;
    for (const item of items) {
      const verdict = verdictOf(item);
      ticked += verdict ? 1 : 0;
      failed += verdict === "failed" ? 1 : 0;
      show(item.querySelector(".insp-failed"), verdict === "failed");
      noteOf(item).required = verdict === "failed";
    }
    progress.textContent = t("inspection.js.progress", { done: ticked, total: items.length, failed });
    show(progress, true);
    show(restOk, ticked < items.length);
  }

  function save() {
    const draft = { started_at: $("insp-started").value, note: $("insp-note").value, items: {} };
    for (const item of items) {
      draft.items[item.dataset.code] = { verdict: verdictOf(item), note: noteOf(item).value, floor: floorOf(item).value };
    }
    try {
      sessionStorage.setItem(draftKey, JSON.stringify(draft));
    } catch {
      // Storage full or disabled: the walk still works, it just does not survive a reload.
    }
  }

  /** Put back what a reload lost; what the server sent back (after a refusal) wins over the draft. */
  function restore() {
    let draft;
    try {
      draft = JSON.parse(sessionStorage.getItem(draftKey) || "null");
    } catch {
      draft = null;
    }
    if (!draft || typeof draft !== "object") return;
    let restored = false;
    for (const item of items) {
      const saved = draft.items?.[item.dataset.code];
      if (!saved || verdictOf(item)) continue;
      const radio = item.querySelector(`input[type=radio][value="${saved.verdict === "failed" ? "failed" : "ok"}"]`);
      if (saved.verdict && radio) {
        radio.checked = true;
        restored = true;
      }
      if (!noteOf(item).value && saved.note) noteOf(item).value = String(saved.note);
      if (!floorOf(item).value && saved.floor) floorOf(item).value = String(saved.floor);
    }
    if (draft.started_at) $("insp-started").value = String(draft.started_at);
    if (!$("insp-note").value && draft.note) $("insp-note").value = String(draft.note);
    show($("insp-restored"), restored);
  }

  function problem() {
    const unticked = items.filter((item) => !verdictOf(item));
    if (unticked.length) return { item: unticked[0], text: t("inspection.js.unticked", { count: unticked.length }) };
    const silent = items.find((item) => verdictOf(item) === "failed" && !noteOf(item).value.trim());
    if (silent) return { item: silent, text: t("inspection.js.note_needed") };
    return null;
  }

  form.addEventListener("change", () => {
    update();
    save();
  });
  form.addEventListener("input", save);

  restOk.addEventListener("click", () => {
    for (const item of items) {
      if (!verdictOf(item)) item.querySelector("input[type=radio][value=ok]").checked = true;
    }
    update();
    save();
  });

  form.addEventListener("submit", (event) => {
    const found = problem();
    show(check, Boolean(found));
    if (found) {
      event.preventDefault();
      check.textContent = found.text;
      found.item.scrollIntoView({ block: "center" });
      const target = verdictOf(found.item) ? noteOf(found.item) : found.item.querySelector("input[type=radio]");
      target.focus({ preventScroll: true });
    }
  });

  restore();
  update();
}
