"""Small inline SVG charts (no script, no external file): bars, stacked bars, a line over bars."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 24, 40
BLUE, RED, GREY = "#3b6fb6", "#c8553d", "#888"


def _frame(title: str, y_label: str, y_max: float, x_label: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{WIDTH / 2}" y="14" text-anchor="middle" font-size="13">{escape(title)}</text>',
    ]
    for step in range(5):
        value = y_max * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{value:.3g}</text>')
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2}" transform="rotate(-90 12 {TOP + plot_h / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    parts.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle">{escape(x_label)}</text>'
    )
    return parts


def bars(
    title: str,
    values: Sequence[float],
    *,
    y_label: str,
    x_label: str,
    y_max: float,
    ticks: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    colour: str = BLUE,
) -> str:
    """One bar per value (``names``: a tooltip each)."""
    return stacked(title, [values], [colour], y_label=y_label, x_label=x_label, y_max=y_max, ticks=ticks, names=names)


def stacked(
    title: str,
    series: Sequence[Sequence[float]],
    colours: Sequence[str],
    *,
    y_label: str,
    x_label: str,
    y_max: float,
    ticks: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    legend: Sequence[str] = (),
    line: Sequence[float | None] | None = None,
) -> str:
    """Bars stacked from ``series``; ``line``: a second series drawn as points joined by a line."""
    y_max = y_max or 1.0
    parts = _frame(title, y_label, y_max, x_label)
    count = max((len(s) for s in series), default=0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(count, 1)
    for i in range(count):
        base = 0.0
        for values, colour in zip(series, colours, strict=True):
            value = float(values[i])
            height = plot_h * value / y_max
            y = TOP + plot_h - plot_h * base / y_max - height
            tip = f"<title>{escape(names[i])}: {value:g}</title>" if names else f"<title>{value:g}</title>"
            parts.append(
                f'<rect x="{LEFT + i * slot + slot * 0.1:.2f}" y="{y:.2f}" width="{max(slot * 0.8, 0.5):.2f}" '
                f'height="{height:.2f}" fill="{colour}">{tip}</rect>'
            )
            base += value
        if ticks and (count <= 20 or i % max(count // 10, 1) == 0):
            parts.append(
                f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{TOP + plot_h + 14}" '
                f'text-anchor="middle">{escape(ticks[i])}</text>'
            )
    if line is not None:
        points = [
            (LEFT + (i + 0.5) * slot, TOP + plot_h - plot_h * v / y_max) for i, v in enumerate(line) if v is not None
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{GREY}" stroke-dasharray="4 3"/>')
    for k, (name, colour) in enumerate(zip(legend, [*colours, GREY], strict=False)):
        x = WIDTH - RIGHT - 150
        parts.append(
            f'<rect x="{x}" y="{TOP + 4 + 14 * k}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{TOP + 13 + 14 * k}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
