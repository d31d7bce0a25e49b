// One incident's command page. It renders what GET /api/v1/incidents/{id} says (state, the triggers
// the SOP allows now, tasks with deadlines, roles, people, timeline) and acts through the same API.
// The board socket tells it when this incident changed; it then fetches the incident again, so the
// page never trusts a partial update. Buttons appear only when the API says the caller may command.

import { api as fetchApi, dataJson, element, hhmm, liveSocket, problemOf, show, translator } from "./page.js";

const root = document.getElementById("incident");
const t = translator(dataJson(root, "messages"));
const levels = dataJson(root, "levels");
const english = document.documentElement.lang === "en";
const api = root.dataset.api;
const incidentId = Number(root.dataset.id);
const $ = (id) => document.getElementById(id);

const state = { incident: null, trigger: null, offsetMs: 0, signedOut: false };
const MAX_RECONNECT_MS = 15000;

const label = (pair) => (pair ? (english ? pair.en : pair.zh) : "");
const taskLabel = (task) => (english ? task.label_en : task.label_zh);
const nameOf = (userId) => (userId == null ? "—" : state.incident.users[userId] || `#${userId}`);

function span(ms) {
  const total = Math.max(0, Math.floor(Math.abs(ms) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

async function call(path, body) {
  const response = await fetchApi(path, { method: body === undefined ? "GET" : "POST", body });
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

async function load() {
  try {
    state.incident = await call(`${api}?lang=${encodeURIComponent(document.documentElement.lang)}`); // the timeline's words
    show($("inc-banner"), false);
    render();
  } catch (problem) {
    if (problem.status === 401) {
      signedOut();
      return;
    }
    $("inc-banner").textContent = t("incident.js.load_failed", { message: problem.message || String(problem) });
    show($("inc-banner"), true);
  }
}

// ---- rendering ---------------------------------------------------------------------------------

function render() {
  const inc = state.incident;
  $("inc-title").textContent = `#${inc.id} ${inc.title}`;
  $("inc-meta").textContent = [inc.location || t("incident.js.no_location"), t("incident.js.started", { time: hhmm(inc.started_at) })].join(" · ");
  $("inc-summary").textContent = inc.summary;
  show($("inc-summary"), Boolean(inc.summary));
  const badge = $("inc-level");
  badge.className = `level-badge level-${["red", "orange", "yellow", "blue"][inc.level - 1]}`;
  badge.textContent = levels[["I", "II", "III", "IV"][inc.level - 1]] || inc.level_numeral;
  $("inc-state").textContent = t(`incident.js.state.${inc.state}`);
  show($("inc-drill"), inc.drill);
  renderProgress(inc);
  renderActions(inc);
  renderTasks(inc);
  renderRoles(inc);
  renderTimeline(inc);
  show($("inc-note-form"), inc.may_command);
}

function renderProgress(inc) {
  const list = $("inc-progress");
  list.replaceChildren();
  const order = ["on_site_control", "verification", "leaders_informed", "plan_activated", "responding", "public_information"];
  const here = order.indexOf(inc.state);
  const after = ["recovery", "review", "closed"].includes(inc.state);
  order.forEach((code, index) => {
    const item = element("li", index < here || after ? "done" : index === here ? "current" : "", t(`incident.js.state.${code}`));
    list.append(item);
  });
}

function renderActions(inc) {
  show($("inc-actions"), inc.may_command && inc.legal_triggers.length > 0);
  const box = $("inc-triggers");
  box.replaceChildren();
  if (!inc.may_command) return; // a reader gets no buttons at all
  for (const trigger of inc.legal_triggers) {
    const button = element("button", trigger.needs_reason ? "btn btn-secondary" : "btn btn-primary", label(trigger.label));
    button.type = "button";
    button.dataset.trigger = trigger.trigger;
    button.addEventListener("click", () => chooseTrigger(trigger));
    box.append(button);
  }
}

// A trigger that cannot be taken back (closing, a false alarm, a merge, control on site) always asks first.
function chooseTrigger(trigger) {
  const needsForm = trigger.confirm || trigger.needs_reason || trigger.trigger === "merge" || trigger.trigger === "change_level";
  if (!needsForm) {
    fire(trigger.trigger, {});
    return;
  }
  state.trigger = trigger;
  $("inc-trigger-name").textContent = label(trigger.label);
  show($("inc-level-field"), trigger.trigger === "change_level");
  show($("inc-into-field"), trigger.trigger === "merge");
  show($("inc-confirm-note"), trigger.confirm);
  show($("inc-reason-field"), trigger.needs_reason || trigger.trigger === "change_level" || trigger.trigger === "merge");
  const select = $("inc-level-select");
  select.replaceChildren(
    ...Object.entries(levels)
      .filter(([code]) => ["I", "II", "III", "IV"].indexOf(code) + 1 !== state.incident.level)
      .map(([code, text]) => {
        const option = element("option", "", text);
        option.value = code;
        return option;
      }),
  );
  show($("inc-trigger-error"), false);
  show($("inc-trigger-form"), true);
  (trigger.needs_reason ? $("inc-reason") : $("inc-trigger-form").querySelector("button[type=submit]")).focus();
}

async function fire(trigger, body) {
  try {
    await call(`${api}/transitions/${trigger}`, body);
    show($("inc-trigger-form"), false);
    $("inc-reason").value = "";
    await load(); // the whole picture, timeline included
  } catch (problem) {
    const error = $("inc-trigger-error");
    error.textContent = problem.message;
    show(error, true);
    show($("inc-trigger-form"), true);
    if (problem.status === 409) load(); // someone else moved it first: show where it is now
  }
}

function renderTasks(inc) {
  const list = $("inc-tasks");
  // A redraw (another person's change arrived) keeps whatever evidence was being typed.
  const typed = new Map([...list.querySelectorAll("input[name=evidence]")].map((input) => [input.dataset.task, input.value]));
  list.replaceChildren();
  const now = Date.now() + state.offsetMs;
  const ordered = [...inc.tasks].sort((a, b) => (a.status === "open") === (b.status === "open") ? a.due_at.localeCompare(b.due_at) : a.status === "open" ? -1 : 1);
  for (const task of ordered) {
    const due = new Date(task.due_at).getTime();
    const late = task.status === "open" && due <= now;
    const item = element("li", `inc-task status-${task.status}${late ? " late" : ""}`);
    item.dataset.task = task.code;
    const head = element("div", "inc-task-head");
    head.append(element("strong", "", taskLabel(task)));
    head.append(element("span", "muted", ` ${t(`incident.js.state.${task.state}`)} · ${t(`incident.role.${task.owner_role}`)}`));
    item.append(head);
    const when = task.status === "open"
      ? element("span", late ? "countdown overdue" : "countdown", late ? t("incident.js.overdue", { time: span(now - due) }) : t("incident.js.due_in", { time: span(due - now) }))
      : element("span", "muted", task.status === "done"
        ? t("incident.js.done_by", { name: nameOf(task.done_by), time: hhmm(task.done_at) }) + (task.late ? ` · ${t("incident.js.late")}` : "")
        : t("incident.js.cancelled"));
    when.dataset.due = task.due_at;
    item.append(when);
    if (task.checklist.length) {
      const checks = element("ul", "inc-checklist");
      for (const check of task.checklist) checks.append(element("li", "", label(check)));
      item.append(checks);
    }
    if (task.evidence) item.append(element("p", "muted", task.evidence));
    if (task.status === "open" && inc.may_command) item.append(completeForm(task, typed.get(String(task.id)) || ""));
    list.append(item);
  }
}

function completeForm(task, typed) {
  const form = element("form", "inc-complete");
  const input = element("input");
  input.name = "evidence";
  input.dataset.task = String(task.id);
  input.value = typed;
  input.maxLength = 8000;
  input.placeholder = task.needs_evidence ? t("incident.js.evidence_required") : t("incident.js.evidence");
  input.required = task.needs_evidence; // the playbook marks it: the form is not sent without it
  input.setAttribute("aria-label", t("incident.js.evidence"));
  const button = element("button", "btn btn-primary", t("incident.js.complete"));
  button.type = "submit";
  const error = element("p", "field-error");
  error.hidden = true;
  form.append(input, button, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await call(`${api}/tasks/${task.id}/complete`, { evidence: input.value.trim() || null });
      await load();
    } catch (problem) {
      error.textContent = problem.message;
      error.hidden = false;
      button.disabled = false;
    }
  });
  return form;
}

function renderRoles(inc) {
  const list = $("inc-roles");
  list.replaceChildren();
  for (const role of dataJson(root, "roles")) {
    if (!(role in inc.roles) && role !== "commander") continue;
    list.append(element("dt", "", t(`incident.role.${role}`)), element("dd", "", inc.roles[role] ? nameOf(inc.roles[role]) : t("incident.js.unfilled")));
  }
  const people = $("inc-people");
  const risk = (p) => (p.risk_level ? ` · ${t(`incident.js.risk.${p.risk_level}`)}` : "");
  people.replaceChildren(...inc.people.map((p) => element("li", "", `${p.name} · ${t(`incident.involvement.${p.involvement}`)}${risk(p)}${p.note ? ` · ${p.note}` : ""}`)));
}

// The timeline comes worded by the server's one renderer (incidents/timeline.py), in the page's language:
// each line's time (with its date when it is not today), what happened, and who did it.
function renderTimeline(inc) {
  const list = $("inc-timeline");
  list.replaceChildren(
    ...[...inc.timeline].reverse().map((event) => {
      const item = element("li", `tl-${event.kind}`);
      const when = element("time", "muted", `${event.seq}. ${event.at_text} `);
      when.dateTime = event.at;
      item.append(when, element("span", "", event.text));
      if (event.actor_id != null) item.append(element("span", "muted", ` · ${nameOf(event.actor_id)}`));
      return item;
    }),
  );
}

// ---- forms and live updates ----------------------------------------------------------------------

$("inc-trigger-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const trigger = state.trigger;
  const body = { reason: $("inc-reason").value.trim() || null };
  if (trigger.trigger === "change_level") body.level = $("inc-level-select").value;
  if (trigger.trigger === "merge") body.into_incident_id = Number($("inc-into").value) || null;
  if (trigger.confirm) body.confirm = true;
  fire(trigger.trigger, body);
});
$("inc-trigger-cancel").addEventListener("click", () => show($("inc-trigger-form"), false));
$("inc-note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await call(`${api}/notes`, { text: $("inc-note").value });
    $("inc-note").value = "";
    show($("inc-note-error"), false);
    await load();
  } catch (problem) {
    $("inc-note-error").textContent = problem.message;
    show($("inc-note-error"), true);
  }
});

