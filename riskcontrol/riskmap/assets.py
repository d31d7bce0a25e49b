"""The vendored Leaflet files the maps use, as links under /static/vendor or inlined, and CSP hashes of inline scripts."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final, Literal

# Served by the app at /static/vendor (riskcontrol/app.py mounts riskcontrol/web/static at /static).
VENDOR_DIR: Final = Path(__file__).resolve().parent.parent / "web" / "static" / "vendor"


@dataclass(frozen=True)
class Asset:
    """One vendored file: its key in the document head, its path under the vendor folder, and its kind."""

    key: str
    path: str
    kind: Literal["js", "css"]

    def url(self, prefix: str) -> str:
        return f"{prefix.rstrip('/')}/{self.path}"


LEAFLET_JS: Final = Asset("leaflet", "leaflet/leaflet.js", "js")
LEAFLET_CSS: Final = Asset("leaflet_css", "leaflet/leaflet.css", "css")
MARKERCLUSTER_JS: Final = Asset("markercluster_js", "leaflet.markercluster/leaflet.markercluster.js", "js")
MARKERCLUSTER_CSS: Final = Asset("markercluster_css", "leaflet.markercluster/MarkerCluster.css", "css")
HEAT_JS: Final = Asset("leaflet_heat_js", "leaflet.heat/leaflet_heat.min.js", "js")


def links(assets: tuple[Asset, ...], prefix: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """folium's `default_js` and `default_css` lists for `assets` served under `prefix`."""
    js = [(a.key, a.url(prefix)) for a in assets if a.kind == "js"]
    css = [(a.key, a.url(prefix)) for a in assets if a.kind == "css"]
    return js, css


_CSS_URL: Final = re.compile(r"url\((['\"]?)(?P<ref>images/[A-Za-z0-9_.-]+\.png)\1\)")
_CLOSING: Final = re.compile(r"</(script|style)|<!--", re.IGNORECASE)


@cache
def inline(asset: Asset) -> str:
    """The asset as an inline <script> or <style> element; a stylesheet's images become data: URIs."""
    file = VENDOR_DIR / asset.path
    text = file.read_text(encoding="utf-8")
    if asset.kind == "css":

        def embed(match: re.Match[str]) -> str:
            png = (file.parent / match["ref"]).read_bytes()
            return f"url(data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

        text = _CSS_URL.sub(embed, text)
    if _CLOSING.search(text):
        # Inlined as is, such text would end the element early (or open an HTML comment in a script).
        raise ValueError(f"{asset.path} cannot be inlined: it contains a closing tag or '<!--'")
    return f"<script>{text}</script>" if asset.kind == "js" else f"<style>{text}</style>"


_SCRIPT: Final = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.DOTALL | re.IGNORECASE)
_SRC: Final = re.compile(r"\bsrc\s*=", re.IGNORECASE)


def script_hashes(html: str) -> tuple[str, ...]:
    """The CSP source tokens ('sha256-…') of every inline <script> of `html`, each once, in document order."""
    tokens: dict[str, None] = {}
    for match in _SCRIPT.finditer(html):
        if not _SRC.search(match["attrs"]):
            digest = hashlib.sha256(match["body"].encode("utf-8")).digest()
            tokens[f"'sha256-{base64.b64encode(digest).decode('ascii')}'"] = None
    return tuple(tokens)


def script_urls(html: str) -> tuple[str, ...]:
    """The src of every external <script> of `html`."""
    return tuple(re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html, flags=re.IGNORECASE))


def stylesheet_urls(html: str) -> tuple[str, ...]:
    """The href of every <link> of `html`."""
    return tuple(re.findall(r"<link[^>]*\bhref=\"([^\"]+)\"", html, flags=re.IGNORECASE))
