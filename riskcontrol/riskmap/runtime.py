"""The risk map's own browser code: one small script (`window.riskMapKit`) and its stylesheet.

The renderer puts the data in as JSON and calls the kit's builders; every text from the data is set
with `textContent`, never as HTML, and links are followed only to paths on this site.
"""

from __future__ import annotations

from typing import Final

# The GCJ-02 constants and formula mirror riskmap.rules (a browser test checks both agree).
RUNTIME_JS: Final = r"""
(function () {
  "use strict";
  var LEVELS = ["red", "orange", "yellow", "blue"];
  var A = 6378245.0, EE = 0.00669342162296594323, LABELS_FROM_PX = 450;
  var index = {hazards: {}, zones: {}, incidents: {}};
  var kit = {index: index, gcj02: false};

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function localPath(url) {
    return typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/" && !/[\s\\]/.test(url);
  }

  // A popup body: a title, label/value rows (empty values left out) and an optional link.
  function card(title, badge, rows, link, linkText) {
    var box = el("div", "rc-card");
    var head = el("div", "rc-card-title", title);
    if (badge) { head.appendChild(el("span", "rc-badge", badge)); }
    box.appendChild(head);
    var list = el("dl");
    rows.forEach(function (row) {
      if (row[1] === null || row[1] === undefined || row[1] === "") { return; }
      list.appendChild(el("dt", null, row[0]));
      list.appendChild(el("dd", row[2] || null, row[1]));
    });
    box.appendChild(list);
    if (localPath(link)) {
      var a = el("a", "rc-card-link", linkText);
      a.href = link;
      box.appendChild(a);
    }
    return box;
  }

  function outsideChina(lon, lat) {
    return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }

  function offset(lon, lat) {
    var x = lon - 105.0, y = lat - 35.0, pi = Math.PI;
    var ripple = (20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0 / 3.0;
    var dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + ripple;
    dLat += (20.0 * Math.sin(y * pi) + 40.0 * Math.sin(y / 3.0 * pi)) * 2.0 / 3.0;
    dLat += (160.0 * Math.sin(y / 12.0 * pi) + 320.0 * Math.sin(y * pi / 30.0)) * 2.0 / 3.0;
    var dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + ripple;
    dLon += (20.0 * Math.sin(x * pi) + 40.0 * Math.sin(x / 3.0 * pi)) * 2.0 / 3.0;
    dLon += (150.0 * Math.sin(x / 12.0 * pi) + 300.0 * Math.sin(x / 30.0 * pi)) * 2.0 / 3.0;
    var rad = lat / 180.0 * pi;
    var magic = 1.0 - EE * Math.sin(rad) * Math.sin(rad);
    var sqrtMagic = Math.sqrt(magic);
    dLat = dLat * 180.0 / (A * (1.0 - EE) / (magic * sqrtMagic) * pi);
    dLon = dLon * 180.0 / (A / sqrtMagic * Math.cos(rad) * pi);
    return [dLon, dLat];
  }

  function toGcj02(lon, lat) {
    if (outsideChina(lon, lat)) { return [lon, lat]; }
    var d = offset(lon, lat);
    return [lon + d[0], lat + d[1]];
  }

  function toWgs84(lon, lat) {
    if (outsideChina(lon, lat)) { return [lon, lat]; }
    var w = [lon, lat];
    for (var i = 0; i < 30; i++) {
      var g = toGcj02(w[0], w[1]), eLon = g[0] - lon, eLat = g[1] - lat;
      w = [w[0] - eLon, w[1] - eLat];
      if (Math.abs(eLon) < 1e-10 && Math.abs(eLat) < 1e-10) { break; }
    }
    return w;
  }

  // Where a position on the screen is in WGS-84 (what the database keeps), and back.
  window.riskMapToWgs84 = function (latlng) {
    var ll = L.latLng(latlng), p = kit.gcj02 ? toWgs84(ll.lng, ll.lat) : [ll.lng, ll.lat];
    return {lon: p[0], lat: p[1]};
  };
  window.riskMapFromWgs84 = function (lon, lat) {
    var p = kit.gcj02 ? toGcj02(lon, lat) : [lon, lat];
    return L.latLng(p[1], p[0]);
  };

  function clusterIcon(cluster) {
    var children = cluster.getAllChildMarkers(), worst = LEVELS.length - 1, redOverdue = false;
    for (var i = 0; i < children.length; i++) {
      var o = children[i].options;
      if (o.levelIndex < worst) { worst = o.levelIndex; }
      if (o.overdue && o.levelIndex === 0) { redOverdue = true; }
    }
    var n = cluster.getChildCount(), size = n < 10 ? 30 : n < 100 ? 36 : 44;
    return L.divIcon({
      html: el("span", null, n),
      className: "rc-cluster rc-" + LEVELS[worst] + (redOverdue ? " rc-overdue" : ""),
      iconSize: [size, size]
    });
  }

  // Hazards, clustered. A row: [id, lat, lon, level #, overdue 0|1, title, level label #, category #,
  // state #, deadline # or -1, url or null]; the # are indexes into cfg.strings. The group goes on the
  // map before the markers go in: markercluster 1.1 checks each marker added to a group that is not on
  // a map against all the others, quadratic in their number.
  kit.hazards = function (cfg, map) {
    var s = cfg.strings, t = cfg.text, icons = {}, markers = new Array(cfg.rows.length);
    var group = L.markerClusterGroup({showCoverageOnHover: false, maxClusterRadius: 45, iconCreateFunction: clusterIcon});
    function icon(level, overdue) {
      var key = level + (overdue ? "!" : "");
      if (!icons[key]) {
        var size = overdue ? 18 : 14;
        icons[key] = L.divIcon({className: "rc-hz rc-" + LEVELS[level] + (overdue ? " rc-overdue" : ""), iconSize: [size, size]});
      }
      return icons[key];
    }
    function popup(layer) {
      var r = layer.options.row;
      return card(r[5], r[4] ? t.overdue : null, [
        [t.level, s[r[6]], "rc-level rc-" + LEVELS[r[3]]], [t.category, s[r[7]]], [t.state, s[r[8]]],
        [t.deadline, r[9] >= 0 ? s[r[9]] : null]
      ], r[10], t.details);
    }
    // Where a drag started, so that the page can put the marker back (a cancel, a failed save, an undo).
    function started(e) { e.target.options.dragFrom = e.target.getLatLng(); }
    function moved(e) {
      var m = e.target, p = window.riskMapToWgs84(m.getLatLng()), from = m.options.dragFrom || m.getLatLng();
      var before = window.riskMapToWgs84(from);
      group.fire("hazardmove", {layer: m, hazardId: m.options.hazardId, lon: p.lon, lat: p.lat, from: before, fromLatLng: from});
    }
    // Markers are never draggable until the page turns editing on: a drag by accident moves nothing.
    for (var i = 0; i < cfg.rows.length; i++) {
      var r = cfg.rows[i];
      var m = L.marker([r[1], r[2]], {
        icon: icon(r[3], r[4]), title: r[5], draggable: false, autoPan: cfg.editable,
        hazardId: r[0], riskLevel: LEVELS[r[3]], levelIndex: r[3], overdue: r[4] === 1, row: r
      });
      if (cfg.editable) { m.on("dragstart", started); m.on("dragend", moved); }
      index.hazards[r[0]] = m;
      markers[i] = m;
    }
    // A marker inside a cluster has no drag handler yet; Leaflet reads `draggable` when it is drawn.
    group.setEditing = function (on) {
      var wanted = Boolean(on && cfg.editable);
      markers.forEach(function (marker) {
        marker.options.draggable = wanted;
        if (marker.dragging) { if (wanted) { marker.dragging.enable(); } else { marker.dragging.disable(); } }
      });
      return wanted;
    };
    // A popup is bound on a marker's first click or Enter, not up front: 5,000 bindings cost 20,000 listeners.
    group.on("click keypress", function (e) {
      var m = e.layer;
      if (m.getPopup() || (e.type === "keypress" && e.originalEvent.key !== "Enter")) { return; }
      m.bindPopup(popup);
      m.openPopup();
    });
    group.addTo(map);
    group.addLayers(markers);
    return group;
  };

  // Zones: {id, name, lv, reason, windows, pub, ring: [[lat, lon], ...]}; id and pub are null on the public map.
  kit.zones = function (cfg) {
    var t = cfg.text, group = L.featureGroup();
    cfg.rows.forEach(function (z) {
      var colour = cfg.colours[z.lv];
      var layer = L.polygon(z.ring, {
        color: colour, weight: 2, opacity: 0.9, fillColor: colour, fillOpacity: 0.22,
        className: "rc-zone rc-zone-" + LEVELS[z.lv], zoneId: z.id, riskLevel: LEVELS[z.lv]
      });
      var visibility = z.pub === null ? null : (z.pub ? t["public"] : t.internal);
      layer.bindTooltip(el("span", null, z.name), {sticky: true});
      layer.bindPopup(function () {
        return card(z.name, null, [
          [t.level, cfg.levelLabels[z.lv], "rc-level rc-" + LEVELS[z.lv]], [t.reason, z.reason],
          [t.windows, z.windows], [t.visibility, visibility]
        ], null, null);
      });
      if (z.id !== null) { index.zones[z.id] = layer; }
      group.addLayer(layer);
    });
    return group;
  };

  // Open incidents: {id, title, numeral, colour, state, lat, lon, url}, drawn above everything else.
  kit.incidents = function (cfg) {
    var t = cfg.text, group = L.featureGroup();
    cfg.rows.forEach(function (r) {
      var badge = el("div", "rc-incident-badge", r.numeral);
      badge.style.backgroundColor = r.colour;
      var layer = L.marker([r.lat, r.lon], {
        icon: L.divIcon({className: "rc-incident", html: badge, iconSize: [28, 28]}),
        title: r.title, incidentId: r.id, zIndexOffset: 1000
      });
      layer.bindPopup(function () {
        return card(r.title, null, [[t.incident_level, r.numeral], [t.state, r.state]], r.url, t.details);
      });
      index.incidents[r.id] = layer;
      group.addLayer(layer);
    });
    return group;
  };

  // Building names: [[lat, lon, name], ...], written on the map, not clickable; hidden when zoomed far out.
  kit.labels = function (cfg) {
    var group = L.layerGroup();
    cfg.rows.forEach(function (r) {
      var icon = L.divIcon({className: "rc-label", html: el("span", null, r[2]), iconSize: null});
      group.addLayer(L.marker([r[0], r[1]], {icon: icon, interactive: false, keyboard: false}));
    });
    return group;
  };

  // Map tiles served by this site: {url, attribution (escaped text), maxZoom}.
  kit.tiles = function (cfg) {
    return L.tileLayer(cfg.url, {attribution: cfg.attribution, maxZoom: cfg.maxZoom, maxNativeZoom: cfg.maxZoom});
  };

  // A base layer: GeoJSON, styled per feature by cfg.styleBy (a property) or one style; named features get a tooltip.
  kit.base = function (cfg) {
    return L.geoJSON(cfg.data, {
      interactive: cfg.labels,
      style: function (feature) {
        var key = cfg.styleBy ? feature.properties[cfg.styleBy] : null;
        return (key && cfg.styles[key]) || cfg.style;
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties, name = cfg.lang === "en" ? (p["name:en"] || p.name) : p.name;
        if (cfg.labels && name) { layer.bindTooltip(el("span", null, name), {sticky: true}); }
      }
    });
  };

  // The first step, before any layer is drawn (so that none draws twice): the view and the projection.
  // Zooming out further than a little around the campus shows nothing useful, and every zoom level
  // the map allows is one more level of clusters to build.
  kit.frame = function (map, bounds, gcj02) {
    kit.gcj02 = gcj02;
    map.fitBounds(bounds, {animate: false});
    map.setMinZoom(Math.max(map.getZoom() - 2, 0));
    L.control.scale({imperial: false}).addTo(map);
    // Building names would cover one another while the campus is drawn small (a phone's first view):
    // they show once it is at least LABELS_FROM_PX wide on the screen.
    var box = L.latLngBounds(bounds);
    function far() {
      var z = map.getZoom(), wide = map.project(box.getNorthEast(), z).x - map.project(box.getSouthWest(), z).x;
      map.getContainer().classList.toggle("rc-far", wide < LABELS_FROM_PX);
    }
    map.on("zoomend", far);
    far();
  };

  // The last step: legend, attribution, and the hooks for the page's own script.
  kit.finish = function (map, cfg, layers) {
    map.attributionControl.setPrefix("Leaflet");
    map.attributionControl.addAttribution(cfg.attribution);
    var t = cfg.text, legend = L.control({position: "bottomright"});
    function entry(parent, key, label) {
      var row = el("div", "rc-legend-row rc-legend-" + key);
      row.appendChild(el("i", "rc-key rc-key-" + key));
      row.appendChild(el("span", null, label));
      parent.appendChild(row);
    }
    // Every layer drawn has an entry; the four colours apply to the hazards' dots and the zones alike.
    // Open on a desk, folded on a phone, where it would cover the map.
    legend.onAdd = function () {
      var box = el("details", "rc-legend");
      box.open = map.getSize().x >= 600;
      box.appendChild(el("summary", "rc-legend-title", t.legend_title));
      var bands = el("div", "rc-legend-bands");
      bands.appendChild(el("div", "rc-legend-head", t.legend));
      cfg.bands.forEach(function (band) {
        var row = el("div", "rc-legend-row rc-legend-" + band.code), swatch = el("i", "rc-swatch");
        swatch.style.backgroundColor = band.colour;
        row.appendChild(swatch);
        row.appendChild(el("span", null, band.label));
        bands.appendChild(row);
      });
      box.appendChild(bands);
      cfg.legend.forEach(function (key) {
        entry(box, key, t["legend_" + key]);
        if (key === "hazards" && cfg.note) { entry(box, "overdue", cfg.note); }
      });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    legend.addTo(map);
    window.riskMap = map;
    window.riskMapLayers = layers;
    window.riskMapIndex = index;
    window.riskMapReady = true;
    document.dispatchEvent(new CustomEvent("riskmap:ready", {detail: {map: map, layers: layers}}));
  };

  window.riskMapKit = kit;
})();
"""

