"""The offline risk map, rendered with folium from plain values (no database): the internal map and the public one.

`render_internal` draws the campus base layers with building names, risk zones, hazards (clustered),
open incidents and the density of past reports and incidents, with a layer control, a legend entry for
every layer, a metric scale and the OpenStreetMap attribution. It loads Leaflet and its
plugins from the vendored copies under `asset_prefix`; its only inline scripts are listed, hashed, in
`RenderedMap.script_hashes` for the page's Content-Security-Policy. `render_public` makes one
self-contained HTML file (everything inlined) with the public zones, the legend and safety tips.

Hooks for the page's own script on the internal map, all in place when `document` receives the
`riskmap:ready` event (and `window.riskMapReady` is true); pass the script's URL in `page_scripts`:

- `window.riskMap`: the Leaflet map.
- `window.riskMapLayers`: `{boundary, buildings, roads, labels, zones, heat, hazards, incidents}`, the
  Leaflet layers (`labels`, the building names, and `heat` are null when there are none; `hazards` is an
  L.MarkerClusterGroup).
- `window.riskMapIndex`: `{hazards: {id: L.Marker}, zones: {id: L.Polygon}, incidents: {id: L.Marker}}`.
- on each layer's options: hazard markers `hazardId`, `riskLevel`, `overdue`; zone polygons `zoneId`,
  `riskLevel`; incident markers `incidentId`.
- `editable=True`: hazard markers can be dragged once the page turns editing on with
  `riskMapLayers.hazards.setEditing(true)` (and not before, nor after `setEditing(false)`); after a drag
  the hazards layer fires `hazardmove` with `{layer, hazardId, lon, lat, from, fromLatLng}`: the new
  position and the one it was dragged from (`from`) in WGS-84, and the old screen position to put it back.
- `window.riskMapToWgs84(latlng) -> {lon, lat}` and `window.riskMapFromWgs84(lon, lat) -> L.LatLng`:
  from the screen to the stored WGS-84 position and back (they differ when GCJ-02 tiles are drawn).
- clicks: zone and incident layers have their popups bound; a hazard marker's popup is bound on its
  first click or Enter (`getPopup()` is undefined before), so 5,000 markers cost no listeners up front.
  A page script that wants clicks for itself listens on the layer (`riskMapLayers.hazards.on("click")`,
  `e.layer.options.hazardId`) and may close the popup with `riskMap.closePopup()`.

Everything from the data reaches the page as JSON inside the map's script and is shown with
`textContent`; links are followed only to paths on this site (anything else is refused here).
"""

from __future__ import annotations

import html as html_text
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import folium

from riskcontrol.riskmap import assets
from riskcontrol.riskmap.base_layers import BaseLayers, load_base_layers
from riskcontrol.riskmap.elements import Code, KitLayer, Verbatim, document, figure_of, heat_layer, to_js
from riskcontrol.riskmap.rules import (
    LEVELS,
    OSM_ATTRIBUTION,
    Lang,
    Level,
    is_hex_colour,
    is_level,
    is_local_path,
    level_colour,
    level_label,
    map_text,
    open_ring,
    wgs84_to_gcj02,
)
from riskcontrol.riskmap.runtime import MAP_CSS, RUNTIME_JS

__all__ = [
    "BaseLayers",
    "HeatPoint",
    "MapHazard",
    "MapIncident",
    "MapLabel",
    "MapZone",
    "RenderedMap",
    "TileSource",
    "load_base_layers",
    "render_internal",
    "render_public",
]


@dataclass(frozen=True)
class MapHazard:
    """A hazard (隐患) as drawn: labels already in the page's language; `url` a path on this site."""

    id: int
    title: str
    level: Level
    level_label: str
    category_label: str
    state_label: str
    lon: float
    lat: float
    overdue: bool
    deadline_label: str | None
    url: str | None


@dataclass(frozen=True)
class MapZone:
    """A risk zone: a WGS-84 ring of (lon, lat), closed or not; `windows_label` says when it applies."""

    id: int
    name: str
    level: Level
    reason: str
    windows_label: str
    public: bool
    ring: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class MapIncident:
    """An open incident: its level numeral (Ⅰ–Ⅳ) and that level's colour (#rrggbb)."""

    id: int
    title: str
    level_numeral: str
    colour: str
    state_label: str
    lon: float
    lat: float
    url: str | None


@dataclass(frozen=True)
class HeatPoint:
    lon: float
    lat: float
    weight: float = 1.0


