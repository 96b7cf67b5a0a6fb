"""The drift report as one self-contained HTML page: a summary table, then one plot per column.

Each plot is an inline SVG drawn here (no JavaScript, no network, no plotting library): the
baseline's PSI bins side by side, the training share of rows in grey and the live share in blue,
red when the column drifted. The bins are training deciles, so the grey bars are about level and
drift shows as live bars that are not; hovering a bar shows its share and row count (SVG
``<title>``). The page is a few tens of KB and opens from S3 or a local file alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

_W: Final = 420
_H: Final = 222
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 12, 62
_TRAINING: Final = "#94a3b8"
_LIVE: Final = "#2563eb"
_DRIFTED: Final = "#dc2626"

_CSS: Final = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1e293b;background:#f8fafc}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 8px}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;color:#fff;font-size:14px;vertical-align:middle}
.drift{background:#dc2626}.no_drift{background:#16a34a}.insufficient_data{background:#d97706}
.summary{font-size:15px;margin:6px 0 12px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:0;font-size:13px}
dt{color:#64748b}dd{margin:0}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{padding:5px 10px;border-bottom:1px solid #e2e8f0;text-align:right}th{background:#f1f5f9}
td:first-child,th:first-child{text-align:left}
tr.drifted td{background:#fee2e2;font-weight:600}tr.prediction td{border-top:2px solid #94a3b8}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.grid{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:8px}
figure.drifted{border:2px solid #dc2626}figcaption{font-size:13px;margin-bottom:4px}
"""


#: What a cell shows when there is no value (an en dash).
_NONE: Final = "\u2013"


def _number(value: Any, spec: str = ".3g") -> str:
    return _NONE if value is None else format(value, spec)


def _value(value: Any) -> str:
    """A feature value for people: 1,234 rather than 1.23e+03, 3 significant digits below 1,000."""
    if value is None:
        return _NONE
    return f"{value:,.0f}" if abs(value) >= 1_000 else f"{value:.3g}"


def _percent(value: Any) -> str:
    return _NONE if value is None else f"{100 * value:.1f}%"


def _bin_labels(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["all"]
    labels = [f"< {_value(edges[0])}"]
    labels += [f"[{_value(low)}, {_value(high)})" for low, high in itertools.pairwise(edges)]
    return [*labels, f"≥ {_value(edges[-1])}"]


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def histogram_svg(column: Mapping[str, Any]) -> str:
    """One column's training-against-live bar chart over the baseline bins, as an ``<svg>`` element."""
    bins = column["bins"]
    labels = _bin_labels(bins["edges"])
    training, live = _shares(bins["baseline_counts"]), _shares(bins["live_counts"])
    top = max([*training, *live, 0.01])
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    slot = plot_w / len(labels)
    live_colour = _DRIFTED if column["drifted"] else _LIVE
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'font-family="system-ui,sans-serif" role="img" aria-label="{escape(column["name"])}: training against live">',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_W - _RIGHT}" y2="{_TOP + plot_h}" stroke="#64748b"/>',
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" font-size="10" text-anchor="end">{_percent(top)}</text>',
        f'<text x="{_LEFT - 4}" y="{_TOP + plot_h}" font-size="10" text-anchor="end">0%</text>',
    ]
    series = (
        ("training", training, bins["baseline_counts"], _TRAINING, 0.08),
        ("live", live, bins["live_counts"], live_colour, 0.5),
    )
    for i, label in enumerate(labels):
        x0 = _LEFT + i * slot
        for name, shares, counts, colour, offset in series:
            height = plot_h * shares[i] / top
            parts.append(
                f'<rect x="{x0 + offset * slot:.1f}" y="{_TOP + plot_h - height:.1f}" width="{0.42 * slot:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{name} {escape(label)}: {_percent(shares[i])} '
                f"({counts[i]:,} rows)</title></rect>"
            )
        cx, cy = x0 + slot / 2, _TOP + plot_h + 10
        parts.append(
            f'<text x="{cx:.1f}" y="{cy}" font-size="9" text-anchor="end" '
            f'transform="rotate(-40 {cx:.1f} {cy})">{escape(label)}</text>'
        )
    if column.get("live_count", 0) == 0:
        parts.append(
            f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_TOP + plot_h / 2:.1f}" font-size="12" '
            'text-anchor="middle" fill="#b91c1c">no live values</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _row(column: Mapping[str, Any], css: str = "") -> str:
    verdict = "drifted" if column["drifted"] else ("n/a" if column["psi"] is None else "ok")
    classes = " ".join(c for c in (css, "drifted" if column["drifted"] else "") if c)
    opening = f'<tr class="{classes}">' if classes else "<tr>"
    cells = [
        escape(column["name"]),
        verdict,
        _number(column["psi"]),
        escape(column["test"]),
        _number(column["p_value"], ".2g"),
        _percent(column["missing_rate"]),
        _percent(column["invalid_rate"]),
        f"{column['live_count']:,}",
        _value(column.get("baseline_mean")),
        _value(column.get("live_mean")),
    ]
    return opening + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _summary_table(report: Mapping[str, Any]) -> str:
    head = ("column", "verdict", "PSI", "test", "p-value", "missing", "invalid", "live values", "training mean")
    rows = [_row(c) for c in report["features"]]
    if report.get("prediction"):
        rows.append(_row(report["prediction"], "prediction"))
    header = "".join(f"<th>{h}</th>" for h in (*head, "live mean"))
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _ground_truth(truth: Mapping[str, Any] | None) -> str:
    if not truth:
        return ""
    names = ("labelled", "positives", "threshold", "precision", "recall", "roc_auc", "pr_auc")
    cells = "".join(f"<td>{_number(truth.get(n), '.4g')}</td>" for n in names)
    below = ", ".join(truth.get("below_floor") or []) or "none"
    return (
        "<h2>Ground truth</h2><table><thead><tr>"
        + "".join(f"<th>{n}</th>" for n in names)
        + f"</tr></thead><tbody><tr>{cells}</tr></tbody></table><p>Below the quality gate's floor: {escape(below)}</p>"
    )


