// The live incident board: open incidents with level, SOP progress and next deadline, and who is on duty.
// Read-only on purpose (no action buttons in this version): incidents are moved through the
// incident API and, later, its detail page. The board is the state of GET /api/v1/board kept
// current by the board socket. Each push carries the incident's timeline sequence number: a number past
// the next one expected means pushes were lost, and so does a "resync" from the server; either way
// the whole board is fetched again, as it is whenever the socket drops and after every (re)connect.
// Countdowns run on server time: `now` of each snapshot sets the offset, so a wall screen with a
// wrong clock is still right. Each countdown names the task it counts down (the soonest open one).
// A level Ⅰ or Ⅱ incident that appears while the board is up flashes for a few seconds; with
// `?sound=1` in the address the screen also beeps (off by default: a wall screen shares a room).

import { dataJson, element, hhmm, liveSocket, show, translator } from "./page.js";

const MAX_RECONNECT_MS = 30000;
// A slow safety net for what no push reports (a shift ending, a message lost for an incident
// that has had no push since).
const RESYNC_MS = 60000;
const URGENT_MS = 2 * 60 * 1000;
const FLASH_MS = 8000;
const FLASH_LEVELS = 2; // Ⅰ and Ⅱ
const sound = new URLSearchParams(window.location.search).get("sound") === "1";

const $ = (id) => document.getElementById(id);
const root = $("board");
const t = translator(dataJson(root, "messages"));
const BOARD = root.dataset.snapshot;
const english = document.documentElement.lang === "en";

const cards = new Map(); // incident id → {incident, node, epoch}
const closedAt = new Map(); // incident id → the sequence number at which it left the board
let onDuty = [];
// Server time at a moment of this page's monotonic clock; until the first snapshot, the local clock.
const serverClock = { ms: Date.now(), at: performance.now() };
const live = {
  open: false, // the server has subscribed this socket: every change from now on is pushed to it
  connections: 0, // how many times the socket came up
  retryIn: 0,
  signedOut: false,
  loaded: false,
  epoch: 0, // counts pushes applied; a fetch keeps cards pushed after it started
  syncing: null,
  again: false,
  syncs: 0,
};

// ---- time ------------------------------------------------------------------------------------

function serverNow() {
  return serverClock.ms + (performance.now() - serverClock.at);
}

function setServerNow(iso) {
  const ms = Date.parse(iso);
  if (Number.isFinite(ms)) Object.assign(serverClock, { ms, at: performance.now() });
}

function two(n) {
  return String(n).padStart(2, "0");
}

/** Whole seconds as mm:ss, or h:mm:ss from an hour on. */
function clockText(seconds) {
  const hours = Math.floor(seconds / 3600);
  const rest = `${two(Math.floor((seconds % 3600) / 60))}:${two(seconds % 60)}`;
  return hours ? `${hours}:${rest}` : rest;
}

function label(pair) {
  return pair ? (english ? pair.en : pair.zh) : "";
}

// ---- cards -----------------------------------------------------------------------------------

function build(id) {
  const node = element("li", "incident-card");
  node.dataset.id = String(id);
  const band = element("div", "incident-band");
  band.append(element("span", "incident-numeral"), element("span", "incident-level"));
  const head = element("div", "incident-head");
  head.append(element("span", "incident-type"), element("span", "drill-badge", t("board.js.drill")));
  const countdown = element("span", "countdown");
  countdown.append(element("span", "countdown-task"), element("span", "countdown-time"));
  head.append(countdown);
  const meta = element("p", "incident-meta");
  for (const part of ["incident-location", "incident-started", "incident-elapsed"]) meta.append(element("span", part));
  const state = element("p", "incident-state");
  state.append(element("span", "state-label"), element("span", "state-step"));
  const late = element("ul", "late-tasks");
  const warningLate = element("p", "warning-late");
  const notes = element("p", "incident-notifications");
  const latest = element("p", "incident-latest"); // the newest timeline line, worded by the server
  const body = element("div", "incident-body");
  const title = element("h2");
  const link = element("a", "incident-title"); // to the incident's command page, where it is run
  link.href = `/incidents/${id}`;
  title.append(link);
  body.append(head, title, meta, state, warningLate, element("ol", "progress"), late, latest, notes);
  node.append(band, body);
  return node;
}

function stepText(incident) {
  if (incident.step) return t("board.js.step", { step: incident.step, steps: incident.steps });
  // States outside the numbered sequence: before it (接报) or after it (善后, 复盘).
  return incident.phase === "recovery" ? t("board.js.steps_done") : t("board.js.not_started");
}

