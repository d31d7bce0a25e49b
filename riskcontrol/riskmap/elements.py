"""The folium pieces the risk maps are built from: layers made by riskMapKit, fixed code, and the finished document."""

from __future__ import annotations

import html as html_text
import json
from collections.abc import Mapping, Sequence

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.plugins import HeatMap
from folium.template import Template

from riskcontrol.riskmap import assets


def to_js(value: object) -> str:
    """`value` as JSON that is safe inside a <script> element (no `</script>`, no `<!--`, no line separators)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_plain)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class Verbatim(Element):
    """Text put into the document exactly as it is."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, **kwargs: object) -> str:
        return self.text


class VerbatimMacro(MacroElement):
    """A MacroElement whose rendered head, body and script parts go into the document as they are.

    branca's own MacroElement wraps each rendered part in `Element(template=part)`, that is, parses our
    output, data included, as a Jinja template a second time: a hazard titled "{{ 7*7 }}" would come out
    as "49", and worse. Rendering our parts verbatim closes that door (and skips compiling 600 KB of
    JSON as a template on every render).
    """

    def render(self, **kwargs: object) -> str:
        figure = self.get_root()
        assert isinstance(figure, Figure)
        macros = self._template.module.__dict__
        for part, target in (("header", figure.header), ("html", figure.html), ("script", figure.script)):
            macro = macros.get(part)
            if macro is not None:
                target.add_child(Verbatim(str(macro(self, kwargs))), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)
        return ""  # like branca's: a macro element's parts went to the figure, nothing renders in place


class KitLayer(JSCSSMixin, Layer, VerbatimMacro):
    """A layer built in the browser by one of riskMapKit's builders (runtime.py) from a JSON payload."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "var {{ this.get_name() }} = riskMapKit.{{ this.builder }}({{ this.payload }}, {{ this._parent.get_name() }});"
        "{% endmacro %}"
    )

    def __init__(
        self,
        builder: str,
        payload: object,
        name: str,
        *,
        needs: tuple[assets.Asset, ...] = (),
        prefix: str = "",
        overlay: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=overlay, control=True, show=True)
        self._name = builder
        self.builder, self.payload = builder, to_js(payload)
        self.default_js, self.default_css = assets.links(needs, prefix)


class Code(MacroElement):
    """Fixed text for the document's head, body and script (given as is: the caller escapes)."""

    _template = Template(
        "{% macro header(this, kwargs) %}{{ this.head }}{% endmacro %}"
        "{% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}"
        "{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}"
    )

    def __init__(self, *, head: str = "", body: str = "", code: str = "") -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "riskmap"
        self.head, self.body, self.code = head, body, code


def heat_layer(data: list[list[float]], name: str, prefix: str, *, max_zoom: int) -> Layer:
    """folium's heat layer over [lat, lon, weight] points, loading the vendored leaflet.heat."""
    # This leaflet.heat scales intensity by the data alone; its maxZoom only tells Leaflet's layer
    # control when to grey the layer out, so it is the map's.
    layer = HeatMap(data, name=name, radius=18, blur=14, min_opacity=0.25, max_zoom=max_zoom)  # type: ignore[no-untyped-call]
    layer.default_js, _ = assets.links((assets.HEAT_JS,), prefix)
    return layer


def figure_of(m: folium.Map) -> Figure:
    figure = m.get_root()
    assert isinstance(figure, Figure)
    return figure


def document(m: folium.Map, lang: str, title: str, page_scripts: Sequence[str] = ()) -> str:
    """The map's whole HTML document, in `lang`, with same-site `page_scripts` loaded after the map's script."""
    figure = figure_of(m)
    figure.title = html_text.escape(title)
    page = figure.render()
    page = page.replace("<html>", f'<html lang="{lang}">', 1)
    tags = "".join(f'<script src="{html_text.escape(url)}"></script>\n' for url in page_scripts)
    head, tail = page.rsplit("</html>", 1)
    return f"{head}{tags}</html>{tail}"