@dataclass(frozen=True)
class MapLabel:
    """A name written on the map (a building's), centred on a WGS-84 point."""

    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class TileSource:
    """Map tiles (served locally); `crs="gcj02"` for Chinese tiles, which shifts everything drawn to match."""

    url_template: str
    attribution: str
    crs: Literal["wgs84", "gcj02"]
    max_zoom: int = 19


@dataclass(frozen=True)
class RenderedMap:
    """A full HTML document and the CSP tokens ('sha256-…') of its inline scripts."""

    html: str
    script_hashes: tuple[str, ...]

    def content_security_policy(self, base: str) -> str:
        """`base` (a page policy) with script-src allowing these inline scripts and style-src inline styles
        (Leaflet positions every tile and marker with a style)."""
        wanted = {
            "script-src": "script-src 'self' " + " ".join(self.script_hashes),
            "style-src": "style-src 'self' 'unsafe-inline'",
        }
        directives = [d.strip() for d in base.split(";") if d.strip()]
        out = [wanted.pop(d.split()[0], d) for d in directives]
        return "; ".join(out + list(wanted.values()))


NO_TILES_MAX_ZOOM: Final = 20
_DECIMALS: Final = 6  # about 0.1 m
Project = Callable[[float, float], list[float]]  # (lon, lat) → [lat, lon] as drawn


# ---- checks and payloads --------------------------------------------------------------------------


def _check_point(lon: float, lat: float, what: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"{what}: ({lon}, {lat}) is not a WGS-84 (lon, lat)")


def _check_level(level: str, what: str) -> Level:
    if not is_level(level):
        raise ValueError(f"{what}: level {level!r} is not one of {', '.join(LEVELS)}")
    return level


def _check_url(url: str | None, what: str) -> str | None:
    if url is not None and not is_local_path(url):
        raise ValueError(f"{what}: url {url!r} must be a path on this site")
    return url


def _projector(gcj02: bool) -> Project:
    def project(lon: float, lat: float) -> list[float]:
        if gcj02:
            lon, lat = wgs84_to_gcj02(lon, lat)
        return [round(lat, _DECIMALS), round(lon, _DECIMALS)]

    return project


def _hazard_payload(hazards: Sequence[MapHazard], project: Project, lang: Lang, editable: bool) -> dict[str, Any]:
    strings: dict[str, int] = {}

    def intern(text: str) -> int:
        return strings.setdefault(text, len(strings))

    rows = []
    for h in hazards:
        what = f"hazard {h.id}"
        _check_point(h.lon, h.lat, what)
        level = _check_level(h.level, what)
        lat, lon = project(h.lon, h.lat)
        rows.append(
            [
                h.id,
                lat,
                lon,
                LEVELS.index(level),
                int(h.overdue),
                h.title,
                intern(h.level_label),
                intern(h.category_label),
                intern(h.state_label),
                -1 if h.deadline_label is None else intern(h.deadline_label),
                _check_url(h.url, what),
            ]
        )
    return {"rows": rows, "strings": list(strings), "text": map_text(lang), "editable": editable}


def _zone_payload(zones: Sequence[MapZone], project: Project, lang: Lang, *, public: bool) -> dict[str, Any]:
    rows = []
    for z in zones:
        what = f"zone {z.id}"
        level = _check_level(z.level, what)
        for lon, lat in z.ring:
            _check_point(lon, lat, what)
        rows.append(
            {
                "id": None if public else z.id,
                "name": z.name,
                "lv": LEVELS.index(level),
                "reason": z.reason,
                "windows": z.windows_label,
                "pub": None if public else z.public,
                "ring": [project(lon, lat) for lon, lat in open_ring(z.ring)],
            }
        )
    return {
        "rows": rows,
        "text": map_text(lang),
        "colours": [level_colour(lv) for lv in LEVELS],
        "levelLabels": [level_label(lv, lang) for lv in LEVELS],
    }


def _incident_payload(incidents: Sequence[MapIncident], project: Project, lang: Lang) -> dict[str, Any]:
    rows = []
    for i in incidents:
        what = f"incident {i.id}"
        _check_point(i.lon, i.lat, what)
        if not is_hex_colour(i.colour):
            raise ValueError(f"{what}: colour {i.colour!r} must be #rrggbb")
        lat, lon = project(i.lon, i.lat)
        url = _check_url(i.url, what)
        rows.append(
            {
                "id": i.id,
                "title": i.title,
                "numeral": i.level_numeral,
                "colour": i.colour,
                "state": i.state_label,
                "lat": lat,
                "lon": lon,
                "url": url,
            }
        )
    return {"rows": rows, "text": map_text(lang)}