def _figure(column: Mapping[str, Any]) -> str:
    caption = (
        f"<b>{escape(column['name'])}</b> · PSI {_number(column['psi'])} · "
        f"{escape(column['test'])} p {_number(column['p_value'], '.2g')}"
    )
    if column["drifted"]:
        caption += " · <b>drifted</b>"
    css = ' class="drifted"' if column["drifted"] else ""
    return f"<figure{css}><figcaption>{caption}</figcaption>{histogram_svg(column)}</figure>"


def render(report: Mapping[str, Any]) -> str:
    """The HTML page of a drift report (the dictionary ``training.monitor`` writes as JSON)."""
    window = report.get("window") or {}
    facts = {
        "Endpoint": report.get("endpoint"),
        "Environment": report.get("environment"),
        "Model version": report.get("model_version"),
        "Window": f"{window.get('start') or 'open'} → {window.get('end') or 'open'}",
        "Rows (records)": f"{report['records']:,} (at least {report['min_records']:,} needed)",
        "Requests": f"{report.get('requests', 0):,}",
        "Left out": ", ".join(f"{k}: {v}" for k, v in (report.get("skipped") or {}).items()) or "nothing",
        "Generated": report.get("generated_at"),
    }
    facts_html = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v or _NONE))}</dd>" for k, v in facts.items())
    columns = [*report["features"], *([report["prediction"]] if report.get("prediction") else [])]
    status = str(report["status"])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Drift report: {escape(status)}</title><style>{_CSS}</style></head><body>"
        f'<h1>Drift report <span class="badge {escape(status)}">{escape(status.replace("_", " "))}</span></h1>'
        f'<p class="summary">{escape(str(report["summary"]))}</p><dl>{facts_html}</dl>'
        f"<h2>Columns</h2>{_summary_table(report)}{_ground_truth(report.get('ground_truth'))}"
        f'<h2>Training against live</h2><p class="legend"><span style="background:{_TRAINING}"></span>training'
        f'<span style="background:{_LIVE}"></span>live<span style="background:{_DRIFTED}"></span>live, drifted'
        " — bars are the share of rows per training-decile bin</p>"
        f'<div class="grid">{"".join(_figure(c) for c in columns)}</div></body></html>\n'
    )
