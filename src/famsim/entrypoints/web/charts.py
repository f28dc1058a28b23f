"""Charts drawn on the server as SVG: no charting library, no script, readable without.

Each chart is a small ``<svg role="img">`` with an ``aria-label`` that says in words what
it shows, so a screen reader gets the figure, not the geometry. Every text placed in the
SVG is escaped here. Drawing coordinates are floats; the figures they picture stay
integers until this point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

WARN_PERCENT = 75
ALERT_PERCENT = 90


def level(used: int, total: int | None) -> str:
    """``ok``, ``warn`` or ``alert``: the colour class of a share of an allowance."""
    if not total:
        return "ok"
    share = used * 100 // total
    return "alert" if share >= ALERT_PERCENT else "warn" if share >= WARN_PERCENT else "ok"


def share(used: int, total: int | None) -> int:
    """Whole percent of *total* used, 0..100 (unlimited shows 0)."""
    if not total:
        return 0
    return min(100, used * 100 // total)


def gauge(used: int, reserved: int, total: int | None, *, label: str, caption: str) -> str:
    """A ring: the used part of the pool, then what live sessions hold reserved."""
    radius, width = 42.0, 12.0
    circumference = 2 * 3.141592653589793 * radius
    used_part = 0.0 if not total else min(1.0, used / total)
    held_part = 0.0 if not total else min(1.0 - used_part, reserved / total)
    colour = level(used, total)
    rings = [
        f'<circle class="track" cx="60" cy="60" r="{radius}" stroke-width="{width}"/>',
        _arc("used " + colour, radius, width, circumference, used_part, 0.0),
        _arc("held", radius, width, circumference, held_part, used_part),
    ]
    return (
        f'<svg class="gauge" viewBox="0 0 120 120" role="img" aria-label="{escape(label)}">'
        + "".join(rings)
        + f'<text x="60" y="66" text-anchor="middle" class="gauge-figure">{escape(caption)}</text>'
        + "</svg>"
    )


def _arc(kind: str, radius: float, width: float, whole: float, part: float, start: float) -> str:
    if part <= 0:
        return ""
    return (
        f'<circle class="{kind}" cx="60" cy="60" r="{radius}" stroke-width="{width}" '
        f'stroke-dasharray="{whole * part:.2f} {whole:.2f}" '
        f'stroke-dashoffset="{-whole * start:.2f}" transform="rotate(-90 60 60)"/>'
    )


@dataclass(frozen=True, slots=True)
class CycleSeries:
    """Cumulative usage by day over a cycle, and where the current pace would end it."""

    start: date
    end: date  # exclusive
    points: Sequence[tuple[date, int]]  # (day, cumulative units at the end of that day)
    total: int | None  # the allowance, None if unlimited
    projected: int | None  # cumulative units at the cycle's end at the current pace


def cycle_chart(series: CycleSeries, *, label: str, axis: Sequence[str], limit_text: str) -> str:
    """Usage over the cycle: a solid line to today, dashed to the projected end, and the
    allowance as a horizontal rule. *axis* holds the texts of the start, middle and end
    dates; *limit_text* labels the rule."""
    width, height, left, right, top, bottom = 640.0, 220.0, 8.0, 8.0, 18.0, 26.0
    days = max(1, (series.end - series.start).days)
    peak = max(
        [series.total or 0, series.projected or 0] + [units for _, units in series.points] + [1]
    )

    def x(day_index: float) -> float:
        return left + (width - left - right) * day_index / days

    def y(units: int) -> float:
        return top + (height - top - bottom) * (1 - units / peak)

    parts = [
        f'<line class="axis" x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}"/>'
    ]
    if series.total:
        parts.append(
            f'<line class="limit" x1="{left}" y1="{y(series.total):.1f}" '
            f'x2="{width - right}" y2="{y(series.total):.1f}"/>'
            f'<text class="limit-text" x="{width - right}" y="{y(series.total) - 4:.1f}" '
            f'text-anchor="end">{escape(limit_text)}</text>'
        )
    path = [(x(0), y(0))] + [
        (x((day - series.start).days + 1), y(units)) for day, units in series.points
    ]
    parts.append(
        '<polyline class="usage" points="' + " ".join(f"{a:.1f},{b:.1f}" for a, b in path) + '"/>'
    )
    if series.projected is not None and series.points:
        last_x, last_y = path[-1]
        parts.append(
            f'<line class="forecast" x1="{last_x:.1f}" y1="{last_y:.1f}" '
            f'x2="{x(days):.1f}" y2="{y(series.projected):.1f}"/>'
        )
    ticks = (0.0, days / 2, float(days))
    for text, at, anchor in zip(axis, ticks, ("start", "middle", "end"), strict=True):
        parts.append(
            f'<text class="tick" x="{x(at):.1f}" y="{height - 6}" text-anchor="{anchor}">'
            f"{escape(text)}</text>"
        )
    return (
        f'<svg class="cycle-chart" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="none">' + "".join(parts) + "</svg>"
    )