function fillProgress(list, incident) {
  const reached = incident.step ?? (incident.phase === "recovery" ? incident.steps + 1 : 0);
  list.replaceChildren();
  list.setAttribute("aria-label", stepText(incident));
  for (const step of incident.progress) {
    const cls = step.step < reached ? "done" : step.step === reached ? "current" : "todo";
    const segment = element("li", `segment ${cls}`);
    segment.title = `${step.step}. ${label(step.label)}`;
    segment.append(element("span", "segment-label", label(step.label)));
    list.append(segment);
  }
}

function fillLate(list, incident) {
  list.replaceChildren();
  for (const task of incident.late_tasks) {
    const item = element("li", "late-task");
    item.append(element("span", "late-label", english ? task.label_en : task.label_zh));
    item.append(element("span", "late-due", t("board.js.late_due", { time: hhmm(task.due_at) })));
    list.append(item);
  }
  show(list, incident.late_tasks.length > 0);
}

function fillNotifications(line, counts) {
  line.replaceChildren(element("span", "notifications-label", t("board.js.notifications")));
  for (const key of ["sent", "delivered", "read", "failed"]) {
    const cell = element("span", `count count-${key}`);
    cell.append(element("span", "count-name", t(`board.js.count.${key}`)));
    cell.append(element("b", "count-value", String(counts[key])));
    if (key === "failed" && counts.failed > 0) cell.classList.add("alarm");
    line.append(cell);
  }
}

function fill(card) {
  const { node, incident } = card;
  node.className = `incident-card colour-${incident.colour}`;
  node.classList.toggle("is-new", Boolean(card.fresh));
  node.classList.toggle("is-drill", incident.drill);
  node.classList.toggle("has-late", incident.late_tasks.length > 0);
  const q = (selector) => node.querySelector(selector);
  q(".incident-numeral").textContent = incident.level_numeral;
  q(".incident-level").textContent = label(incident.level_label);
  q(".incident-type").textContent = label(incident.type_label);
  show(q(".drill-badge"), incident.drill);
  q(".incident-title").textContent = incident.title;
  q(".incident-location").textContent = incident.location || t("board.js.no_location");
  q(".incident-started").textContent = t("board.js.started", { time: hhmm(incident.started_at) });
  q(".state-label").textContent = label(incident.state_label);
  q(".state-step").textContent = stepText(incident);
  fillProgress(q(".progress"), incident);
  fillLate(q(".late-tasks"), incident);
  const warningLate = Math.floor((incident.warning_late_seconds || 0) / 60);
  q(".warning-late").textContent = warningLate > 0 ? t("board.js.warning_late", { minutes: warningLate }) : "";
  show(q(".warning-late"), warningLate > 0);
  fillNotifications(q(".incident-notifications"), incident.notifications);
  const line = incident.latest;
  const lang = english ? "en" : "zh-CN";
  q(".incident-latest").textContent = line ? t("board.js.latest", { time: line.at_text[lang], text: line.text[lang] }) : "";
  show(q(".incident-latest"), Boolean(line));
  const task = incident.next_task;
  q(".countdown-task").textContent = task ? (english ? task.label_en : task.label_zh) : "";
  show(q(".countdown-task"), Boolean(task));
  card.due = incident.next_due_at ? Date.parse(incident.next_due_at) : null;
  card.started = Date.parse(incident.started_at);
  tickCard(card, serverNow());
}

const SLOT = "\u2063"; // stands for the time in a message, to split the message around it

/** The message `key` with `figures` as its time, the figures in a span that never breaks across lines. */
function setTime(node, key, figures) {
  const [before, after = ""] = t(key, { time: SLOT }).split(SLOT);
  node.replaceChildren(before, element("span", "countdown-figures", figures), after);
}

// Counted in whole server seconds, so that every clock on the board moves by one on each tick.
function tickCard(card, now) {
  const second = Math.floor(now / 1000);
  const countdown = card.node.querySelector(".countdown");
  const time = countdown.querySelector(".countdown-time");
  const left = card.due === null ? null : Math.ceil(card.due / 1000) - second;
  countdown.classList.toggle("urgent", left !== null && left > 0 && left * 1000 < URGENT_MS);
  countdown.classList.toggle("overdue", left !== null && left <= 0);
  countdown.classList.toggle("none", left === null);
  if (left === null) time.textContent = t("board.js.no_deadline");
  else if (left > 0) setTime(time, "board.js.due_in", clockText(left));
  else setTime(time, "board.js.overdue", clockText(-left));
  const elapsed = Math.max(0, second - Math.floor(card.started / 1000));
  card.node.querySelector(".incident-elapsed").textContent = t("board.js.elapsed", { time: clockText(elapsed) });
}

