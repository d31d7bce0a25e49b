// One escalation's detail page: each action goes through the escalations API and the page reloads to show
// where it stands now; a number to ring is fetched only when asked for (the server audits each read); the
// place is drawn as a pin on the campus's own buildings and roads (no map tiles: it works offline).

import { api, dataJson, element, problemOf, show, translator } from "./page.js";

const root = document.getElementById("escalation");
const t = translator(dataJson(root, "messages"));
const base = root.dataset.api;

// ---- actions -----------------------------------------------------------------------------------

/** What each form sends: its API path under the escalation, and the body from its fields. */
const ACTIONS = {
  ack: () => ["ack", undefined],
  note: (form) => ["notes", { text: form.elements.text.value }],
  resolve: (form) => ["resolve", { outcome: form.elements.outcome.value }],
  close: (form) => ["close", { outcome: form.elements.outcome.value }],
  handover: (form) => {
    const body = { to_user_id: Number(form.elements.to_user_id.value) || 0 };
    const note = form.elements.note.value.trim();
    if (note) body.note = note;
    return ["handover", body];
  },
};

function refuse(form, message, field) {
  const line = form.querySelector(".field-error");
  line.textContent = message;
  show(line, true);
  const input = field && form.elements[field];
  if (input && typeof input.focus === "function") input.focus();
}

async function act(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  const [path, body] = ACTIONS[form.dataset.action](form);
  show(form.querySelector(".field-error"), false);
  button.disabled = true;
  try {
    const response = await api(`${base}/${path}`, { method: "POST", body });
    if (response.ok) {
      const done = document.getElementById("action-done");
      done.textContent = t("escalation_page.js.saved");
      show(done, true);
      window.location.reload();
      return;
    }
    if (response.status === 401) {
      refuse(form, t("escalation_page.js.signed_out"));
    } else {
      const problem = await problemOf(response);
      refuse(form, problem.message, problem.field);
    }
  } catch {
    refuse(form, t("escalation_page.js.offline"));
  }
  button.disabled = false;
}

for (const form of root.querySelectorAll("form.esc-action")) form.addEventListener("submit", act);

// ---- numbers to ring -------------------------------------------------------------------------

async function reveal(event) {
  const button = event.currentTarget;
  const line = button.parentElement.querySelector(".field-error");
  button.disabled = true;
  show(line, false);
  try {
    const response = await api(`${base}/phone`, { method: "POST", body: { contact: button.dataset.contact } });
    if (response.ok) {
      const phone = await response.json();
      const call = element("a", "btn btn-primary btn-big btn-call", t("escalation_page.js.call", { number: phone.number }));
      call.href = phone.tel;
      button.replaceWith(call);
      call.focus();
      return;
    }
    line.textContent = (await problemOf(response)).message;
  } catch {
    line.textContent = t("escalation_page.js.offline");
  }
  show(line, true);
  button.disabled = false;
}

for (const button of root.querySelectorAll(".btn-reveal")) button.addEventListener("click", reveal);

// ---- the pin -----------------------------------------------------------------------------------

function drawPin(node) {
  const L = window.L;
  if (!L) return;
  const pin = dataJson(node, "pin");
  const at = [pin.lat, pin.lon];
  // A still picture of the place: no dragging or zooming to catch a thumb scrolling the page.
  const map = L.map(node, {
    center: at,
    zoom: 17,
    dragging: false,
    touchZoom: false,
    scrollWheelZoom: false,
    doubleClickZoom: false,
    boxZoom: false,
    keyboard: false,
    zoomControl: false,
    attributionControl: false,
  });
  L.geoJSON(pin.surroundings, {
    style: (feature) =>
      feature.properties.layer === "roads"
        ? { color: "#ffffff", weight: 5, opacity: 1 }
        : { color: "#b8b0a2", weight: 1, fillColor: "#ddd6c8", fillOpacity: 1 },
    interactive: false,
  }).addTo(map);
  L.circleMarker(at, { radius: 11, color: "#ffffff", weight: 3, fillColor: "#c62828", fillOpacity: 1, interactive: false })
    .bindTooltip(pin.label, { permanent: true, direction: "top", offset: [0, -10], className: "esc-pin-label" })
    .addTo(map);
}

const mapNode = document.getElementById("esc-map");
if (mapNode) drawPin(mapNode);
