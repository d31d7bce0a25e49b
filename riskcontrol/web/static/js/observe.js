// The phone filing form. A report is written to the phone's outbox first, then sent; a report
// that cannot be sent now stays queued and is retried (on `online`, on load, and with backoff up
// to every 15 s). Each report carries a client id made once, so however often it is retried the
// server stores it exactly once.

import { openOutbox } from "./outbox.js";
import { api, dataJson, element, hhmm, problemOf, show, translator } from "./page.js";

const API = "/api/v1/observations";
const STUDENTS_API = "/api/v1/people/students";
const MAX_RETRY_MS = 15000;
// Statuses that say "not now" rather than "not like this": the report stays queued.
const TRANSIENT = new Set([408, 425, 429]);

const root = document.getElementById("observe");
const t = translator(dataJson(root, "messages"));
const levels = dataJson(root, "levels");
const english = document.documentElement.lang === "en";
const userId = Number(root.dataset.user);
const maxPhotoBytes = Number(root.dataset.maxPhoto);
const form = document.getElementById("observe-form");
const $ = (id) => document.getElementById(id);

const state = {
  outbox: null,
  pending: 0,
  sending: false,
  again: false,
  failures: 0,
  retryTimer: 0,
  networkDown: false,
  signedOut: false,
  student: null,
  position: null,
  photo: null,
  photoReady: Promise.resolve(),
  shownRejections: new Set(),
};

/** A fresh client id; crypto.randomUUID exists only in secure contexts, so fall back to random bytes. */
function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "c-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- sending ---------------------------------------------------------------------------------

async function send(body) {
  let response;
  try {
    response = await api(API, { method: "POST", body });
  } catch {
    return { kind: "offline" };
  }
  // A captive portal answers with its own page or a redirect: that is not our server storing it.
  if (response.redirected) return { kind: "offline" };
  if (response.status === 200 || response.status === 201) {
    try {
      return { kind: "stored", result: await response.json() };
    } catch {
      return { kind: "offline" };
    }
  }
  if (response.status === 401) return { kind: "signed_out" };
  if (response.status >= 400 && response.status < 500 && !TRANSIENT.has(response.status)) {
    return { kind: "refused", problem: await problemOf(response) };
  }
  return { kind: "later" };
}

/** Send every queued report of this user, oldest first; stop at the first one that cannot go now. */
async function flush() {
  if (state.sending) {
    state.again = true;
    return;
  }
  state.sending = true;
  clearTimeout(state.retryTimer);
  try {
    for (const entry of await state.outbox.entries()) {
      if (entry.state !== "pending") continue;
      const outcome = await send(entry.body);
      state.networkDown = outcome.kind === "offline";
      state.signedOut = outcome.kind === "signed_out";
      if (outcome.kind === "stored") {
        await state.outbox.remove(entry.client_id);
        showDelivered(entry, outcome.result);
        state.failures = 0;
      } else if (outcome.kind === "refused") {
        // Kept (marked refused) until the person has read why: nothing disappears silently.
        await state.outbox.put({ ...entry, state: "refused", error: outcome.problem });
      } else {
        state.failures += 1;
        break;
      }
    }
  } catch {
    state.failures += 1;
  } finally {
    state.sending = false;
    await render();
    schedule();
  }
  if (state.again) {
    state.again = false;
    flush();
  }
}

function schedule() {
  clearTimeout(state.retryTimer);
  if (!state.pending) return;
  const backoff = 1000 * 2 ** Math.max(0, state.failures - 1);
  const delay = navigator.onLine && !state.signedOut ? Math.min(MAX_RETRY_MS, backoff) : MAX_RETRY_MS;
  state.retryTimer = setTimeout(flush, delay);
}

// ---- what the screen shows -------------------------------------------------------------------

async function render() {
  const entries = await state.outbox.entries();
  state.pending = entries.filter((entry) => entry.state === "pending").length;
  $("queue-count").textContent = String(state.pending);
  show($("queue-banner"), state.pending > 0);
  show($("net-banner"), !navigator.onLine || state.networkDown);
  show($("auth-banner"), state.signedOut);
  for (const entry of entries) {
    if (entry.state === "refused" && !state.shownRejections.has(entry.client_id)) showRefused(entry);
  }
}

function summaryLine(summary) {
  const parts = [summary.unit];
  if (summary.student) parts.push(`${summary.student.name} ${summary.student.student_no}`);
  if (summary.ticks.length) parts.push(summary.ticks.join(english ? ", " : "、"));
  return parts.join(" · ");
}