/** Show `incident` unless what is shown is newer; one that is no longer open leaves the board. */
function upsert(incident) {
  const gone = closedAt.get(incident.id);
  if (gone !== undefined && incident.seq <= gone) return null;
  let card = cards.get(incident.id);
  if (card && incident.seq < card.incident.seq) return card;
  if (!incident.is_open) {
    if (card) card.node.remove();
    cards.delete(incident.id);
    closedAt.set(incident.id, incident.seq);
    return null;
  }
  closedAt.delete(incident.id);
  if (!card) {
    card = { node: build(incident.id), epoch: 0 };
    cards.set(incident.id, card);
    // New to a board that was already showing: a serious one draws the eye (not on the first load).
    if (live.loaded && incident.level <= FLASH_LEVELS) drawTheEye(card);
  }
  card.incident = incident;
  fill(card);
  return card;
}

function drawTheEye(card) {
  card.fresh = true;
  setTimeout(() => {
    card.fresh = false;
    card.node.classList.remove("is-new");
  }, FLASH_MS);
  if (sound) beep();
}

/** Two short tones, made here: no sound file to fetch. A browser that has not been allowed to play sound stays silent. */
function beep() {
  try {
    const audio = new AudioContext();
    [880, 660].forEach((hz, index) => {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = hz;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(audio.destination);
      tone.start(audio.currentTime + index * 0.25);
      tone.stop(audio.currentTime + index * 0.25 + 0.2);
    });
    setTimeout(() => audio.close(), 1000);
  } catch {
    // No audio device, or sound not allowed: the flash is enough.
  }
}

// The server's order: level first (Ⅰ on top), then the newest start first within a level.
function byLevelThenStart(a, b) {
  return a.incident.level - b.incident.level || b.started - a.started || b.incident.id - a.incident.id;
}

function layout() {
  const list = $("incident-list");
  const ordered = [...cards.values()].sort(byLevelThenStart);
  ordered.forEach((card, index) => {
    if (list.children[index] !== card.node) list.insertBefore(card.node, list.children[index] || null);
  });
  show($("board-loading"), !live.loaded);
  show($("board-empty"), live.loaded && cards.size === 0);
  $("board-count").textContent = live.loaded ? t("board.js.count_open", { count: cards.size }) : "";
}

// ---- on duty ---------------------------------------------------------------------------------

function renderDuty(now) {
  const current = onDuty.filter((shift) => Date.parse(shift.ends_at) > now);
  const list = $("duty-list");
  list.replaceChildren();
  for (const shift of current) {
    const item = element("li", `duty-item duty-${shift.position}`);
    item.append(element("span", "duty-name", shift.name));
    item.append(element("span", "duty-position", t(`board.js.position.${shift.position}`)));
    item.append(element("span", "duty-until", t("board.js.until", { time: hhmm(shift.ends_at) })));
    list.append(item);
  }
  show($("duty-empty"), current.length === 0);
  return current.length;
}

// ---- the clock -------------------------------------------------------------------------------

let dutyShown = 0;

function tick() {
  const now = serverNow();
  $("board-clock").textContent = new Date(now).toLocaleTimeString(english ? "en-GB" : "zh-CN", { hour12: false });
  for (const card of cards.values()) tickCard(card, now);
  const stillOn = onDuty.filter((shift) => Date.parse(shift.ends_at) > now).length;
  if (stillOn !== dutyShown) dutyShown = renderDuty(now);
  // Wake just after the next server second, so every countdown changes together, on the second.
  setTimeout(tick, 1000 - (serverNow() % 1000) + 15);
}

// ---- re-sync ---------------------------------------------------------------------------------

/** A whole board (a fetch, or the socket's first message): the truth as of its `now`. */
function applyBoard(board, startEpoch) {
  setServerNow(board.now);
  const listed = new Set();
  for (const incident of board.incidents) {
    listed.add(incident.id);
    upsert(incident);
  }
  for (const [id, card] of cards) {
    // Not on the board any more, unless a push about it came after this board was asked for.
    if (!listed.has(id) && card.epoch <= startEpoch) {
      card.node.remove();
      cards.delete(id);
      closedAt.set(id, card.incident.seq);
    }
  }
  onDuty = board.on_duty;
  dutyShown = renderDuty(serverNow());
  live.loaded = true;
  live.syncs += 1;
  root.dataset.syncs = String(live.syncs);
  layout();
}