_BASE_STYLES: Final[dict[str, dict[str, Any]]] = {
    "boundary": {
        "style": {"color": "#5d4037", "weight": 3, "dashArray": "8 6", "fill": True, "fillColor": "#fffdf7", "fillOpacity": 0.35}
    },
    "buildings": {"style": {"color": "#8d8173", "weight": 1, "fillColor": "#d9d0c9", "fillOpacity": 0.9}},
    "roads": {
        "style": {"color": "#ffffff", "weight": 4, "opacity": 1},
        "styleBy": "highway",
        "styles": {
            "footway": {"color": "#ffffff", "weight": 2, "dashArray": "4 3"},
            "path": {"color": "#ffffff", "weight": 2, "dashArray": "4 3"},
        },
    },
}


# ---- the two maps -----------------------------------------------------------------------------


def _new_map(base: BaseLayers, max_zoom: int, *, head: str, gcj02: bool = False, height: str = "100%") -> folium.Map:
    """A map with no tiles yet, the kit loaded, and the campus in view; `head` goes into the document's head."""
    lon, lat = base.centre
    # No folium scale control: it shows feet and miles too; riskMapKit.frame adds a metric one.
    m = folium.Map(location=[lat, lon], zoom_start=16, tiles=None, height=height, control_scale=False)
    m.options["maxZoom"] = max_zoom
    min_lon, min_lat, max_lon, max_lat = base.bounds
    frame = f"riskMapKit.frame({m.get_name()}, {to_js([[min_lat, min_lon], [max_lat, max_lon]])}, {to_js(gcj02)});"
    m.add_child(Code(head=head, code=RUNTIME_JS + frame))
    return m


def _add_base(m: folium.Map, base: BaseLayers, lang: Lang, labels: Sequence[MapLabel], project: Project) -> dict[str, str]:
    """The boundary, buildings and roads layers, and the building names; returns their JS names."""
    names = {"labels": "null"}
    for layer, collection in (("boundary", base.boundary), ("buildings", base.buildings), ("roads", base.roads)):
        # Only the features: the file's own fields (source, attribution) are not needed in the page.
        data = {"type": "FeatureCollection", "features": collection["features"]}
        payload = {"data": data, "labels": layer == "buildings", "lang": lang, **_BASE_STYLES[layer]}
        element = KitLayer("base", payload, map_text(lang)[layer])
        m.add_child(element)
        names[layer] = element.get_name()
    if labels:
        for label in labels:
            _check_point(label.lon, label.lat, f"label {label.name!r}")
        rows = [[*project(label.lon, label.lat), label.name] for label in labels]
        element = KitLayer("labels", {"rows": rows}, map_text(lang)["labels"])
        m.add_child(element)
        names["labels"] = element.get_name()
    return names


# The legend's entries, in order: one per layer drawn (the building names explain themselves).
_LEGEND_ORDER: Final = ("hazards", "zones", "incidents", "heat", "buildings", "roads", "boundary")


def _finish(m: folium.Map, lang: Lang, *, note: str | None, layers: dict[str, str]) -> None:
    cfg = {
        "attribution": html_text.escape(OSM_ATTRIBUTION),
        "text": map_text(lang),
        "bands": [{"code": lv, "colour": level_colour(lv), "label": level_label(lv, lang)} for lv in LEVELS],
        "note": note,
        "legend": [key for key in _LEGEND_ORDER if layers.get(key, "null") != "null"],
    }
    layer_js = "{" + ",".join(f"{to_js(key)}:{name}" for key, name in layers.items()) + "}"
    m.add_child(Code(code=f"riskMapKit.finish({m.get_name()}, {to_js(cfg)}, {layer_js});"))


