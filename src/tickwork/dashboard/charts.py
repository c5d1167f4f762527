"""Charts as inline SVG, drawn on the server: a sparkline of a job's recent runs and a line
chart of their durations with the p50/p95 of the rollups. Pure functions of their input;
colours come from CSS classes (``ok``/``bad``/``warn``/``muted``) so both colour schemes apply,
and every chart says what it shows in an ``aria-label`` (and each dot of the duration chart in
a ``<title>``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from markupsafe import Markup, escape

from tickwork.dashboard.present import duration, tone, when

SPARK_SLOTS = 60  # one bar per run; fewer runs leave the left end empty
SPARK_BAR = 4  # width of a slot in px (3 of bar, 1 of gap)
SPARK_HEIGHT = 24
MIN_BAR = 2  # a run that took no time still shows


class Mark(NamedTuple):
    """One run in a chart: when it started, how long it took, its status, its hover text. (A
    tuple: a list page makes 3,000 of them, and a frozen dataclass costs 5x more to build.)"""

    started_at: datetime
    seconds: float
    status: str
    title: str


def mark_of(run_id: int, status: str, started_at: datetime, seconds: float) -> Mark:
    """The mark of a run, titled with its ID, status, duration and start."""
    title = f"run {run_id}: {status}, {duration(seconds)}, {when(started_at)} UTC"
    return Mark(started_at, seconds, status, title)


def sparkline(runs: Sequence[tuple[str, float]], *, slots: int = SPARK_SLOTS) -> Markup:
    """Bars of the last ``slots`` runs given as (status, seconds), oldest first (newest at the
    right), each as tall as its duration relative to the longest, coloured by status: one
    path per colour, not an element per run, as a jobs page draws 3,000 bars (the runs one by
    one, with their titles, are on the job's page). Screen readers read the summary."""
    shown = list(runs)[-slots:]
    width = slots * SPARK_BAR
    label = _summary([status for status, _ in shown])
    parts = [
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{SPARK_HEIGHT}" viewBox="0 0 {width} {SPARK_HEIGHT}" role="img" '
        f'aria-label="{escape(label)}">'
    ]
    longest = max((seconds for _, seconds in shown), default=0.0)
    scale = SPARK_HEIGHT / longest if longest > 0 else 0.0
    paths: dict[str, list[str]] = {}
    x = (slots - len(shown)) * SPARK_BAR
    for status, seconds in shown:
        height = max(MIN_BAR, seconds * scale)
        # A bar: from its top left, right by its width, down to the axis, back, closed.
        paths.setdefault(tone(status), []).append(
            f"M{x} {SPARK_HEIGHT - height:.1f}h{SPARK_BAR - 1}V{SPARK_HEIGHT}h-{SPARK_BAR - 1}z"
        )
        x += SPARK_BAR
    parts += [f'<path class="{cls}" d="{"".join(d)}"/>' for cls, d in paths.items()]
    parts.append("</svg>")
    return Markup("".join(parts))


def _summary(statuses: Sequence[str]) -> str:
    if not statuses:
        return "no runs yet"
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda c: -c[1]))
    return f"last {len(statuses)} runs: {said}"


# The duration chart's frame: room on the left for the axis labels, below for the times.
CHART_WIDTH = 640
CHART_HEIGHT = 180
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 44, 10, 24


def duration_chart(
    marks: Sequence[Mark], *, p50: float | None = None, p95: float | None = None
) -> Markup:
    """Durations of ``marks`` (oldest first) as a line with a dot per run, over a time axis,
    with dashed lines at ``p50`` and ``p95`` (from the rollups) when given."""
    label = _chart_summary(marks, p50, p95)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" '
        f'height="{CHART_HEIGHT}" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" '
        f'aria-label="{escape(label)}">'
    ]
    if not marks:
        parts.append(f'<text x="{_LEFT}" y="{CHART_HEIGHT // 2}">no runs to chart</text></svg>')
        return Markup("".join(parts))
    top = max([m.seconds for m in marks] + [v for v in (p50, p95) if v is not None]) or 1.0
    plot_w = CHART_WIDTH - _LEFT - _RIGHT
    plot_h = CHART_HEIGHT - _TOP - _BOTTOM
    first, last = marks[0].started_at, marks[-1].started_at
    span = (last - first).total_seconds()

    def x_of(at: datetime) -> float:
        return _LEFT + (plot_w * (at - first).total_seconds() / span if span > 0 else plot_w / 2)

    def y_of(seconds: float) -> float:
        return _TOP + plot_h * (1 - seconds / top)

    bottom = _TOP + plot_h
    parts.append(
        f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + plot_w}" y2="{bottom}"/>'
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}"/>'
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end">{escape(duration(top))}</text>'
        f'<text x="{_LEFT - 4}" y="{bottom}" text-anchor="end">0s</text>'
        f'<text x="{_LEFT}" y="{CHART_HEIGHT - 6}">{escape(when(first))}</text>'
        f'<text x="{_LEFT + plot_w}" y="{CHART_HEIGHT - 6}" text-anchor="end">'
        f"{escape(when(last))}</text>"
    )
    for name, value in (("p50", p50), ("p95", p95)):
        if value is None:
            continue
        y = y_of(value)
        parts.append(
            f'<line class="{name}" x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}">'
            f"<title>{name} {escape(duration(value))}</title></line>"
            f'<text x="{_LEFT + plot_w + 4}" y="{y + 3:.1f}">{name}</text>'
        )
    points = " ".join(f"{x_of(m.started_at):.1f},{y_of(m.seconds):.1f}" for m in marks)
    parts.append(f'<polyline class="line" points="{points}"/>')
    for m in marks:
        parts.append(
            f'<circle class="{tone(m.status)}" cx="{x_of(m.started_at):.1f}" '
            f'cy="{y_of(m.seconds):.1f}" r="3"><title>{escape(m.title)}</title></circle>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _chart_summary(marks: Sequence[Mark], p50: float | None, p95: float | None) -> str:
    if not marks:
        return "durations: no runs yet"
    longest = max(m.seconds for m in marks)
    text = f"durations of the last {len(marks)} runs, longest {duration(longest)}"
    if p50 is not None:
        text += f"; p50 {duration(p50)}"
    if p95 is not None:
        text += f", p95 {duration(p95)}"
    return text