MAP_CSS: Final = """
@font-face { font-family: "Level numerals"; font-weight: 100 599; unicode-range: U+2160-217F;
  src: local("Noto Serif CJK SC"), local("NotoSerifCJKsc-Regular"), local("SimSun"), local("DejaVu Serif"); }
@font-face { font-family: "Level numerals"; font-weight: 600 1000; unicode-range: U+2160-217F;
  src: local("Noto Serif CJK SC Bold"), local("NotoSerifCJKsc-Bold"), local("SimSun"), local("DejaVu Serif Bold"); }
.leaflet-container { background: #f2efe9;
  font-family: "Level numerals", system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
.rc-hz { border-radius: 50%; border: 2px solid #fff; box-shadow: 0 0 2px rgba(0,0,0,.6); box-sizing: border-box; }
.rc-hz.rc-overdue { border: 4px solid #1a1a1a; box-shadow: 0 0 0 2px #fff; }
.rc-red { background: #d32f2f; } .rc-orange { background: #f57c00; }
.rc-yellow { background: #fbc02d; } .rc-blue { background: #1976d2; }
.rc-cluster { border-radius: 50%; color: #fff; font-weight: 700; display: flex; align-items: center;
  justify-content: center; border: 3px solid rgba(255,255,255,.85); box-shadow: 0 0 3px rgba(0,0,0,.5);
  box-sizing: border-box; font-size: 13px; }
.rc-cluster.rc-yellow { color: #222; }
.rc-cluster.rc-overdue { border: 5px solid #1a1a1a; }
.rc-incident { background: transparent; border: none; }
.rc-incident-badge { width: 28px; height: 28px; border-radius: 4px; border: 3px solid #fff; outline: 2px solid #1a1a1a;
  box-shadow: 0 0 6px rgba(0,0,0,.7); box-sizing: border-box; display: flex; align-items: center;
  justify-content: center; color: #fff; font-weight: 700; font-size: 13px; }
.rc-card { min-width: 180px; font-size: 13px; line-height: 1.4; }
.rc-card-title { font-weight: 700; font-size: 14px; margin-bottom: 4px; }
.rc-badge { margin-left: 6px; padding: 0 6px; border-radius: 3px; background: #1a1a1a; color: #fff;
  font-size: 12px; font-weight: 400; }
.rc-card dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 8px; margin: 0; }
.rc-card dt { color: #666; } .rc-card dd { margin: 0; }
.rc-card dd.rc-level { background: none; font-weight: 700; }
.rc-card dd.rc-level.rc-red { color: #b71c1c; } .rc-card dd.rc-level.rc-orange { color: #e65100; }
.rc-card dd.rc-level.rc-yellow { color: #8d6e00; } .rc-card dd.rc-level.rc-blue { color: #0d47a1; }
.rc-card-link { display: inline-block; margin-top: 6px; }
.rc-legend { background: rgba(255,255,255,.92); padding: 6px 10px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); font-size: 13px; line-height: 1.6; }
.rc-legend { max-width: min(70vw, 300px); max-height: 60vh; overflow-y: auto; }
.rc-legend-title { font-weight: 700; cursor: pointer; min-height: 44px; min-width: 44px; line-height: 44px; margin: -6px 0; }
.rc-legend-head { grid-column: 1 / -1; color: #444; }
.rc-legend-bands { display: grid; grid-template-columns: auto auto; column-gap: 10px; margin: 2px 0 4px; }
.rc-legend-row { display: flex; align-items: center; }
.rc-swatch, .rc-key { display: inline-block; flex: none; width: 14px; height: 14px; border-radius: 2px; margin-right: 6px;
  box-sizing: border-box; }
.rc-key-hazards { border-radius: 50%; border: 2px solid #fff; background: #757575; box-shadow: 0 0 2px rgba(0,0,0,.6); }
.rc-key-overdue { border-radius: 50%; border: 4px solid #1a1a1a; background: #757575; }
.rc-key-zones { border: 2px solid #f57c00; background: rgba(245,124,0,.22); }
.rc-key-incidents { border: 2px solid #fff; outline: 2px solid #1a1a1a; background: #f57c00; margin: 0 8px 0 2px; }
.rc-key-heat { width: 28px; background: linear-gradient(to right, blue, cyan, lime, yellow, red); opacity: .75; }
.rc-key-buildings { border: 1px solid #8d8173; background: #d9d0c9; }
.rc-key-roads { height: 6px; background: #fff; border: 1px solid #bbb; }
.rc-key-boundary { height: 0; border-top: 3px dashed #5d4037; border-radius: 0; }
.rc-label { background: none; border: none; pointer-events: none; }
.rc-label span { position: absolute; transform: translate(-50%, 8px); white-space: nowrap; font-size: 11px;
  color: #3e2f24; text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; }
.rc-far .rc-label { display: none; }
.leaflet-bottom.leaflet-right .leaflet-control-attribution { max-width: calc(100vw - 130px); }
/* The map's own controls are thumb targets of at least 44×44 px (what it draws on itself is its content). */
.leaflet-container .leaflet-bar.leaflet-control-zoom a { width: 44px; height: 44px; line-height: 44px; font-size: 22px; }
.leaflet-container .leaflet-control-layers label { display: flex; align-items: center; min-height: 44px; margin: 0; }
.leaflet-container .leaflet-control-layers label > span { display: flex; align-items: center; gap: 4px; }
.leaflet-container .leaflet-control-layers-toggle { width: 44px; height: 44px; }
"""
