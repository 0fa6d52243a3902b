"""HTML views of candidates and runs for the ZenML dashboard (no plotting dependency: inline SVG)."""

from __future__ import annotations

import html
from collections.abc import Sequence

TABLE_STYLE = (
    "<style>table{border-collapse:collapse;font:13px sans-serif}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:left}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}</style>"
)


def candidates_table(rows: Sequence[tuple[int, str, float]], title: str) -> str:
    """(round, instruction, validation score) rows, best first."""
    ordered = sorted(rows, key=lambda r: (-r[2], -r[0]))
    body = "".join(
        f"<tr><td class=num>{i + 1}</td><td class=num>{r}</td><td>{html.escape(v)}</td><td class=num>{s:.3f}</td></tr>"
        for i, (r, v, s) in enumerate(ordered)
    )
    return (
        f"{TABLE_STYLE}<h3>{html.escape(title)}</h3><table><tr><th>#</th><th>round</th><th>instruction</th>"
        f"<th>validation score</th></tr>{body}</table>"
    )


def best_so_far_plot(curve: Sequence[tuple[int, float]], width: int = 480, height: int = 260) -> str:
    """Step plot of best validation score against cumulative black-box calls, as inline SVG."""
    if not curve:
        return "<p>no evaluations yet</p>"
    pad = 40
    max_calls = max(max(c for c, _ in curve), 1)
    x = lambda c: pad + (width - 2 * pad) * c / max_calls  # noqa: E731
    y = lambda s: height - pad - (height - 2 * pad) * s  # noqa: E731
    points, prev = [], None
    for calls, best in curve:
        if prev is not None:
            points.append(f"{x(calls):.1f},{y(prev):.1f}")
        points.append(f"{x(calls):.1f},{y(best):.1f}")
        prev = best
    ticks = "".join(
        f'<text x="{pad - 6}" y="{y(t) + 4:.1f}" text-anchor="end" font-size="10">{t:.1f}</text>'
        for t in (0.0, 0.5, 1.0)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#333"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#333"/>{ticks}'
        f'<text x="{width - pad}" y="{height - pad + 14}" text-anchor="end" font-size="10">{max_calls}</text>'
        f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" font-size="11">black-box calls</text>'
        f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle" '
        f'font-size="11">best validation score</text>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{" ".join(points)}"/></svg>'
    )
