"""Pure risk-map rules: the GCJ-02 offset of Chinese map tiles, the four risk bands and their colours, the map's labels.

No I/O here: the renderer and its tests call these in microseconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, Literal, TypeGuard, get_args

# ---- GCJ-02 -------------------------------------------------------------------------------------
# Chinese web-map tiles (AutoNavi/Amap, Tencent, and most domestic providers) are drawn in GCJ-02, a
# WGS-84 position plus a published, deliberately non-linear offset computed on the Krasovsky 1940
# ellipsoid. Points drawn over such tiles must be shifted the same way, or they land 300–700 m off.

_KRASOVSKY_A: Final = 6378245.0  # semi-major axis, metres
_KRASOVSKY_EE: Final = 0.00669342162296594323  # first eccentricity squared
# The customary rough box of mainland China; outside it GCJ-02 equals WGS-84. (It also covers Taiwan,
# Hong Kong and Macao, as every common implementation does.)
CHINA_BOX: Final = (72.004, 0.8293, 137.8347, 55.8271)  # min lon, min lat, max lon, max lat
_INVERSE_TOLERANCE: Final = 1e-10  # degrees, about 0.01 mm
_INVERSE_ROUNDS: Final = 30


def outside_china(lon: float, lat: float) -> bool:
    """Whether (lon, lat) lies outside the box in which GCJ-02 applies its offset."""
    min_lon, min_lat, max_lon, max_lat = CHINA_BOX
    return not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat)


def _gcj02_offset(lon: float, lat: float) -> tuple[float, float]:
    """The (Δlon, Δlat) in degrees that GCJ-02 adds at the WGS-84 point (lon, lat)."""
    x, y = lon - 105.0, lat - 35.0
    ripple = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + ripple
    d_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + ripple
    d_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    d_lon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1.0 - _KRASOVSKY_EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = d_lat * 180.0 / (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (magic * sqrt_magic) * math.pi)
    d_lon = d_lon * 180.0 / (_KRASOVSKY_A / sqrt_magic * math.cos(rad) * math.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 (lon, lat) at which Chinese map tiles draw the WGS-84 point (lon, lat)."""
    if outside_china(lon, lat):
        return lon, lat
    d_lon, d_lat = _gcj02_offset(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """The WGS-84 point that GCJ-02 draws at (lon, lat): the forward offset inverted by fixed-point
    iteration (it has no closed form), to within 1e-10 degrees."""
    if outside_china(lon, lat):
        return lon, lat
    w_lon, w_lat = lon, lat
    for _ in range(_INVERSE_ROUNDS):
        g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
        err_lon, err_lat = g_lon - lon, g_lat - lat
        w_lon, w_lat = w_lon - err_lon, w_lat - err_lat
        if abs(err_lon) < _INVERSE_TOLERANCE and abs(err_lat) < _INVERSE_TOLERANCE:
            break
    return w_lon, w_lat


# ---- risk bands ---------------------------------------------------------------------------------
# 安全风险分级管控: four colours, most serious first (see reference/campus-safety-domain.md §4.6).

Level = Literal["red", "orange", "yellow", "blue"]
LEVELS: Final[tuple[Level, ...]] = get_args(Level)
Lang = Literal["zh-CN", "en"]
LANGS: Final[tuple[Lang, ...]] = get_args(Lang)

LEVEL_COLOURS: Final[Mapping[Level, str]] = MappingProxyType(
    {"red": "#d32f2f", "orange": "#f57c00", "yellow": "#fbc02d", "blue": "#1976d2"}
)
_LEVEL_NAMES: Final[Mapping[Level, tuple[str, str]]] = MappingProxyType(
    {
        "red": ("重大风险", "Major risk"),
        "orange": ("较大风险", "Significant risk"),
        "yellow": ("一般风险", "Moderate risk"),
        "blue": ("低风险", "Low risk"),
    }
)


def is_level(value: object) -> TypeGuard[Level]:
    """Whether `value` is one of the four band codes."""
    return value in LEVELS


def level_colour(level: Level) -> str:
    """The band's colour as #rrggbb."""
    return LEVEL_COLOURS[level]


def level_label(level: Level, lang: Lang) -> str:
    """The band's name: 重大风险 … 低风险, or Major … Low risk in English."""
    zh, en = _LEVEL_NAMES[level]
    return zh if lang == "zh-CN" else en


def worst_level(levels: Sequence[Level]) -> Level | None:
    """The most serious band among `levels`, or None for none."""
    return min(levels, key=LEVELS.index, default=None)


# ---- map text -----------------------------------------------------------------------------------

OSM_ATTRIBUTION: Final = "© OpenStreetMap contributors (ODbL)"

_TEXT: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "title": ("风险地图", "Risk map"),
        "legend": ("风险等级", "Risk level"),
        "boundary": ("校园边界", "Campus boundary"),
        "buildings": ("建筑", "Buildings"),
        "roads": ("道路", "Roads"),
        "hazards": ("隐患", "Hazards"),
        "zones": ("风险区域", "Risk zones"),
        "incidents": ("处置中的事件", "Open incidents"),
        # The heat layer counts past observations (预警) and incidents, not hazards: it is named for that.
        "heat": ("近一年预警与事件密度", "Reports and incidents, past year"),
        "labels": ("建筑名称", "Building names"),
        "legend_title": ("图例", "Legend"),
        "legend_hazards": ("隐患（圆点，颜色为风险等级）", "Hazards (dots, coloured by risk level)"),
        "legend_zones": ("风险区域（颜色为风险等级）", "Risk zones (coloured by risk level)"),
        "legend_incidents": ("处置中的事件（数字为事件等级）", "Open incidents (numeral: incident level)"),
        "legend_heat": ("近一年预警与事件密度（越红越多）", "Reports and incidents, past year (redder: more)"),
        "legend_buildings": ("建筑", "Building"),
        "legend_roads": ("道路（虚线为步行道）", "Road (dashed: footpath)"),
        "legend_boundary": ("校园边界", "Campus boundary"),
        "tiles": ("底图", "Base map"),
        "level": ("等级", "Level"),
        "category": ("类别", "Category"),
        "state": ("状态", "State"),
        "deadline": ("整改期限", "Rectify by"),
        "overdue": ("已逾期", "Overdue"),
        "overdue_legend": ("粗黑边：整改已逾期", "Thick dark outline: overdue"),
        "reason": ("原因", "Reason"),
        "windows": ("时段", "When"),
        "visibility": ("范围", "Visibility"),
        "public": ("公开", "Public"),
        "internal": ("仅内部", "Internal only"),
        "details": ("查看详情", "Details"),
        "incident_level": ("事件等级", "Incident level"),
        "tips": ("安全提示", "Safety tips"),
    }
)


def map_text(lang: Lang) -> Mapping[str, str]:
    """Every fixed text the map shows, in `lang`."""
    index = 0 if lang == "zh-CN" else 1
    return MappingProxyType({key: pair[index] for key, pair in _TEXT.items()})


# ---- small checks for values that end up in the page -------------------------------------------

_HEX_COLOUR: Final = re.compile(r"#[0-9a-fA-F]{6}")
_LOCAL_PATH: Final = re.compile(r"/(?![/\\])[^\s\\]*")


def is_hex_colour(value: str) -> bool:
    """Whether `value` is a #rrggbb colour (anything else could smuggle CSS into the page)."""
    return bool(_HEX_COLOUR.fullmatch(value))


def is_local_path(url: str) -> bool:
    """Whether `url` is a path on this site ("/hazards/7"): not another origin, not a `javascript:` link."""
    return bool(_LOCAL_PATH.fullmatch(url))


def open_ring(ring: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """A polygon ring without its closing point (drawing libraries close it themselves); at least 3 points."""
    points = tuple(ring)
    if len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    if len(set(points)) < 3:
        raise ValueError("a zone's ring needs at least 3 distinct points")
    return points
