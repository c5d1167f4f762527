"""The dashboard's SVG charts, parsed as XML: one bar or dot per run, classes by status,
hover titles on the duration chart's dots, summaries for screen readers, the p50/p95 lines."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from tickwork.dashboard.charts import (
    SPARK_HEIGHT,
    SPARK_SLOTS,
    Mark,
    duration_chart,
    mark_of,
    sparkline,
)
from tickwork.domain.jobs import RunStatus

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def marks(durations: list[float], statuses: list[str] | None = None) -> list[Mark]:
    statuses = statuses or ["succeeded"] * len(durations)
    return [
        mark_of(i + 1, status, T0 + timedelta(minutes=i), seconds)
        for i, (seconds, status) in enumerate(zip(durations, statuses, strict=True))
    ]


def bars_of(svg: ET.Element) -> list[tuple[float, float, str]]:
    """The sparkline's bars as (x, height, class), left to right, from its paths' ``M x y``
    starts (each bar reaches down to the axis)."""
    bars = []
    for path in svg.findall(f"{SVG}path"):
        for x, y in re.findall(r"M(\d+) ([\d.]+)h", path.get("d", "")):
            bars.append((float(x), SPARK_HEIGHT - float(y), path.get("class", "")))
    return sorted(bars)


def test_a_sparkline_has_a_bar_per_run_coloured_by_status() -> None:
    svg = ET.fromstring(
        str(sparkline([("succeeded", 1.0), ("failed", 4.0), (RunStatus.INTERRUPTED, 2.0)]))
    )
    bars = bars_of(svg)
    assert [cls for _, _, cls in bars] == ["ok", "bad", "warn"]
    heights = [h for _, h, _ in bars]
    assert heights[1] == SPARK_HEIGHT  # the longest run is full height
    assert heights[0] < heights[2] < heights[1]
    # One path per colour, not an element per run.
    assert sorted(p.get("class", "") for p in svg.findall(f"{SVG}path")) == ["bad", "ok", "warn"]
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == "last 3 runs: 1 succeeded, 1 failed, 1 interrupted"
    # Newest at the right edge: the last slot is the last run's.
    assert bars[-1][0] == (SPARK_SLOTS - 1) * 4


def test_a_sparkline_keeps_the_last_sixty_runs_and_shows_instant_ones() -> None:
    runs = [("failed", 0.0)] * 15 + [("succeeded", 0.0)] * 60
    svg = ET.fromstring(str(sparkline(runs)))
    bars = bars_of(svg)
    assert len(bars) == SPARK_SLOTS
    assert {cls for _, _, cls in bars} == {"ok"}  # the 15 oldest left out
    assert all(h > 0 for _, h, _ in bars)


def test_an_empty_sparkline_says_so() -> None:
    svg = ET.fromstring(str(sparkline([])))
    assert svg.findall(f"{SVG}path") == []
    assert svg.get("aria-label") == "no runs yet"


def test_titles_are_escaped() -> None:
    odd = Mark(T0, 1.0, "failed", '<b>"x" & y</b>')
    svg = ET.fromstring(str(duration_chart([odd])))
    assert svg.findtext(f"{SVG}circle/{SVG}title") == '<b>"x" & y</b>'


def test_a_duration_chart_has_dots_a_line_and_dashed_percentiles() -> None:
    svg = ET.fromstring(
        str(
            duration_chart(
                marks([1.0, 3.0, 2.0], ["succeeded", "failed", "succeeded"]), p50=2.0, p95=6.0
            )
        )
    )
    dots = svg.findall(f"{SVG}circle")
    assert [d.get("class") for d in dots] == ["ok", "bad", "ok"]
    assert len(svg.findall(f"{SVG}polyline")) == 1
    lines = {ln.get("class"): ln for ln in svg.findall(f"{SVG}line")}
    assert {"p50", "p95", "axis"} <= set(lines)
    # p95 is above p50 (smaller y), and the top of the axis is the largest value: p95.
    assert float(lines["p95"].get("y1", "0")) < float(lines["p50"].get("y1", "0"))
    labels = [t.text for t in svg.findall(f"{SVG}text")]
    assert "6s" in labels and "0s" in labels and "p50" in labels and "p95" in labels
    assert "2026-12-07 09:00:00" in labels and "2026-12-07 09:02:00" in labels
    assert svg.get("aria-label") == "durations of the last 3 runs, longest 3s; p50 2s, p95 6s"
    # Later runs lie further right.
    xs = [float(d.get("cx", "0")) for d in dots]
    assert xs == sorted(xs) and xs[0] < xs[-1]


def test_a_duration_chart_without_runs_says_so() -> None:
    svg = ET.fromstring(str(duration_chart([], p50=None, p95=None)))
    assert svg.findall(f"{SVG}circle") == []
    assert svg.findtext(f"{SVG}text") == "no runs to chart"