function dismissButton(card, onDismiss, label = t("observe.js.dismiss")) {
  const button = element("button", "btn btn-secondary btn-dismiss", label);
  button.type = "button";
  button.addEventListener("click", async () => {
    await onDismiss();
    card.remove();
  });
  return button;
}

function showDelivered(entry, result) {
  const level = levels[result.level] || { name: result.level, response: "" };
  const card = element("article", `card result result-delivered level-${result.level}`);
  const head = element("p", "result-head");
  head.append(element("span", "level-badge", level.name), element("span", "result-when", t("observe.js.sent")));
  head.append(element("span", "muted", t("observe.js.filed_at", { time: hhmm(entry.body.observed_at) })));
  card.append(head, element("p", "result-summary", summaryLine(entry.summary)));
  card.append(element("h3", "", t("observe.js.reasons")));
  const reasons = element("ul", "reasons");
  for (const reason of result.reasons) reasons.append(element("li", "", english ? reason.en : reason.zh));
  card.append(reasons);
  if (level.response) card.append(element("h3", "", t("observe.js.response")), element("p", "", level.response));
  if (level.call && level.call.length) {
    const calls = element("p", "calls");
    for (const number of level.call) {
      const link = element("a", "call-button", t("observe.js.call", { number }));
      link.href = `tel:${number}`;
      calls.append(link);
    }
    card.append(calls);
  }
  if (result.escalation_id) card.append(element("p", "escalated", t("observe.js.escalated")));
  const mine = element("a", "result-mine-link", t("observe.js.my_reports"));
  mine.href = "/my-reports";
  card.append(mine, dismissButton(card, async () => {}));
  $("results").prepend(card);
  card.scrollIntoView({ block: "nearest" });
}

function showRefused(entry) {
  state.shownRejections.add(entry.client_id);
  const card = element("article", "card result result-refused");
  card.dataset.clientId = entry.client_id;
  card.append(element("p", "result-title", t("observe.js.rejected")));
  card.append(element("p", "result-summary", summaryLine(entry.summary)));
  // The server words the refusal in this page's language and names the field in it.
  card.append(element("p", "field-error", entry.error.message));
  if (entry.body.note) card.append(element("p", "result-note", entry.body.note));
  if (form) {
    const edit = async () => {
      await state.outbox.remove(entry.client_id);
      refill(entry);
    };
    card.append(dismissButton(card, edit, t("observe.js.edit")));
  }
  card.append(dismissButton(card, () => state.outbox.remove(entry.client_id)));
  $("results").prepend(card);
}

// ---- the form --------------------------------------------------------------------------------

function formError(message) {
  $("form-error").textContent = message;
  show($("form-error"), Boolean(message));
}

function ticked() {
  return [...form.querySelectorAll("input[name=checklist]:checked")];
}

function clearStudent() {
  state.student = null;
  show($("student-chosen"), false);
  show($("student-q"), true);
}

function resetForm() {
  const unit = $("unit").value;
  form.reset();
  $("unit").value = unit;
  clearStudent();
  state.photo = null;
  state.position = null;
  show($("photo-status"), false);
  show($("location-status"), false);
  show($("danger-note"), false);
}

/** Put a refused report back into the form, so correcting it loses nothing but the photo. */
function refill(entry) {
  resetForm();
  $("unit").value = String(entry.body.unit_id);
  for (const input of form.querySelectorAll("input[name=checklist]")) input.checked = entry.body.checklist.includes(input.value);
  $("note").value = entry.body.note || "";
  if (entry.summary.student) choose(entry.summary.student);
  show($("danger-note"), ticked().some((input) => input.dataset.danger));
  form.scrollIntoView({ block: "start" });
}

async function onSubmit(event) {
  event.preventDefault();
  await state.photoReady;
  const checklist = ticked();
  const note = $("note").value.trim();
  if (!checklist.length && !note) {
    formError(t("observe.js.nothing"));
    return;
  }
  formError("");
  const body = {
    client_id: newClientId(),
    unit_id: Number($("unit").value),
    checklist: checklist.map((input) => input.value),
    observed_at: new Date().toISOString(),
  };
  if (state.student) body.student_id = state.student.id;
  if (note) body.note = note;
  if (state.position) body.location = state.position;
  if (state.photo) body.photo = state.photo;
  const summary = {
    unit: $("unit").selectedOptions[0].textContent.trim(),
    student: state.student,
    ticks: checklist.map((input) => input.closest("label").querySelector(".check-label").textContent.trim()),
  };
  const entry = { client_id: body.client_id, body, summary, state: "pending", error: null, queued_at: new Date().toISOString() };
  try {
    await state.outbox.put(entry);
  } catch {
    formError(t("observe.js.storage_failed"));
    return;
  }
  resetForm();
  window.scrollTo({ top: 0 });
  await render();
  flush();
}

