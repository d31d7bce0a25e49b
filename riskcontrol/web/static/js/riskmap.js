// The risk map page's own script: a title bar, and for the safety office the editing tools: add a
// hazard or a zone by clicking on the map (or typing coordinates), and move a hazard by dragging it.
// Nothing on the map can be changed until the editor (编辑地图) is opened: only then are the hazards
// draggable and do clicks pick points. A drag asks for confirmation, a saved move can be undone, and a
// move that is not saved puts the dot back where it was.
// It runs on the folium document once the map is built (the "riskmap:ready" event; see riskmap/render.py).
(function () {
  "use strict";

  function start() {
    const holder = document.getElementById("riskmap-page");
    const data = holder ? JSON.parse(holder.dataset.page || "{}") : {};
    const messages = data.messages || {};
    const t = (key, params) =>
      (messages["riskmap.js." + key] || key).replace(/\{(\w+)\}/g, (whole, name) =>
        params && name in params ? String(params[name]) : whole,
      );
    const map = window.riskMap;
    const stylesheet = document.createElement("link");
    stylesheet.rel = "stylesheet";
    stylesheet.href = "/static/css/riskmap.css";
    document.head.appendChild(stylesheet);

    const el = (tag, className, text) => {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (text) node.textContent = text;
      return node;
    };

    // Title bar: where you are, and what could not be placed (the way back is in the page frame's header).
    const Bar = L.Control.extend({
      options: { position: "topleft" },
      onAdd() {
        const bar = el("div", "rm-bar");
        bar.append(el("strong", "rm-title", t("title")));
        const unplaced = data.unplaced || {};
        const missing = (unplaced.hazards || 0) + (unplaced.incidents || 0);
        if (missing) bar.append(el("span", "rm-note", t("unplaced", { n: missing })));
        L.DomEvent.disableClickPropagation(bar);
        return bar;
      },
    });
    new Bar().addTo(map);

    // On a phone the list of layers, 44 px a row to be tapped, would hide the map: it starts folded behind
    // its button (a tap opens it, a tap on the map folds it again).
    const layers = document.querySelector(".leaflet-control-layers");
    if (layers && window.matchMedia("(max-width: 600px)").matches) {
      const fold = () => layers.classList.remove("leaflet-control-layers-expanded");
      fold();
      map.on("click", fold);
    }
    if (!data.editable) return;

    const status = el("p", "rm-status");
    status.setAttribute("role", "status");
    const say = (text, bad) => {
      status.textContent = text;
      status.classList.toggle("rm-bad", Boolean(bad));
    };

    async function send(method, url, body) {
      // This page is a classic script on folium's document; the page modules' helper adds the CSRF token.
      const { api, problemOf } = await import("/static/js/page.js");
      let response;
      try {
        response = await api(url, { method, body });
      } catch (ignored) {
        return { ok: false, problem: { field: "network", message: t("offline") } };
      }
      if (response.ok) return { ok: true, body: await response.json() };
      return { ok: false, problem: await problemOf(response) };
    }
    // The server words a refusal in the page's language, naming the field in it.
    const failure = (sent) => t("failed", { message: sent.problem.message || "" });
    const moveFailure = (sent) => t("move_failed", { message: sent.problem.message || "" });

    // The editing panel: a hazard at a point, or a zone drawn corner by corner.
    const panel = el("form", "rm-panel");
    panel.noValidate = true;
    const mode = { value: "hazard" };
    const picks = [];
    let preview = null;
    // A zone picked on the map to be redrawn (its new corners replace the old), or null for a new zone.
    let redrawing = null;

    const field = (label, input) => {
      const wrap = el("label", "rm-field");
      wrap.append(el("span", "", label), input);
      return wrap;
    };
    const input = (name, type) => {
      const node = el("input");
      node.name = name;
      node.type = type || "text";
      return node;
    };
    const select = (name, options) => {
      const node = el("select");
      node.name = name;
      for (const [value, label] of options) {
        const option = el("option", "", label);
        option.value = value;
        node.append(option);
      }
      return node;
    };

    const modes = el("div", "rm-modes");
    const hazardButton = el("button", "rm-mode rm-on", t("add_hazard"));
    const zoneButton = el("button", "rm-mode", t("add_zone"));
    hazardButton.type = zoneButton.type = "button";
    modes.append(hazardButton, zoneButton);

    const title = input("title");
    const category = select("category", (data.categories || []).map((c) => [c.code, c.label]));
    const ratings = [["", "—"], ["1", "1"], ["2", "2"], ["3", "3"], ["4", "4"], ["5", "5"]];
    const likelihood = select("likelihood", ratings);
    const impact = select("impact", ratings);
    const lon = input("lon", "number");
    const lat = input("lat", "number");
    lon.step = lat.step = "any";
    const hazardFields = el("div", "rm-group");
    hazardFields.append(
      field(t("hazard_title"), title),
      field(t("category"), category),
      field(t("likelihood"), likelihood),
      field(t("impact"), impact),
      field(t("lon"), lon),
      field(t("lat"), lat),
    );

    const zoneName = input("name");
    const level = select("level", (data.levels || []).map((b) => [b.code, b.label]));
    const reason = input("reason");
    const isPublic = input("public", "checkbox");
    const tip = input("tip");
    const from = input("start", "time");
    const until = input("end", "time");
    const corners = el("p", "rm-corners", t("corners", { n: 0 }));
    const zoneFields = el("div", "rm-group");
    zoneFields.append(
      field(t("zone_name"), zoneName),
      field(t("level"), level),
      field(t("reason"), reason),
      field(t("public"), isPublic),
      field(t("tip"), tip),
      field(t("from"), from),
      field(t("until"), until),
      corners,
    );
    zoneFields.hidden = true;

    const save = el("button", "rm-save", t("save"));
    save.type = "submit";
    const clear = el("button", "rm-clear", t("clear"));
    clear.type = "button";
    panel.append(modes, el("p", "rm-hint", t("hint")), hazardFields, zoneFields, save, clear, status);

    const editor = el("details", "rm-editor");
    editor.append(el("summary", "", t("edit")), panel);

    // The bar that asks before a dragged hazard is saved, then offers to undo the move.
    const moveBar = el("div", "rm-move");
    moveBar.setAttribute("role", "status");
    moveBar.hidden = true;
    const moveText = el("p", "rm-move-text");
    const confirmButton = el("button", "rm-move-confirm", t("confirm"));
    const cancelButton = el("button", "rm-move-cancel", t("cancel"));
    const undoButton = el("button", "rm-move-undo", t("undo"));
    const dismissButton = el("button", "rm-move-dismiss", t("dismiss"));
    const moveButtons = el("div", "rm-move-buttons");
    for (const button of [confirmButton, cancelButton, undoButton, dismissButton]) {
      button.type = "button";
      moveButtons.append(button);
    }
    moveBar.append(moveText, moveButtons);
    let pending = null; // a drag waiting for confirmation
    let done = null; // the last saved move, which can be undone

    // state: "ask" (confirm or cancel), "done" (undo), "bad" (a message), "busy", or null to hide.
    function showBar(state, text) {
      moveBar.hidden = state === null;
      moveBar.classList.toggle("rm-bad", state === "bad");
      moveText.textContent = text || "";
      confirmButton.hidden = cancelButton.hidden = state !== "ask";
      undoButton.hidden = state !== "done";
      dismissButton.hidden = state !== "done" && state !== "bad";
    }
    function cancelMove() {
      pending.layer.setLatLng(pending.fromLatLng);
      pending = null;
      showBar(null);
      say(t("move_cancelled"));
    }
    async function saveMove(move, lon, lat) {
      return send("PATCH", `${data.api.hazards}/${move.hazardId}`, {
        location: { type: "Point", coordinates: [lon, lat] },
      });
    }
    confirmButton.addEventListener("click", async () => {
      const move = pending;
      if (!move) return;
      pending = null;
      showBar("busy", t("saving"));
      const sent = await saveMove(move, move.lon, move.lat);
      if (sent.ok) {
        done = move;
        const text = t("moved", { title: sent.body.title });
        say(text);
        showBar("done", text);
      } else {
        move.layer.setLatLng(move.fromLatLng);
        say(moveFailure(sent), true);
        showBar("bad", moveFailure(sent));
      }
    });
    cancelButton.addEventListener("click", () => {
      if (pending) cancelMove();
    });
    undoButton.addEventListener("click", async () => {
      const move = done;
      if (!move) return;
      done = null;
      showBar("busy", t("saving"));
      const sent = await saveMove(move, move.from.lon, move.from.lat);
      if (sent.ok) {
        move.layer.setLatLng(move.fromLatLng);
        say(t("undone", { title: sent.body.title }));
        showBar(null);
      } else {
        say(t("undo_failed", { message: sent.problem.message || "" }), true);
        showBar("bad", t("undo_failed", { message: sent.problem.message || "" }));
      }
    });
    dismissButton.addEventListener("click", () => {
      done = null;
      showBar(null);
    });

    const redraw = el("p", "rm-redraw");
    redraw.hidden = true;
    zoneFields.prepend(redraw);

    function reset() {
      picks.length = 0;
      if (preview) map.removeLayer(preview);
      preview = null;
      redrawing = null;
      redraw.hidden = true;
      corners.textContent = t("corners", { n: 0 });
    }
    function setMode(next) {
      mode.value = next;
      hazardButton.classList.toggle("rm-on", next === "hazard");
      zoneButton.classList.toggle("rm-on", next === "zone");
      hazardFields.hidden = next !== "hazard";
      zoneFields.hidden = next !== "zone";
      reset();
    }
    // Clicking a zone while adding zones picks it to be redrawn (moved or reshaped) with new corners.
    const zones = (window.riskMapIndex && window.riskMapIndex.zones) || {};
    for (const [id, polygon] of Object.entries(zones)) {
      polygon.on("click", (event) => {
        if (!editor.open || mode.value !== "zone") return;
        L.DomEvent.stop(event);
        polygon.closePopup(); // the zone's card would lie over the map where its new corners are to be clicked
        reset();
        redrawing = Number(id);
        redraw.textContent = t("redraw", { id });
        redraw.hidden = false;
      });
    }

    hazardButton.addEventListener("click", () => setMode("hazard"));
    zoneButton.addEventListener("click", () => setMode("zone"));
    clear.addEventListener("click", reset);

    map.on("click", (event) => {
      if (!editor.open) return;
      const where = window.riskMapToWgs84(event.latlng);
      if (mode.value === "hazard") {
        lon.value = where.lon.toFixed(6);
        lat.value = where.lat.toFixed(6);
        if (preview) map.removeLayer(preview);
        preview = L.circleMarker(event.latlng, { radius: 8, className: "rm-pick" }).addTo(map);
      } else {
        picks.push([Number(where.lon.toFixed(6)), Number(where.lat.toFixed(6))]);
        if (preview) map.removeLayer(preview);
        preview = L.polygon(picks.map(([x, y]) => window.riskMapFromWgs84(x, y)), { className: "rm-pick" }).addTo(map);
        corners.textContent = t("corners", { n: picks.length });
      }
    });

    panel.addEventListener("submit", async (event) => {
      event.preventDefault();
      let sent;
      if (mode.value === "hazard") {
        const body = { title: title.value.trim(), category: category.value, unit_id: data.home_unit_id };
        if (lon.value !== "" || lat.value !== "") {
          body.location = { type: "Point", coordinates: [Number(lon.value), Number(lat.value)] };
        }
        if (likelihood.value) body.likelihood = Number(likelihood.value);
        if (impact.value) body.impact = Number(impact.value);
        sent = await send("POST", data.api.hazards, body);
      } else if (redrawing !== null) {
        sent = await send("PATCH", `${data.api.zones}/${redrawing}`, {
          location: { type: "Polygon", coordinates: [picks.slice()] },
        });
      } else {
        const body = {
          name: zoneName.value.trim(),
          level: level.value,
          reason: reason.value.trim(),
          public: isPublic.checked,
          tip: tip.value.trim(),
          windows: from.value && until.value ? [{ start: from.value, end: until.value }] : [],
          location: { type: "Polygon", coordinates: [picks.slice()] },
        };
        sent = await send("POST", data.api.zones, body);
      }
      if (sent.ok) {
        say(t("saved", { title: sent.body.title || sent.body.name }));
        // The map is drawn on the server: show the new item where it belongs.
        window.setTimeout(() => window.location.reload(), 600);
      } else {
        say(failure(sent), true);
      }
    });

    const Panel = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd() {
        L.DomEvent.disableClickPropagation(editor);
        L.DomEvent.disableScrollPropagation(editor);
        return editor;
      },
    });
    new Panel().addTo(map);
    const MoveBar = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd() {
        L.DomEvent.disableClickPropagation(moveBar);
        return moveBar;
      },
    });
    new MoveBar().addTo(map);

    // Edit mode is the editor being open: hazards become draggable, and closing it drops what was pending.
    editor.addEventListener("toggle", () => {
      const hazards = window.riskMapLayers && window.riskMapLayers.hazards;
      if (hazards && hazards.setEditing) hazards.setEditing(editor.open);
      if (!editor.open) {
        reset();
        if (pending) cancelMove();
        else showBar(null);
      }
    });

    // Moving a hazard: the renderer fires "hazardmove" after a drag (WGS-84, and where it came from).
    const hazards = window.riskMapLayers && window.riskMapLayers.hazards;
    if (hazards) {
      hazards.on("hazardmove", (event) => {
        if (!editor.open) {
          event.layer.setLatLng(event.fromLatLng);
          return;
        }
        if (pending) pending.layer.setLatLng(pending.fromLatLng);
        pending = event;
        showBar("ask", t("confirm_move", { title: event.layer.options.title || `#${event.hazardId}` }));
      });
    }
  }

  if (window.riskMapReady) start();
  else document.addEventListener("riskmap:ready", start, { once: true });
})();
