"""HTML views of candidates and runs for the ZenML dashboard (no plotting dependency: inline SVG)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from instructzero.search.history import History

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


def _ticks(high: float, n: int = 5) -> list[float]:
    """About `n` round tick values from 0 to `high` (1, 2 or 5 times a power of ten apart)."""
    if high <= 0:
        return [0.0]
    raw = high / n
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [k * step for k in range(int(high / step + 1e-9) + 1)]


def history_points(history: History) -> list[tuple[float, float, int]]:
    """(black-box calls so far, validation score, round) of every scored instruction.

    A batch's calls are spread evenly over its instructions in order (the scorer pays
    for a batch at once); instructions answered from the cache cost nothing.
    """
    points, calls = [], 0.0
    for batch in history.batches:
        n = len(batch.instructions)
        for i, score in enumerate(batch.means if n else []):
            points.append((calls + batch.spend.calls * (i + 1) / n, float(score), batch.round))
        calls += batch.spend.calls
    return points


def history_plot(history: History, width: int = 560, height: int = 300) -> str:
    """Inline SVG: each scored instruction as a dot (validation score against black-box calls), the
    best-so-far line, dashed round boundaries and ticks on both axes."""
    points = history_points(history)
    if not points:
        return "<p>no evaluations yet</p>"
    left, right, top, bottom = 48, 16, 16, 40
    max_calls = max(max(c for c, _, _ in points), 1.0)
    x = lambda c: left + (width - left - right) * c / max_calls  # noqa: E731
    y = lambda s: height - bottom - (height - top - bottom) * s  # noqa: E731
    parts = [f'<line x1="{left}" y1="{y(0)}" x2="{width - right}" y2="{y(0)}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y(0)}" stroke="#333"/>']  # fmt: skip
    for t in _ticks(1.0, 4):
        parts.append(f'<line x1="{left - 4}" y1="{y(t):.1f}" x2="{left}" y2="{y(t):.1f}" stroke="#333"/>'
                     f'<text x="{left - 7}" y="{y(t) + 4:.1f}" text-anchor="end" font-size="10">{t:.2g}</text>')  # fmt: skip
    for t in _ticks(max_calls):
        parts.append(f'<line x1="{x(t):.1f}" y1="{y(0)}" x2="{x(t):.1f}" y2="{y(0) + 4}" stroke="#333"/>'
                     f'<text x="{x(t):.1f}" y="{y(0) + 15}" text-anchor="middle" font-size="10">{t:g}</text>')  # fmt: skip
    calls = 0.0
    for previous, batch in zip(history.batches, history.batches[1:]):  # a boundary where each later round starts
        calls += previous.spend.calls
        parts.append(f'<line x1="{x(calls):.1f}" y1="{top}" x2="{x(calls):.1f}" y2="{y(0)}" stroke="#bbb" '
                     f'stroke-dasharray="4 3"/><text x="{x(calls) + 3:.1f}" y="{top + 9}" font-size="9" '
                     f'fill="#888">r{batch.round}</text>')  # fmt: skip
    line, best = [], -1.0
    for c, s, _ in points:
        if s > best:
            if line:
                line.append(f"{x(c):.1f},{y(best):.1f}")
            best = s
            line.append(f"{x(c):.1f},{y(best):.1f}")
    line.append(f"{x(max_calls):.1f},{y(best):.1f}")
    parts.append(f'<polyline fill="none" stroke="#d62728" stroke-width="2" points="{" ".join(line)}"/>')
    parts += [f'<circle cx="{x(c):.1f}" cy="{y(s):.1f}" r="2.5" fill="#1f77b4" fill-opacity="0.6"/>'
              for c, s, _ in points]  # fmt: skip
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle" font-size="11">'
                 "black-box calls</text>"
                 f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle" '
                 'font-size="11">validation score</text>')  # fmt: skip
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
            f'{"".join(parts)}</svg><p style="font:12px sans-serif">dots: instructions; red: best so far; '
            "dashed: round boundaries</p>")  # fmt: skip
