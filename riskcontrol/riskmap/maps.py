"""The two maps as documents: the staff's map for a caller (with its Content-Security-Policy), and the
public map for students, self-contained, which `riskcontrol riskmap export --public` writes to a file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from riskcontrol.core.clock import Clock
from riskcontrol.core.security import Principal
from riskcontrol.hazards.rules import RiskMatrix
from riskcontrol.riskmap import assets, service
from riskcontrol.riskmap.render import RenderedMap, TileSource, render_internal, render_public
from riskcontrol.riskmap.rules import Lang

PUBLIC_TITLE: Final = {"zh-CN": "校园安全风险提示图", "en": "Campus safety map"}


@dataclass(frozen=True)
class MapSettings:
    """Where the campus layers are, which tiles (if any) to draw under them, and the school's time zone."""

    directory: Path
    tz: tzinfo
    tiles: TileSource | None = None

    def tile_origin(self) -> str | None:
        """The origin the tiles come from, when it is not this site (the page's img-src must allow it)."""
        if self.tiles is None:
            return None
        parts = urlsplit(self.tiles.url_template)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


@dataclass(frozen=True)
class StaffMap:
    rendered: RenderedMap
    unplaced: dict[str, int]


def staff_map(
    db: Session,
    clock: Clock,
    principal: Principal,
    cfg: MapSettings,
    *,
    matrix: RiskMatrix,
    lang: Lang,
    editable: bool,
    page_data: dict[str, object],
    page_scripts: tuple[str, ...] = (),
) -> StaffMap:
    """The internal map of what the caller may see; `page_data` is handed to the page's script in a data attribute."""
    base, places = service.campus(cfg.directory)
    content = service.internal_content(db, clock, principal, matrix=matrix, places=places, lang=lang, tz=cfg.tz)
    rendered = render_internal(
        hazards=content.hazards,
        zones=content.zones,
        incidents=content.incidents,
        heat=content.heat,
        base=base,
        lang=lang,
        tiles=cfg.tiles,
        editable=editable,
        page_scripts=page_scripts,
        labels=service.campus_labels(base, places, lang),
    )
    data = {**page_data, "unplaced": content.unplaced}
    holder = f"<div id=\"riskmap-page\" hidden data-page='{_attr(json.dumps(data, ensure_ascii=False))}'></div>"
    html = rendered.html.replace("</body>", holder + "</body>", 1)
    return StaffMap(RenderedMap(html=html, script_hashes=rendered.script_hashes), content.unplaced)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")


def public_map(db: Session, cfg: MapSettings, lang: Lang) -> str:
    """The students' map: public zones, safety tips, the campus; one self-contained HTML document."""
    base, places = service.campus(cfg.directory)
    return render_public(
        zones=service.public_zones(db, lang),
        tips=service.public_tips(db, lang),
        base=base,
        lang=lang,
        title=PUBLIC_TITLE[lang],
        labels=service.campus_labels(base, places, lang),
    )


def public_policy(html: str, base_policy: str) -> str:
    """A Content-Security-Policy for serving the public document: its own inline scripts and styles only."""
    return RenderedMap(html=html, script_hashes=assets.script_hashes(html)).content_security_policy(base_policy)