// ---- student type-ahead ----------------------------------------------------------------------

let searchTimer = 0;
let searchSeq = 0;

function options(list) {
  const box = $("student-options");
  box.replaceChildren();
  if (list === null || !list.length) {
    box.append(element("li", "suggestion-note", t(list === null ? "observe.js.search_offline" : "observe.js.search_none")));
  }
  for (const student of list || []) {
    const item = element("li");
    item.setAttribute("role", "option");
    const button = element("button", "suggestion", `${student.name} · ${student.student_no}`);
    button.type = "button";
    button.addEventListener("click", () => choose(student));
    item.append(button);
    box.append(item);
  }
  show(box, true);
}

function choose(student) {
  state.student = student;
  $("student-chosen-name").textContent = `${student.name} · ${student.student_no}`;
  show($("student-chosen"), true);
  $("student-q").value = "";
  show($("student-q"), false);
  show($("student-options"), false);
}

async function search() {
  const q = $("student-q").value.trim();
  const seq = ++searchSeq;
  if (!q) {
    show($("student-options"), false);
    return;
  }
  const params = new URLSearchParams({ q, unit_id: $("unit").value, limit: "10" });
  let list = null;
  try {
    const response = await fetch(`${STUDENTS_API}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.ok) list = await response.json();
  } catch {
    list = null;
  }
  if (seq === searchSeq) options(list);
}

// ---- photo and location ----------------------------------------------------------------------

function photoStatus(message) {
  $("photo-status").textContent = message;
  show($("photo-status"), Boolean(message));
}

function onPhoto() {
  state.photo = null;
  const file = $("photo").files[0];
  if (!file) return photoStatus("");
  if (file.type && !file.type.startsWith("image/")) {
    $("photo").value = "";
    return photoStatus(t("observe.js.photo_not_image"));
  }
  if (file.size > maxPhotoBytes) {
    $("photo").value = "";
    return photoStatus(t("observe.js.photo_too_big"));
  }
  state.photoReady = new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      state.photo = { filename: (file.name || "photo.jpg").slice(-120), data_base64: url.slice(url.indexOf(",") + 1) };
      photoStatus(t("observe.js.photo_ready", { name: file.name }));
      resolve();
    };
    reader.onerror = () => {
      photoStatus(t("observe.js.photo_not_image"));
      resolve();
    };
    reader.readAsDataURL(file);
  });
}

function locationStatus(message) {
  $("location-status").textContent = message;
  show($("location-status"), Boolean(message));
}

function onLocation() {
  state.position = null;
  if (!$("use-location").checked) return locationStatus("");
  const refuse = () => {
    $("use-location").checked = false;
    locationStatus(t("observe.js.location_denied"));
  };
  if (!navigator.geolocation) return refuse();
  locationStatus(t("observe.js.location_wait"));
  navigator.geolocation.getCurrentPosition(
    (found) => {
      const { latitude, longitude, accuracy } = found.coords;
      state.position = { lat: latitude, lon: longitude, accuracy_m: Math.round(accuracy) };
      locationStatus(t("observe.js.location_ok", { metres: Math.round(accuracy) }));
    },
    refuse,
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
  );
}

// ---- start -----------------------------------------------------------------------------------

function wireForm() {
  form.addEventListener("submit", onSubmit);
  form.addEventListener("change", (event) => {
    if (event.target.name === "checklist") {
      show($("danger-note"), ticked().some((input) => input.dataset.danger));
    }
  });
  $("unit").addEventListener("change", clearStudent);
  $("student-q").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, 250);
  });
  $("student-clear").addEventListener("click", () => {
    clearStudent();
    $("student-q").focus();
  });
  $("photo").addEventListener("change", onPhoto);
  $("use-location").addEventListener("change", onLocation);
}

async function start() {
  state.outbox = await openOutbox(userId);
  if (form) wireForm();
  window.addEventListener("online", () => {
    state.failures = 0;
    flush();
  });
  window.addEventListener("offline", render);
  // Phones freeze timers in background tabs: try again as soon as the page is looked at.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") flush();
  });
  await render();
  root.dataset.ready = "1"; // tests and styles may rely on the outbox being open
  flush();
}

start();