async function load() {
  const startEpoch = live.epoch;
  const startSyncs = live.syncs;
  let board;
  try {
    const response = await fetch(BOARD, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) return signedOut();
    if (!response.ok) return;
    board = await response.json();
  } catch {
    return;
  }
  // The socket's snapshot came in meanwhile: this board may be older than it, and the fetch
  // that snapshot asked for follows this one (see subscribed), so it is the one to show.
  if (live.syncs !== startSyncs) return;
  applyBoard(board, startEpoch);
}

/** Fetch the board; one fetch at a time, and a call that arrives meanwhile makes one more after. */
async function resync() {
  if (live.signedOut) return;
  if (live.syncing) {
    live.again = true;
    return live.syncing;
  }
  live.syncing = load();
  indicate();
  try {
    await live.syncing;
  } finally {
    live.syncing = null;
    indicate();
  }
  if (live.again) {
    live.again = false;
    await resync();
  }
}

// ---- the live connection ---------------------------------------------------------------------

function indicate() {
  let state = "connecting";
  let text = t("board.js.conn.connecting");
  if (live.signedOut) [state, text] = ["signed-out", t("board.js.conn.signed_out")];
  else if (live.syncing) [state, text] = ["resyncing", t("board.js.conn.resyncing")];
  else if (live.open) [state, text] = ["live", t("board.js.conn.live")];
  else if (!navigator.onLine) [state, text] = ["offline", t("board.js.conn.offline")];
  else if (live.retryIn) [state, text] = ["reconnecting", t("board.js.conn.reconnecting", { seconds: live.retryIn })];
  const conn = $("conn");
  conn.dataset.state = state;
  conn.textContent = text;
}

function signedOut() {
  if (live.signedOut) return;
  live.signedOut = true;
  link.stop();
  show($("auth-banner"), true);
  indicate();
}

function onIncident(message) {
  const card = cards.get(message.incident_id);
  const seen = card ? card.incident.seq : closedAt.get(message.incident_id);
  live.epoch += 1;
  const shown = upsert(message.incident);
  if (shown) shown.epoch = live.epoch;
  layout();
  // One push covers the events one transaction committed, first_seq to seq. A first number past
  // the next one means pushes were lost. A lower one is old news (already superseded by a fetch),
  // and an incident never seen before has nothing to compare with.
  const first = message.first_seq ?? message.seq;
  if (seen !== undefined && first > seen + 1) resync();
}

/** The socket's first message: the server subscribed it, then took this snapshot. */
function subscribed(board) {
  live.open = true;
  link.good();
  live.connections += 1;
  root.dataset.live = "1";
  root.dataset.connections = String(live.connections);
  applyBoard(board, live.epoch);
  // And fetch again, after every (re)connect: whatever committed while the socket was down or
  // coming up is on that board, whether or not a push or a "resync" told this screen about it.
  // Pushes that arrive meanwhile merge by sequence number, as always.
  resync();
}

function onMessage(event) {
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  if (message.type === "snapshot") subscribed(message);
  else if (message.type === "incident") onIncident(message);
  else if (message.type === "resync") resync();
}

// Not live at "open": the server accepts the socket before it subscribes it. Live starts with
// the first message (subscribed).
const link = liveSocket(root.dataset.socket, {
  onMessage,
  onOpening() {
    live.retryIn = 0;
    indicate();
  },
  onClose() {
    live.open = false;
    delete root.dataset.live;
  },
  // Fetch now: the board stays current while the socket is down, and a refused handshake (signed
  // out) looks like any dropped connection until the API answers 401. The next connection fetches
  // again once it is subscribed, so nothing falls in between.
  async stillSignedIn() {
    await resync();
    return !live.signedOut;
  },
  onRetry(wait) {
    live.retryIn = Math.ceil(wait / 1000);
    indicate();
  },
  onStop: signedOut,
  maxDelayMs: MAX_RECONNECT_MS,
});

function start() {
  window.addEventListener("online", () => {
    // After a network change an open socket may be dead without knowing it: start afresh.
    link.restart();
  });
  window.addEventListener("offline", indicate);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") resync();
  });
  setInterval(resync, RESYNC_MS);
  tick();
  resync().then(link.start);
}

start();
