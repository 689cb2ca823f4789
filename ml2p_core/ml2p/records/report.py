"""Showing a :class:`~ml2p.records.diff.DiffReport`: a text table, and one offline HTML page.

The HTML page is self-contained (inline CSS and SVG, no script, nothing
fetched from the network) so that a reviewer can open it from a ticket or a
mail: per field, a histogram of the deltas of the records that changed, and
the most changed records with their old and new values side by side.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from ml2p.records.diff import DiffReport, FieldDiff

__all__ = ["html_page", "summary_line", "text_table"]

_NUMBER_COLUMNS = ("mean", "max", "p50", "p90", "p99")


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= width else text[: width - 1] + "…"


def summary_line(report: DiffReport, target: str) -> str:
    """One sentence: how many records were replayed against ``target`` and how many changed."""
    share = f" ({100 * report.changed / report.replayed:.1f}%)" if report.replayed else ""
    text = (
        f"replayed {report.replayed} records against {target}: "
        f"{report.changed} changed{share}, {report.errors} answered with an error"
    )
    if report.failed:
        text += f", {report.failed} not replayed (could not be sent; run again to retry them)"
    return text


def _field_row(field: FieldDiff) -> list[str]:
    stats = field.quantiles()
    values = {"mean": field.mean(), **stats}
    return [
        field.name,
        field.kind,
        str(field.compared),
        str(field.changed),
        *(_number(values.get(column)) for column in _NUMBER_COLUMNS),
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return lines


def text_table(report: DiffReport, target: str) -> str:
    """The report as text: a summary, a row per field, the most changed records per field."""
    lines = [summary_line(report, target)]
    for message, count in report.error_messages.most_common(5):
        lines.append(f"  {count} x error: {message}")
    for message, count in report.failure_messages.most_common(3):
        lines.append(f"  {count} x not sent: {message}")
    fields = report.sorted_fields()
    if fields:
        lines.append("")
        header = ["field", "kind", "records", "changed", "mean Δ", "max |Δ|"]
        header += ["p50 |Δ|", "p90 |Δ|", "p99 |Δ|"]
        lines.extend(_table(header, [_field_row(f) for f in fields]))
    for field in fields:
        changed = field.most_changed()
        if not changed:
            continue
        lines.append("")
        lines.append(f"most changed: {field.name}")
        rows = [
            [record_id, _short(old), _short(new), _number(delta)]
            for record_id, old, new, delta in changed
        ]
        lines.extend("  " + line for line in _table(["id", "old", "new", "Δ"], rows))
    return "\n".join(lines) + "\n"


# -- HTML ----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top;font-size:.9em}th{background:#f4f4f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{margin:0;white-space:pre-wrap;word-break:break-all;max-width:40em}
.old{background:#fff0f0}.new{background:#f0fff0}.note{color:#666;font-size:.85em}
svg text{font-size:10px;fill:#444}
"""


def histogram_svg(
    deltas: Sequence[float], bins: int = 24, width: int = 480, height: int = 140
) -> str:
    """An inline SVG histogram of ``deltas`` (an empty string when there are none)."""
    if not deltas:
        return ""
    low, high = min(deltas), max(deltas)
    span = high - low
    counts = [0] * bins
    for delta in deltas:
        index = int((delta - low) / span * bins) if span > 0 else bins // 2
        counts[min(index, bins - 1)] += 1
    tallest = max(counts)
    plot_height = height - 30
    bar = (width - 20) / bins
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f"<title>{len(deltas)} deltas from {_number(low)} to {_number(high)}</title>",
        f'<line x1="10" y1="{plot_height + 5}" x2="{width - 10}" y2="{plot_height + 5}" '
        'stroke="#888" />',
    ]
    for index, count in enumerate(counts):
        if not count:
            continue
        h = max(1.0, plot_height * count / tallest)
        x = 10 + index * bar
        lo = low + span * index / bins
        parts.append(
            f'<rect x="{x:.1f}" y="{plot_height + 5 - h:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="#4a7ebb"><title>{count} from {_number(lo)}</title></rect>'
        )
    parts.append(f'<text x="10" y="{height - 8}">{html.escape(_number(low))}</text>')
    parts.append(
        f'<text x="{width - 10}" y="{height - 8}" text-anchor="end">'
        f"{html.escape(_number(high))}</text>"
    )
    parts.append(f'<text x="{width / 2:.0f}" y="12" text-anchor="middle">max {tallest}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _pre(value: Any, css: str) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    return f'<td class="{css}"><pre>{html.escape(text)}</pre></td>'


def _field_section(field: FieldDiff, tolerance: float) -> str:
    out = [f"<h2>{html.escape(field.name)}</h2>"]
    row = _field_row(field)
    out.append(
        f"<p>{field.changed} of {field.compared} records changed ({html.escape(field.kind)})"
        + (
            f"; mean Δ {row[4]}, max |Δ| {row[5]}, p50 {row[6]}, p90 {row[7]}, p99 {row[8]}"
            if field.numbers
            else ""
        )
        + ".</p>"
    )
    moved = [d for d in field.deltas if abs(d) > tolerance]
    if moved:
        unchanged = len(field.deltas) - len(moved)
        out.append(histogram_svg(moved))
        out.append(
            f'<p class="note">Deltas (new - old) of the {len(moved)} changed records; '
            f"{unchanged} unchanged not shown.</p>"
        )
    changed = field.most_changed()
    if changed:
        out.append("<table><tr><th>id</th><th>old</th><th>new</th><th>Δ</th></tr>")
        for record_id, old, new, delta in changed:
            out.append(
                f"<tr><td>{html.escape(record_id)}</td>{_pre(old, 'old')}{_pre(new, 'new')}"
                f'<td class="n">{html.escape(_number(delta))}</td></tr>'
            )
        out.append("</table>")
    return "\n".join(out)


def html_page(report: DiffReport, target: str, title: str) -> str:
    """The report as one self-contained HTML page (no scripts, styles or images from elsewhere)."""
    fields = report.sorted_fields()
    rows = "\n".join(
        "<tr>" + "".join(
            f'<td class="n">{html.escape(c)}</td>' if i > 1 else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(_field_row(f))
        ) + "</tr>"
        for f in fields
    )  # fmt: skip
    errors = "".join(
        f"<li>{count} x {html.escape(message)}</li>"
        for message, count in report.error_messages.most_common(20)
    )
    head = ["field", "kind", "records", "changed", "mean Δ", "max |Δ|", "p50 |Δ|", "p90 |Δ|"]
    head.append("p99 |Δ|")
    sections = "\n".join(_field_section(f, report.tolerance) for f in fields if f.changed)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8" />'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f"<p>{html.escape(summary_line(report, target))}.</p>\n"
        + (f"<ul>{errors}</ul>\n" if errors else "")
        + "<table><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + f"</tr>\n{rows}\n</table>\n{sections}\n</body></html>\n"
    )
