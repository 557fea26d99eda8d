"""``index.html``: the report's front page, one self-contained file that opens from disk with no server.

Only relative links to files inside the report folder (PNG figures, Markdown/CSV/JSON tables), inline CSS,
and no script at all, so it renders the same offline, in a mail attachment or from a CI artefact.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..data.io import write_text
from .tables import Table, best_rows

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1c2833;
background:#f4f6f7}
header{background:#1c2833;color:#fff;padding:22px 40px}header h1{margin:0 0 4px;font-size:26px}
header p{margin:2px 0;color:#d5dbdb;font-size:13px}header code{background:#2c3e50;color:#f5cba7}
nav{margin-top:10px}nav a{color:#f5b041;margin-right:16px}
main{padding:10px 40px 40px;max-width:1900px}section{background:#fff;border-radius:8px;padding:16px 22px;
margin:18px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}h2{margin:4px 0 10px;font-size:21px}h3{font-size:16px;
margin:18px 0 6px}table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:4px 7px;border-bottom:1px solid #e5e8e8;text-align:right}
th{background:#eaf2f8;white-space:nowrap}td:first-child{white-space:nowrap}
section{min-width:0}.scroll{overflow-x:auto;max-width:100%}
td:first-child,th:first-child{text-align:left;position:sticky;left:0;z-index:1}td:first-child{background:#fff}
td.best{font-weight:700;background:#fdebd0}
tr.ours td{background:#fdedec}tr.ours td.best{background:#f5b7b1}.kind{font-size:11px;color:#7b7d7d}
.badge{display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:6px}
img{max-width:100%;border:1px solid #e5e8e8;border-radius:4px}.links a{margin-right:12px;font-size:13px}
.note{color:#6e2c00;background:#fef5e7;padding:6px 10px;border-radius:4px;font-size:13px;margin:4px 0}
.muted{color:#7b7d7d;font-size:12px}code{background:#f2f3f4;padding:1px 4px;border-radius:3px;
overflow-wrap:anywhere}
"""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _fmt(value: Any, digits: int | None) -> str:
    """Fixed ``digits`` when given; otherwise about four significant figures, so 2075.2 and 0.034 both fit."""
    if not _finite(value):
        return "—"
    if digits is None:
        digits = 0 if abs(value) >= 1000 else 1 if abs(value) >= 100 else 2 if abs(value) >= 10 else 3
    return f"{value:,.{digits}f}"


def table_html(table: Table, colours: dict[str, str]) -> str:
    """The leaderboard as an HTML table: arrows give each column's direction, the best cell is highlighted.

    The table sits in a ``.scroll`` box: with many metric columns it scrolls sideways inside its section, the
    method column staying in view, instead of widening the page."""
    best = best_rows(table)
    arrow = {True: " ↑", False: " ↓", None: ""}
    head = "".join(f"<th>{html.escape(n)}{arrow[h]}</th>" for n, h in table.columns)
    body = []
    for method, kind, values in table.rows:
        badge = f'<span class="badge" style="background:{colours.get(method, "#999")}"></span>'
        cells = [f'<td>{badge}{html.escape(method)} <span class="kind">{html.escape(kind)}</span></td>']
        for name, _ in table.columns:
            cls = ' class="best"' if method in best.get(name, set()) else ""
            cells.append(f"<td{cls}>{_fmt(values.get(name), table.digits.get(name))}</td>")
        row_cls = ' class="ours"' if kind == "ours" else ""
        body.append(f"<tr{row_cls}>{''.join(cells)}</tr>")
    table_ = f"<table><thead><tr><th>method</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table_}</div>'


def _img(rel: str, alt: str) -> str:
    rel = html.escape(rel, quote=True)
    return f'<a href="{rel}"><img src="{rel}" alt="{html.escape(alt, quote=True)}" loading="lazy"></a>'


def _links(files: Sequence[tuple[str, str]]) -> str:
    items = "".join(f'<a href="{html.escape(p, quote=True)}">{html.escape(label)}</a>' for label, p in files)
    return f'<p class="links">{items}</p>'


def write_index(
    out_dir: Path,
    summary: dict[str, Any],
    tables: dict[str, Table],
    colours: dict[str, str],
    timing_table: Table,
) -> Path:
    """Write ``out_dir/index.html`` from the benchmark ``summary``; all its paths are relative."""
    sets = summary["sets"]
    env = summary["environment"]
    nav = "".join(f'<a href="#set-{html.escape(s)}">{html.escape(s)}</a>' for s in sets)
    nav += '<a href="#thermal">thermal fidelity</a><a href="#timing">speed</a><a href="#notes">notes</a>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>WaveCross benchmark — {html.escape(', '.join(sets))}</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>Infrared–visible fusion benchmark</h1>",
        f"<p>{html.escape(summary['created'])} · data <code>{html.escape(summary['data'])}</code> · "
        f"metric convention <code>{html.escape(summary['convention'])}</code> · "
        f"{len(summary['methods'])} methods run here, {len(summary['fused'])} loaded from fused outputs</p>",
        f"<p>{html.escape(env['cpu'])} · {env['threads']} torch threads · torch {html.escape(env['torch'])} · "
        f"network in <code>{html.escape(summary.get('precision', 'auto'))}</code></p>",
        f"<nav>{nav}</nav></header><main>",
    ]
    for name in sets:
        info = summary["per_set"][name]
        figs = info["figures"]
        parts += [
            f'<section id="set-{html.escape(name)}"><h2>{html.escape(name)} '
            f'<span class="muted">{info["pairs"]} pairs</span></h2>',
            table_html(tables[name], colours),
            _links([(label.upper(), info["leaderboard"][label]) for label in ("md", "csv", "json")]),
            *(f'<p class="note">{html.escape(n)}</p>' for n in info["notes"]),
            "<h3>Images</h3>",
            _img(figs["grid"], f"{name}: fused images of every method"),
            "<h3>Detail (zoomed crops where the sources carry the most structure)</h3>",
            _img(figs["zoom"], f"{name}: zoomed crops"),
            "<h3>Metrics</h3>",
            _img(figs["metrics"], f"{name}: metric bars"),
            "</section>",
        ]
    parts += [
        '<section id="thermal"><h2>Thermal fidelity vs. sharpness</h2>',
        "<p>Each point is a method's mean over a set. Sharpness (SF) is easy to buy by amplifying visible "
        "texture; the thermal metrics check that the fused image keeps the IR image's hot/cold ordering.</p>",
        _img(summary["figures"]["thermal"], "thermal fidelity scatter")
        if summary["figures"].get("thermal")
        else '<p class="note">No thermal-fidelity metric was computed.</p>',
        "</section>",
        '<section id="timing"><h2>Speed on this machine</h2>',
        "<p>Fuse time per megapixel, excluding file I/O, after one warm-up call. Published methods were "
        "loaded from their fused outputs, so they have no timing here.</p>",
        table_html(timing_table, colours),
        _links([("CSV", summary["timing_files"]["csv"]), ("JSON", summary["timing_files"]["json"])]),
        _img(summary["figures"]["timing"], "timing chart"),
        "</section>",
        '<section id="notes"><h2>Notes</h2>',
        *(f'<p class="note">{html.escape(n)}</p>' for n in summary["notes"]),
        '<p class="muted">Everything above is also in <a href="results.json">results.json</a>; fused '
        "images are under <code>fused/&lt;method&gt;/&lt;set&gt;/</code> for re-evaluation with "
        "<code>wavecross evaluate</code>.</p></section>",
        "</main></body></html>",
    ]
    path = out_dir / "index.html"
    return write_text(path, "\n".join(parts))