function signedOut() {
  if (state.signedOut) return;
  state.signedOut = true;
  link.stop();
  show($("inc-banner"), false);
  show($("auth-banner"), true);
}

const link = liveSocket(root.dataset.socket, {
  onMessage(message) {
    const data = JSON.parse(message.data);
    if (data.type === "snapshot") {
      state.offsetMs = new Date(data.now).getTime() - Date.now();
      link.good();
      load(); // whatever happened while the socket was away
    } else if (data.type === "resync" || (data.type === "incident" && data.incident_id === incidentId)) {
      load();
    }
  },
  // A refused handshake (signed out) looks like any dropped connection; the API's 401 tells them apart.
  async stillSignedIn() {
    await load();
    return !state.signedOut;
  },
  onStop: signedOut,
  maxDelayMs: MAX_RECONNECT_MS,
});

// Countdowns tick in place, so a half-typed piece of evidence is never thrown away by a redraw.
function tick() {
  const now = Date.now() + state.offsetMs;
  for (const node of document.querySelectorAll("#inc-tasks .countdown")) {
    const due = new Date(node.dataset.due).getTime();
    const late = due <= now;
    node.classList.toggle("overdue", late);
    node.closest(".inc-task").classList.toggle("late", late);
    node.textContent = late ? t("incident.js.overdue", { time: span(now - due) }) : t("incident.js.due_in", { time: span(due - now) });
  }
}

setInterval(tick, 1000);
link.start();
