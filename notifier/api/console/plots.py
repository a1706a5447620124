"""Server-side SVG plots for the dashboard: no JavaScript, no chart library, no CDN."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 180, 36
# Outcomes of an attempt (models.DeliveryAttempt.outcome), drawn bottom to top.
OUTCOME_COLOURS = {
    "sent": "#2e7d32",
    "failed": "#c62828",
    "timeout": "#ef6c00",
    "nothing_sent": "#6a1b9a",
    "lost": "#455a64",
}


def _frame(title: str, y_max: float, y_label: str, body: list[str], legend: list[str]) -> Markup:
    inner_h = HEIGHT - 2 * PAD
    axis = [
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#555"/>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 8}" y2="{HEIGHT - PAD}" '
        'stroke="#555"/>',
        f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end" font-size="10">'
        f"{escape(_short(y_max))}</text>",
        f'<text x="{PAD - 4}" y="{PAD + inner_h}" text-anchor="end" font-size="10">0</text>',
        f'<text x="{PAD}" y="{PAD - 20}" font-size="11" fill="#333">{escape(y_label)}</text>',
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="plot"><title>{escape(title)}</title>',
        *axis,
        *body,
        *legend,
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704  # every text inside is escaped above


def _short(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:,.1f}"


def _legend(items: list[tuple[str, str]]) -> list[str]:
    out = []
    for i, (label, colour) in enumerate(items):
        x = PAD + 110 * i
        out.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="10">{escape(label)}</text>'
        )
    return out


def deliveries_chart(series: list[dict[str, Any]], title: str, labels: dict[str, str]) -> Markup:
    """Stacked bars: delivery attempts per minute, by outcome."""
    totals = [sum(point["outcomes"].values()) for point in series]
    y_max = max([*totals, 1])
    inner_w, inner_h = WIDTH - PAD - 8, HEIGHT - 2 * PAD
    bar_w = inner_w / max(len(series), 1)
    body = []
    for i, point in enumerate(series):
        y = HEIGHT - PAD
        for outcome, colour in OUTCOME_COLOURS.items():
            count = point["outcomes"].get(outcome, 0)
            if not count:
                continue
            h = inner_h * count / y_max
            y -= h
            body.append(
                f'<rect x="{PAD + i * bar_w:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{colour}" data-outcome="{outcome}" data-count="{count}">'
                f"<title>{point['start']:%H:%M} {escape(labels.get(outcome, outcome))}: "
                f"{count}</title></rect>"
            )
    legend = _legend([(labels.get(o, o), c) for o, c in OUTCOME_COLOURS.items()])
    return _frame(title, y_max, labels.get("per_minute", ""), body, legend)


def latency_chart(series: list[dict[str, Any]], title: str, labels: dict[str, str]) -> Markup:
    """Two lines: p50 and p99 of event received → delivered, in milliseconds."""
    values = [p[k] for p in series for k in ("p50_ms", "p99_ms") if p[k] is not None]
    y_max = max([*values, 1.0])
    inner_w, inner_h = WIDTH - PAD - 8, HEIGHT - 2 * PAD
    step = inner_w / max(len(series) - 1, 1)
    body = []
    for key, colour in (("p50_ms", "#1565c0"), ("p99_ms", "#c62828")):
        points = [
            (PAD + i * step, HEIGHT - PAD - inner_h * p[key] / y_max)
            for i, p in enumerate(series)
            if p[key] is not None
        ]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                f'data-series="{key}"/>'
            )
            body.extend(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points
            )
    legend = _legend([(labels["p50"], "#1565c0"), (labels["p99"], "#c62828")])
    return _frame(title, y_max, labels.get("ms", "ms"), body, legend)