def render_internal(
    *,
    hazards: Sequence[MapHazard],
    zones: Sequence[MapZone],
    incidents: Sequence[MapIncident],
    heat: Sequence[HeatPoint],
    base: BaseLayers,
    lang: Lang,
    tiles: TileSource | None,
    editable: bool,
    asset_prefix: str = "/static/vendor",
    page_scripts: Sequence[str] = (),
    labels: Sequence[MapLabel] = (),
) -> RenderedMap:
    """The staff's risk map as a full HTML document that loads only the vendored assets under `asset_prefix`."""
    for url in page_scripts:
        _check_url(url, "page script")
    gcj02 = tiles is not None and tiles.crs == "gcj02"
    project = _projector(gcj02)
    shown = base.gcj02 if gcj02 else base
    text = map_text(lang)
    max_zoom = tiles.max_zoom if tiles is not None else NO_TILES_MAX_ZOOM
    m = _new_map(shown, max_zoom, head=f"<style>{MAP_CSS}</style>", gcj02=gcj02)
    m.default_js, m.default_css = assets.links((assets.LEAFLET_JS, assets.LEAFLET_CSS), asset_prefix)
    if tiles is not None:
        source = {"url": tiles.url_template, "attribution": html_text.escape(tiles.attribution), "maxZoom": tiles.max_zoom}
        m.add_child(KitLayer("tiles", source, text["tiles"], overlay=False))
    layers = _add_base(m, shown, lang, labels, project)
    zone_layer = KitLayer("zones", _zone_payload(zones, project, lang, public=False), text["zones"])
    m.add_child(zone_layer)
    layers["zones"] = zone_layer.get_name()
    layers["heat"] = "null"
    if heat:
        for point in heat:
            _check_point(point.lon, point.lat, "heat point")
        data = [[*project(p.lon, p.lat), p.weight] for p in heat]
        heat_element = heat_layer(data, text["heat"], asset_prefix, max_zoom=max_zoom)
        m.add_child(heat_element)
        layers["heat"] = heat_element.get_name()
    clustered = (assets.MARKERCLUSTER_JS, assets.MARKERCLUSTER_CSS)
    payload = _hazard_payload(hazards, project, lang, editable)
    hazard_layer = KitLayer("hazards", payload, text["hazards"], needs=clustered, prefix=asset_prefix)
    incident_layer = KitLayer("incidents", _incident_payload(incidents, project, lang), text["incidents"])
    m.add_child(hazard_layer)
    m.add_child(incident_layer)
    layers["hazards"], layers["incidents"] = hazard_layer.get_name(), incident_layer.get_name()
    folium.LayerControl(collapsed=False).add_to(m)
    _finish(m, lang, note=text["overdue_legend"], layers=layers)
    page = document(m, lang, text["title"], page_scripts)
    return RenderedMap(html=page, script_hashes=assets.script_hashes(page))


_PUBLIC_CSS: Final = """
html, body { height: auto; }
body { margin: 0; font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; color: #222; }
.rc-public-head h1 { font-size: 1.3rem; margin: 0; padding: .75rem 1rem; }
.rc-tips { padding: .5rem 1rem 1rem; }
.rc-tips h2 { font-size: 1.1rem; margin: .5rem 0; }
.rc-tips li { margin: .25rem 0; }
.rc-source { color: #555; font-size: .85rem; }
"""


def render_public(
    *, zones: Sequence[MapZone], tips: Sequence[str], base: BaseLayers, lang: Lang, title: str, labels: Sequence[MapLabel] = ()
) -> str:
    """One self-contained HTML file (every script and stylesheet inlined) with the public zones only, the
    base layers and building names, the legend and the safety tips: no hazards, incidents or people."""
    text = map_text(lang)
    vendored = "".join(assets.inline(a) for a in (assets.LEAFLET_CSS, assets.LEAFLET_JS))
    m = _new_map(base, NO_TILES_MAX_ZOOM, head=f"{vendored}<style>{MAP_CSS}{_PUBLIC_CSS}</style>", height="70vh")
    m.default_js, m.default_css = [], []
    figure_of(m).html.add_child(Verbatim(f'<header class="rc-public-head"><h1>{html_text.escape(title)}</h1></header>'))
    layers = _add_base(m, base, lang, labels, _projector(False))
    public = [z for z in zones if z.public]
    zone_layer = KitLayer("zones", _zone_payload(public, _projector(False), lang, public=True), text["zones"])
    m.add_child(zone_layer)
    layers["zones"] = zone_layer.get_name()
    items = "".join(f"<li>{html_text.escape(tip)}</li>" for tip in tips)
    source = f'<p class="rc-source">{html_text.escape(OSM_ATTRIBUTION)}</p>'
    m.add_child(Code(body=f'<section class="rc-tips"><h2>{text["tips"]}</h2><ul>{items}</ul>{source}</section>'))
    _finish(m, lang, note=None, layers=layers)
    return document(m, lang, title)
