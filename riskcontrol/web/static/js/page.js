// Small helpers shared by the page scripts: data handed over by the server, messages, DOM building.

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
