"""The web UI's SVG charts: well-formed, labelled for screen readers, escaped, and calm
about empty, unlimited and degenerate figures."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from famsim.entrypoints.web import charts
from famsim.entrypoints.web.charts import CycleSeries, cycle_chart, gauge, level, share

pytestmark = pytest.mark.unit

HOSTILE = "<script>alert(\"x\")</script> & 'quoted'"
START, END = date(2026, 2, 1), date(2026, 3, 1)
AXIS = ["1 Feb", "15 Feb", "1 Mar"]


def parsed(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    return root


def series(**changes: object) -> CycleSeries:
    values: dict[str, object] = {
        "start": START,
        "end": END,
        "points": [(date(2026, 2, 1), 10), (date(2026, 2, 2), 25), (date(2026, 2, 3), 40)],
        "total": 100,
        "projected": 373,
    }
    values.update(changes)
    return CycleSeries(**values)  # type: ignore[arg-type]


# ================================================================================ level
@pytest.mark.parametrize(
    ("used", "total", "expected"),
    [
        (0, 100, "ok"),
        (74, 100, "ok"),
        (75, 100, "warn"),
        (89, 100, "warn"),
        (90, 100, "alert"),
        (100, 100, "alert"),
        (250, 100, "alert"),
        (749, 1000, "ok"),  # 74.9 %: whole percent, rounded down
        (750, 1000, "warn"),
        (899, 1000, "warn"),
        (900, 1000, "alert"),
        (10**12, None, "ok"),  # unlimited
        (5, 0, "ok"),  # nothing to share
    ],
)
def test_level(used: int, total: int | None, expected: str) -> None:
    assert level(used, total) == expected


def test_level_thresholds_are_the_documented_ones() -> None:
    assert (charts.WARN_PERCENT, charts.ALERT_PERCENT) == (75, 90)


@pytest.mark.parametrize(
    ("used", "total", "expected"),
    [
        (0, 100, 0),
        (74, 100, 74),
        (75, 100, 75),
        (89, 100, 89),
        (90, 100, 90),
        (999, 1000, 99),  # never rounded up to full
        (100, 100, 100),
        (101, 100, 100),  # over the top stays a full bar
        (7, None, 0),
        (7, 0, 0),
        (1, 3, 33),
    ],
)
def test_share(used: int, total: int | None, expected: int) -> None:
    assert share(used, total) == expected


# ================================================================================ gauge
def test_a_gauge_is_an_svg_image_with_its_label() -> None:
    root = parsed(gauge(40, 10, 100, label="Data · home: 40 GB used of 100 GB", caption="40%"))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Data · home: 40 GB used of 100 GB"
    assert root.get("class") == "gauge"
    assert "".join(root.itertext()) == "40%"
    arcs = [c.get("class") for c in root.iter("circle")]
    assert arcs == ["track", "used ok", "held"]


def test_a_gauge_colours_by_level() -> None:
    root = parsed(gauge(95, 0, 100, label="l", caption="c"))
    assert [c.get("class") for c in root.iter("circle")] == ["track", "used alert"]


def test_a_gauge_escapes_its_texts() -> None:
    svg = gauge(1, 0, 10, label=HOSTILE, caption=HOSTILE)
    assert "<script" not in svg
    root = parsed(svg)
    assert root.get("aria-label") == HOSTILE
    assert "".join(root.itertext()) == HOSTILE
    assert not list(root.iter("script"))


@pytest.mark.parametrize(
    ("used", "reserved", "total"),
    [(0, 0, 100), (0, 0, None), (10, 5, None), (0, 0, 0), (150, 20, 100), (100, 0, 100)],
    ids=["empty", "unlimited", "unlimited-used", "zero-total", "over", "full"],
)
def test_a_gauge_of_any_figures_is_well_formed(used: int, reserved: int, total: int | None) -> None:
    root = parsed(gauge(used, reserved, total, label="l", caption="c"))
    for circle in root.iter("circle"):
        dash = circle.get("stroke-dasharray")
        if dash is not None:
            drawn, whole = (float(x) for x in dash.split())
            assert 0 < drawn <= whole + 0.01
    if not total:
        assert [c.get("class") for c in root.iter("circle")] == ["track"]


def test_a_gauge_never_draws_more_than_the_ring() -> None:
    root = parsed(gauge(60, 80, 100, label="l", caption="c"))
    drawn = sum(
        float(c.get("stroke-dasharray", "0 0").split()[0])
        for c in root.iter("circle")
        if c.get("class") != "track"
    )
    whole = float(
        next(c for c in root.iter("circle") if c.get("class") == "held")
        .get("stroke-dasharray", "0 0")
        .split()[1]
    )
    assert drawn == pytest.approx(whole, abs=0.02)


# ========================================================================== cycle chart
def test_a_cycle_chart_is_an_svg_image_with_its_label() -> None:
    root = parsed(cycle_chart(series(), label="Data over the cycle", axis=AXIS, limit_text="100"))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Data over the cycle"
    assert root.get("class") == "cycle-chart"
    kinds = [element.get("class") for element in root]
    assert kinds == ["axis", "limit", "limit-text", "usage", "forecast", "tick", "tick", "tick"]
    ticks = [t.text for t in root.iter("text") if t.get("class") == "tick"]
    assert ticks == AXIS


def test_the_usage_line_starts_at_zero_and_climbs() -> None:
    root = parsed(cycle_chart(series(), label="l", axis=AXIS, limit_text="100"))
    usage = next(e for e in root if e.get("class") == "usage")
    points = [tuple(float(v) for v in p.split(",")) for p in usage.get("points", "").split()]
    assert len(points) == 4  # the cycle's start, then one per day
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert xs == sorted(xs)
    assert ys == sorted(ys, reverse=True)  # SVG y grows downwards: usage only climbs


def test_a_cycle_chart_escapes_every_text() -> None:
    svg = cycle_chart(series(), label=HOSTILE, axis=[HOSTILE] * 3, limit_text=HOSTILE)
    assert "<script" not in svg
    root = parsed(svg)
    assert root.get("aria-label") == HOSTILE
    assert [t.text for t in root.iter("text")] == [HOSTILE] * 4
    assert not list(root.iter("script"))


@pytest.mark.parametrize(
    "changes",
    [
        {"points": [], "projected": None},
        {"points": [], "projected": 50},
        {"total": None},
        {"total": None, "projected": None, "points": []},
        {"end": START},
        {"end": START, "points": [], "total": 0, "projected": 0},
        {"points": [(START, 0)], "total": 0, "projected": 0},
    ],
    ids=[
        "empty",
        "empty-with-forecast",
        "unlimited",
        "unlimited-empty",
        "zero-length",
        "zero-length-empty",
        "all-zero",
    ],
)
def test_a_cycle_chart_of_degenerate_figures_is_well_formed(changes: dict[str, object]) -> None:
    svg = cycle_chart(series(**changes), label="l", axis=AXIS, limit_text="∞")
    root = parsed(svg)
    assert root.get("role") == "img"
    numbers = [
        element.get(name, "0") for element in root for name in ("x", "y", "x1", "y1", "x2", "y2")
    ]
    for element in root:
        if element.get("class") == "usage":
            numbers += element.get("points", "").replace(",", " ").split()
    for number in numbers:
        value = float(number)
        assert math.isfinite(value), number
        assert abs(value) < 10_000, number
    classes = [e.get("class") for e in root]
    assert ("limit" in classes) is bool(series(**changes).total)
    if not series(**changes).points:
        assert "forecast" not in classes
