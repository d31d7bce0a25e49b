// The live inbox: what waits for me, each with a countdown and one button to acknowledge.
// The list comes from the escalations API; the websocket only says "something changed" (and
// carries the messages), so a missed push costs nothing: every snapshot and push re-syncs.

import { api, dataJson, element, hhmm, liveSocket, problemOf, show, translator } from "./page.js";

const MINE = "/api/v1/escalations?mine=true";
const MAX_RECONNECT_MS = 30000;
const RESYNC_MS = 60000;
const RECENT_LIMIT = 10;

const $ = (id) => document.getElementById(id);
const root = $("inbox");
const t = translator(dataJson(root, "messages"));
const levels = dataJson(root, "levels");
const english = document.documentElement.lang === "en";

const cards = new Map(); // escalation id → {esc, node, deadline, status}
const notificationsOf = new Map(); // escalation id → ids of the inbox items about it
const recent = new Map(); // notification id → item
const delivered = new Set(); // ids of the items the server confirmed this screen's receipt for
const live = { signedOut: false, loaded: false, syncing: null, again: false };

// ---- countdowns ------------------------------------------------------------------------------

function two(n) {
  return String(n).padStart(2, "0");
}

function duration(ms) {
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  if (hours >= 24) return t("inbox.js.days", { d: Math.floor(hours / 24), h: hours % 24 });
  const clock = `${two(Math.floor((total % 3600) / 60))}:${two(total % 60)}`;
  return hours ? `${hours}:${clock}` : clock;
}

function tick() {
  const now = performance.now();
  for (const card of cards.values()) {
    if (card.status !== "open") continue;
    const countdown = card.node.querySelector(".countdown");
    const left = card.deadline === null ? null : card.deadline - now;
    countdown.classList.toggle("urgent", left !== null && left > 0 && left < 60000);
    countdown.classList.toggle("overdue", left !== null && left <= 0);
    if (left === null) countdown.textContent = t("inbox.js.no_deadline");
    else if (left <= 0) countdown.textContent = t("inbox.js.overdue");
    else countdown.textContent = t("inbox.js.left", { time: duration(left) });
  }
}

// ---- cards -----------------------------------------------------------------------------------

function levelName(code) {
  return (levels[code] && levels[code].name) || code;
}

function detailsOf(escalationId) {
  return `/escalations/${encodeURIComponent(escalationId)}`;
}

function build(esc) {
  const node = element("li", "esc-card");
  node.dataset.id = String(esc.id);
  const head = element("div", "esc-head");
  head.append(element("span", "level-badge"), element("span", "countdown"));
  const button = element("button", "btn btn-primary btn-big btn-ack", t("inbox.js.ack"));
  button.type = "button";
  button.addEventListener("click", () => acknowledge(esc.id));
  node.append(head, element("h2", "esc-title"), element("p", "esc-summary"), element("p", "esc-meta"), button);
  const status = element("p", "esc-status");
  status.setAttribute("role", "status");
  status.hidden = true;
  // Every card leads to the escalation's page: the place, whom to ring, hand-over and the outcome.
  const details = element("a", "btn btn-secondary btn-big esc-open", t("inbox.js.open"));
  details.href = detailsOf(esc.id);
  node.append(status, details);
  return node;
}

function upsert(esc) {
  let card = cards.get(esc.id);
  if (!card) {
    card = { node: build(esc) };
    cards.set(esc.id, card);
  }
  card.esc = esc;
  card.status = "open";
  // The server's seconds_left against this phone's monotonic clock: a phone whose clock is
  // wrong still counts down correctly.
  if (esc.seconds_left !== null) card.deadline = performance.now() + esc.seconds_left * 1000;
  else card.deadline = esc.step_due_at ? performance.now() + (Date.parse(esc.step_due_at) - Date.now()) : null;
  const node = card.node;
  node.className = `esc-card level-${esc.level}`;
  node.querySelector(".level-badge").textContent = levelName(esc.level);
  node.querySelector(".esc-title").textContent = english ? esc.title_en : esc.title_zh;
  node.querySelector(".esc-summary").textContent = english ? esc.summary_en : esc.summary_zh;
  const late = Math.floor((esc.step_late_seconds || 0) / 60);
  const started = t("inbox.js.started", { time: hhmm(esc.started_at) });
  // Told late (the system was catching up after an outage): say so, the window is shorter than usual.
  node.querySelector(".esc-meta").textContent = late > 0 ? `${started} · ${t("inbox.js.late", { minutes: late })}` : started;
  node.classList.toggle("is-late", late > 0);
  show(node.querySelector(".btn-ack"), true);
  node.querySelector(".btn-ack").disabled = false;
  show(node.querySelector(".esc-status"), false);
}

function settle(card, status, message) {
  card.status = status;
  card.node.classList.add(status === "acknowledged" ? "is-acknowledged" : "is-gone");
  const countdown = card.node.querySelector(".countdown");
  countdown.textContent = "";
  countdown.classList.remove("urgent", "overdue");
  show(card.node.querySelector(".btn-ack"), false);
  const line = card.node.querySelector(".esc-status");
  line.textContent = message;
  show(line, true);
}

