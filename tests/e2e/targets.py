"""What a browser test measures of a page's tap targets: every visible control at least 44×44 CSS px.

The rule: every link, button, input, select, textarea, summary and element made focusable or given a
control's role has a box at least 44 px high and 44 px wide. A checkbox, radio or file input counts with
its label (a tap on the label works it). Exempt: a link inside running text (displayed inline, in a block
that has words of its own outside any control), as WCAG 2.5.5 exempts inline targets, since the line's
height bounds it; and what a map draws on itself (markers and shapes are the map's content, picked on the
map), though the map's own controls are not exempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page

MIN_TARGET = 44

# Returns [{what, width, height}] for every visible control under the minimum.
_MEASURE = """
(min) => {
  const controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
    + '[role=button], [role=link], [role=checkbox], [role=tab], [role=menuitem], [tabindex]:not([tabindex="-1"])';
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width <= 0 || box.height <= 0 || style.visibility === 'hidden' || style.display === 'none') return false;
    // Inside a closed <details> only its summary shows.
    for (let shut = el.closest('details:not([open])'); shut; shut = shut.parentElement.closest('details:not([open])')) {
      const summary = shut.querySelector(':scope > summary');
      if (!summary || !summary.contains(el)) return false;
    }
    return true;
  };
  const blockOf = (el) => {
    let node = el.parentElement;
    while (node && getComputedStyle(node).display.startsWith('inline')) node = node.parentElement;
    return node;
  };
  const inRunningText = (el) => {
    if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
    const block = blockOf(el);
    if (!block) return false;
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    let own = '';
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.parentElement.closest('a, button, label, select, summary')) own += node.textContent;
    }
    return /\\p{L}/u.test(own);
  };
  const boxOf = (el) => {
    let box = el.getBoundingClientRect();
    if (['checkbox', 'radio', 'file'].includes(el.type) && el.labels) {
      for (const label of el.labels) {
        const l = label.getBoundingClientRect();
        if (l.width * l.height > box.width * box.height) box = l;
      }
    }
    return box;
  };
  const describe = (el) => {
    const id = el.id ? '#' + el.id : '';
    const cls = typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    const words = el.textContent || el.value || el.getAttribute('aria-label') || el.name || '';
    const text = words.trim().replace(/\\s+/g, ' ').slice(0, 30);
    return `${el.tagName.toLowerCase()}${id}${cls}${el.type ? '[' + el.type + ']' : ''} "${text}"`;
  };
  const small = [];
  for (const el of document.querySelectorAll(controls)) {
    if (!shown(el) || el.closest('.leaflet-map-pane')) continue;
    if (el.matches('.leaflet-container')) continue;
    if (inRunningText(el)) continue;
    const box = boxOf(el);
    if (box.height < min - 0.5 || box.width < min - 0.5) {
      small.push({ what: describe(el), width: Math.round(box.width * 10) / 10, height: Math.round(box.height * 10) / 10 });
    }
  }
  return small;
}
"""


@dataclass(frozen=True)
class SmallTarget:
    """A control whose box is under the minimum, as the test reports it."""

    what: str
    width: float
    height: float

    def __str__(self) -> str:
        return f"{self.what}: {self.width}×{self.height}"


def small_targets(page: Page) -> list[SmallTarget]:
    """Every visible control of the page under 44×44 CSS px, but for the exemptions above."""
    return [SmallTarget(**found) for found in page.evaluate(_MEASURE, MIN_TARGET)]
