// Small helpers shared by the page scripts: data handed over by the server, messages, DOM building.

/** The page frame's back link (see web/frame.py) leads to the page above this one. When the browser came
 *  straight from that very page, going back in history instead brings it back as it was left (scrolled,
 *  filtered); arriving from anywhere else (an SMS link, a bookmark, another page) it stays a plain link. */
function frameBack() {
  const link = document.querySelector("a.frame-back");
  if (!link || !document.referrer || window.history.length < 2) return;
  let from;
  try {
    from = new URL(document.referrer);
  } catch {
    return;
  }
  const to = new URL(link.href, window.location.href);
  if (from.origin !== window.location.origin || from.pathname !== to.pathname) return;
  link.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    window.history.back();
  });
}

frameBack();

/** Parse the JSON a template put in a data-* attribute (pages run no inline script under our CSP). */
export function dataJson(element, name) {
  const raw = element.dataset[name];
  return raw ? JSON.parse(raw) : {};
}

/** A translator over the catalog entries the server rendered into the page: t(key, {name: value}). */
export function translator(messages) {
  return (key, params = {}) => {
    const text = messages[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
}

/** Create an element with a class and text; text goes through textContent, so it is never parsed as HTML. */
export function element(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** Show or hide an element through the hidden attribute (style attributes are refused by the CSP). */
export function show(node, visible) {
  node.hidden = !visible;
}

/** The local wall-clock time of an ISO timestamp or Date, as HH:MM. */
export function hhmm(when) {
  const date = when instanceof Date ? when : new Date(when);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

/** The field and message of one of our 4xx bodies ({error, message, field}), whatever its shape. */
export async function problemOf(response) {
  try {
    const body = await response.json();
    return { field: body.field || "body", message: body.message || response.statusText, status: response.status };
  } catch {
    return { field: "body", message: response.statusText || String(response.status), status: response.status };
  }
}

/** The session's CSRF token, from the page's meta tag (empty when signed out). */
function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

/** fetch() of our API as this page's signed-in user: the session cookie, JSON both ways, and on every
 *  change (POST, PUT, PATCH, DELETE) the session's CSRF token, without which the server refuses it. */
export function api(url, { method = "GET", body, headers = {} } = {}) {
  const changes = !["GET", "HEAD"].includes(method.toUpperCase());
  return fetch(url, {
    method,
    credentials: "same-origin",
    headers: {
      Accept: "application/json",
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...(changes ? { "X-CSRF-Token": csrfToken() } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Close codes the server ends a socket with when retrying cannot help: no (or no longer a) session
 *  (4401), or the socket was opened from another site's page (4403). See core.http.socket_principal. */
const FINAL_CLOSE_CODES = new Set([4401, 4403]);
const FIRST_RETRY_MS = 1000;

/** A websocket to `path` on this host that comes back by itself when it drops: after 1 s, then twice
 *  as long each time up to `maxDelayMs` (plus up to half a second of jitter, so a room of screens does
 *  not come back at once), starting from 1 s again once the page calls good() on a sound connection.
 *
 *  It stops for good when the session is gone. The server closes such a socket with 4401, but it does
 *  so before accepting it, and a browser sees a refused handshake only as 1006, like any dropped
 *  connection. So after every close `stillSignedIn()` is asked (the page fetches its API anyway after a
 *  drop, and an answer of 401 tells the two apart); when it says no, or the close code was final, the
 *  socket is not opened again and `onStop()` runs: the page shows its sign-in prompt there.
 *
 *  Hooks: onMessage(event); onOpening() as each socket is created; onClose(event) as soon as one
 *  closes; onRetry(waitMs) when the next attempt is scheduled. */
export function liveSocket(
  path,
  { onMessage, onOpening = () => {}, onClose = () => {}, onRetry = () => {}, onStop = () => {}, stillSignedIn = async () => true, maxDelayMs = 30000 },
) {
  const live = { socket: null, delay: FIRST_RETRY_MS, timer: 0, stopped: false };

  function connect() {
    clearTimeout(live.timer);
    if (live.stopped || live.socket) return;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}${path}`);
    live.socket = socket;
    onOpening();
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", async (event) => {
      live.socket = null;
      onClose(event);
      if (live.stopped) return;
      const gone = FINAL_CLOSE_CODES.has(event.code) || !(await stillSignedIn());
      if (live.stopped) return;
      if (gone) {
        stop();
        return;
      }
      const wait = live.delay + Math.floor(Math.random() * 500);
      live.delay = Math.min(live.delay * 2, maxDelayMs);
      onRetry(wait);
      live.timer = setTimeout(connect, wait);
    });
  }

  function stop() {
    if (live.stopped) return;
    live.stopped = true;
    clearTimeout(live.timer);
    if (live.socket) live.socket.close();
    onStop();
  }

  return {
    /** Open the socket (no-op while one is open, or once stopped). */
    start: connect,
    /** The connection proved good (the server's first message): the next drop retries after 1 s again. */
    good() {
      live.delay = FIRST_RETRY_MS;
    },
    /** Start afresh, say after a network change, when an open socket may be dead without knowing it. */
    restart() {
      live.delay = FIRST_RETRY_MS;
      if (live.socket) live.socket.close();
      else connect();
    },
    /** Close the socket and never open it again (signed out); runs onStop once. */
    stop,
    /** Send text when the socket is open; false otherwise. */
    send(text) {
      if (!live.socket || live.socket.readyState !== WebSocket.OPEN) return false;
      live.socket.send(text);
      return true;
    },
    get stopped() {
      return live.stopped;
    },
  };
}
