"""The dependency graph as inline SVG, drawn on the server: one box per job (a link to its page),
columns by the longest chain of upstreams, an arrow per dependency (solid: ``after``, dashed:
released on failure or any end, dotted: ``requires``). A pure function of the view; colours
come from CSS classes, and the figure says what it shows in an ``aria-label`` (a ``group``, not
an ``img``: its boxes are links)."""

from __future__ import annotations

from urllib.parse import quote

from markupsafe import Markup, escape

from tickwork.domain.dependencies import UpstreamOn
from tickwork.service.dependencies import DependencyView, Link

BOX_WIDTH = 180
BOX_HEIGHT = 30
COLUMN_GAP = 90
ROW_GAP = 24
MARGIN = 12
MAX_LABEL = 24  # characters of a job's name drawn in its box (the whole name in its title)


def _style(link: Link) -> str:
    if link.kind == "requires":
        return "dep requires"
    return "dep" if link.on is UpstreamOn.SUCCESS else f"dep {link.on.value}"


def dependency_svg(view: DependencyView) -> Markup:
    """The graph of ``view``; an empty one draws nothing."""
    if not view.links:
        return Markup("")
    by_column: dict[int, list[str]] = {}
    for name in sorted(view.columns):
        by_column.setdefault(view.columns[name], []).append(name)
    place: dict[str, tuple[int, int]] = {}
    for column in sorted(by_column):
        for row, name in enumerate(by_column[column]):
            x = MARGIN + column * (BOX_WIDTH + COLUMN_GAP)
            y = MARGIN + row * (BOX_HEIGHT + ROW_GAP)
            place[name] = (x, y)
    width = MARGIN * 2 + (max(by_column) + 1) * (BOX_WIDTH + COLUMN_GAP) - COLUMN_GAP
    rows = max(len(names) for names in by_column.values())
    height = MARGIN * 2 + rows * (BOX_HEIGHT + ROW_GAP) - ROW_GAP
    label = f"Dependencies of {len(place)} jobs: {len(view.links)} links"
    parts = [
        f'<svg class="depgraph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="group" '
        f'aria-label="{escape(label)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" '
        'class="arrowhead"/></marker></defs>',
    ]
    for link in view.links:
        if link.upstream not in place or link.downstream not in place:
            continue
        ux, uy = place[link.upstream]
        dx, dy = place[link.downstream]
        x1, y1 = float(ux + BOX_WIDTH), uy + BOX_HEIGHT / 2
        x2, y2 = float(dx), dy + BOX_HEIGHT / 2
        if dx <= ux:  # same column (a required job drawn beside it): from its bottom
            x1, y1 = ux + BOX_WIDTH / 2, float(uy + BOX_HEIGHT)
            x2, y2 = dx + BOX_WIDTH / 2, float(dy)
        middle = (x1 + x2) / 2
        title = f"{link.downstream} {link.label} {link.upstream}"
        parts.append(
            f'<path class="{_style(link)}" marker-end="url(#arrow)" '
            f'd="M{x1:.0f} {y1:.0f}C{middle:.0f} {y1:.0f} {middle:.0f} {y2:.0f} '
            f'{x2:.0f} {y2:.0f}"><title>{escape(title)}</title></path>'
        )
    for name, (x, y) in place.items():
        shown = name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"
        parts.append(
            f'<a href="/jobs/{quote(name, safe="")}"><g class="depnode">'
            f"<title>{escape(name)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="4"/>'
            f'<text x="{x + 8}" y="{y + BOX_HEIGHT / 2 + 4:.0f}">{escape(shown)}</text>'
            "</g></a>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