function layout() {
  const list = $("inbox-list");
  const open = [...cards.values()].filter((c) => c.status === "open");
  open.sort((a, b) => (a.deadline ?? Infinity) - (b.deadline ?? Infinity));
  const done = [...cards.values()].filter((c) => c.status !== "open");
  for (const card of [...open, ...done]) list.append(card.node);
  show($("inbox-loading"), !live.loaded);
  show($("inbox-empty"), live.loaded && cards.size === 0);
  tick();
}

/** Fetch what waits for me and reconcile the cards. */
async function load() {
  let list;
  try {
    const response = await fetch(MINE, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) return signedOut();
    if (!response.ok) return;
    list = await response.json();
  } catch {
    return;
  }
  const waiting = new Set(list.map((esc) => esc.id));
  for (const esc of list) upsert(esc);
  for (const [id, card] of cards) {
    if (!waiting.has(id) && card.status === "open") settle(card, "gone", t("inbox.js.gone"));
  }
  live.loaded = true;
  layout();
}

/** One load at a time; a call that arrives meanwhile makes one more load afterwards. */
async function resync() {
  if (live.syncing) {
    live.again = true;
    return live.syncing;
  }
  live.syncing = load();
  try {
    await live.syncing;
  } finally {
    live.syncing = null;
  }
  if (live.again) {
    live.again = false;
    await resync();
  }
}

async function acknowledge(id) {
  const card = cards.get(id);
  const button = card.node.querySelector(".btn-ack");
  const line = card.node.querySelector(".esc-status");
  button.disabled = true;
  button.textContent = t("inbox.js.acking");
  let problem = null;
  try {
    const response = await api(`/api/v1/escalations/${id}/ack`, { method: "POST" });
    if (response.ok) {
      const esc = await response.json();
      settle(card, "acknowledged", t("inbox.js.acked", { time: hhmm(esc.acknowledged_at) }));
      for (const itemId of notificationsOf.get(id) || []) receipt("read", itemId);
      layout();
      return;
    }
    if (response.status === 401) signedOut();
    problem = (await problemOf(response)).message;
  } catch {
    problem = t("inbox.js.offline");
  }
  button.disabled = false;
  button.textContent = t("inbox.js.ack");
  line.textContent = t("inbox.js.ack_failed", { message: problem });
  show(line, true);
}

// ---- recent messages -------------------------------------------------------------------------

function remember(item) {
  const escalationId = item.data && item.data.escalation_id;
  if (escalationId) {
    const ids = notificationsOf.get(escalationId) || new Set();
    ids.add(item.id);
    notificationsOf.set(escalationId, ids);
  }
  recent.set(item.id, item);
  showRecent();
}

function showRecent() {
  const newest = [...recent.values()].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id);
  const list = $("recent-list");
  list.replaceChildren();
  for (const shown of newest.slice(0, RECENT_LIMIT)) {
    const row = element("li", `recent-item level-${shown.level || "none"}`);
    row.dataset.id = String(shown.id);
    row.append(element("span", "recent-time", hhmm(shown.created_at)));
    const escalationId = shown.data && shown.data.escalation_id;
    const title = element(escalationId ? "a" : "span", "recent-title", english ? shown.title_en : shown.title_zh);
    if (escalationId) title.href = detailsOf(escalationId);
    row.append(title);
    if (shown.delivered_at || delivered.has(shown.id)) row.dataset.delivered = "1";
    list.append(row);
  }
  show($("recent-empty"), recent.size === 0);
}

// ---- the live connection ---------------------------------------------------------------------

function receipt(type, id) {
  link.send(JSON.stringify({ type, id }));
}

function banner(message) {
  $("conn-banner").textContent = message;
  show($("conn-banner"), Boolean(message));
}

function signedOut() {
  if (live.signedOut) return;
  live.signedOut = true;
  link.stop();
  show($("auth-banner"), true);
  banner("");
}

function onMessage(event) {
  const message = JSON.parse(event.data);
  if (message.type === "receipt") {
    // The server stored a receipt this screen sent: the item counts as delivered from now on.
    delivered.add(message.id);
    showRecent();
    return;
  }
  if (message.type === "snapshot") {
    // The first message: the server subscribed this socket before taking it, so from now on
    // every new item is pushed here; the fetch below picks up whatever came while it was down.
    link.good();
    root.dataset.live = "1";
    banner("");
    for (const item of message.items) {
      remember(item);
      if (!item.delivered_at) receipt("received", item.id);
    }
  } else if (message.type === "notification") {
    remember(message.notification);
    receipt("received", message.notification.id);
  }
  resync();
}

const link = liveSocket("/ws/inbox", {
  onMessage,
  onClose() {
    delete root.dataset.live;
  },
  // A refused handshake looks like any dropped connection; the API answer tells them apart.
  async stillSignedIn() {
    await resync();
    return !live.signedOut;
  },
  onRetry(wait) {
    banner(navigator.onLine ? t("inbox.js.reconnecting", { seconds: Math.ceil(wait / 1000) }) : t("inbox.js.offline"));
  },
  onStop: signedOut,
  maxDelayMs: MAX_RECONNECT_MS,
});

function start() {
  window.addEventListener("online", () => {
    // After a network change an open socket may be dead without knowing it: start afresh,
    // and the new connection's snapshot re-syncs whatever was missed.
    link.restart();
  });
  window.addEventListener("offline", () => banner(t("inbox.js.offline")));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") resync();
  });
  setInterval(tick, 1000);
  setInterval(resync, RESYNC_MS);
  resync().then(link.start);
}

start();
