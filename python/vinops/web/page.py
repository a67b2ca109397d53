"""The health page: one self-contained HTML document rendered from a :class:`~vinops.health.HealthReport`.

No asset is loaded from anywhere (styles inline, the chart an inline SVG, no script); the page reloads itself
with ``<meta http-equiv="refresh">``; one column on a phone, a grid of cards on a wider screen. Every state
and figure is also in ``data-*`` attributes (``data-status``, ``data-part``, ``data-figure``) so a test can
read them through the DOM.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any

from vinops.health import OUTCOMES, HealthReport, Part, WindowPoint

__all__ = ["render"]

#: Colours of the states and of the window outcomes (text always says the same: colour is never alone).
_STATE_COLOUR = {"healthy": "#1a7f37", "degraded": "#b35900", "unhealthy": "#c62828", "unknown": "#6b7280"}
_OUTCOME_COLOUR = {"loaded": "#1a7f37", "skipped": "#7c8ea3", "not_modified": "#a9b6c4", "rejected": "#d97706",
                   "failed": "#c62828"}  # fmt: skip

_CSS = """
:root{color-scheme:light dark;--bg:#f4f5f7;--card:#fff;--ink:#1b1f24;--muted:#5b6370;--line:#dde1e6}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1b2027;--ink:#e8eaed;--muted:#9aa3ad;--line:#2c333c}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{padding:16px 16px 8px;display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px}
h1{font-size:1.25rem;margin:0}
.badge{display:inline-block;padding:4px 12px;border-radius:999px;color:#fff;font-weight:700;font-size:.95rem;
 text-transform:uppercase;letter-spacing:.04em}
.when{color:var(--muted);font-size:.85rem;flex-basis:100%}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(290px,1fr));gap:12px;padding:8px 16px 24px;
 align-items:start}
.card{background:var(--card);border:1px solid var(--line);border-left:6px solid var(--state);border-radius:10px;
 padding:12px 14px;min-width:0}
.card h2{font-size:1.05rem;margin:0 0 2px;display:flex;justify-content:space-between;gap:8px;align-items:baseline}
.state{font-size:.8rem;font-weight:700;color:var(--state);text-transform:uppercase;letter-spacing:.04em}
.summary{margin:0 0 8px;color:var(--muted);font-size:.9rem;overflow-wrap:anywhere}
.reasons{margin:0 0 8px;padding-left:18px;color:var(--state);font-size:.9rem;overflow-wrap:anywhere}
dl{margin:0;font-size:.9rem}
.row{display:flex;justify-content:space-between;align-items:baseline;gap:12px;padding:1px 0}
.row.wide{display:block}.row.wide dd{text-align:left}
dt{color:var(--muted)}dd{margin:0;text-align:right;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.keys{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:8px;padding:0 16px 4px;margin:0}
.keys div{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 12px}
.keys div{display:block}.keys dt{font-size:.8rem}.keys dd{text-align:left;font-size:1.35rem;font-weight:700}
.wide{grid-column:1/-1}.nowrap{white-space:nowrap}
.why{margin:0;padding:0 16px 8px 34px;color:var(--state);font-weight:600;font-size:.95rem;overflow-wrap:anywhere}
.chart svg{display:block;width:100%;height:96px;background:var(--bg);border-radius:6px}
.axis{display:flex;justify-content:space-between;color:var(--muted);font-size:.75rem;margin-top:2px}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;font-size:.8rem;color:var(--muted);margin-top:6px;padding:0;list-style:none}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
footer{color:var(--muted);font-size:.8rem;padding:0 16px 24px}
"""


def _n(value: Any) -> str:
    """A figure as people read it: thousands separated, shares as percentages done by the caller."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.2f} %"


def _mb(value: Any) -> str:
    return "–" if value is None else f"{float(value) / 1e6:,.1f} MB"


def _seconds(value: Any) -> str:
    return "–" if value is None else f"{float(value):.2f} s"


def _time(value: Any) -> str:
    """An ISO 8601 instant as ``6 Dec 23:34 UTC``."""
    if not value:
        return "–"
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{t.day} {t.strftime('%b %H:%M')} UTC"


def _age(seconds: Any) -> str:
    """Seconds as ``3h 05m``, ``12 min``, ``40 s``."""
    if seconds is None:
        return "–"
    s = max(0, int(float(seconds)))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 60} min" if s >= 60 else f"{s} s"


def _words(value: Any) -> str:
    """``not_modified`` → ``not modified``."""
    return "–" if value is None else str(value).replace("_", " ")


#: The figures each card shows: (key in Part.figures, label, formatter).
_FIGURES: dict[str, list[tuple[str, str, Any]]] = {
    "database": [("vehicles", "vehicles", _n), ("lots", "lots", _n), ("active_lots", "active lots", _n),
                 ("lots_missing_vehicle", "lots missing a vehicle", _n),
                 ("migrations_applied", "migrations applied", _n), ("migrations_pending", "migrations pending", _n)],
    "last_window": [("loaded_at", "loaded", _time), ("rows_in", "rows in", _n), ("rows_loaded", "rows loaded", _n),
                    ("rows_quarantined", "quarantined", _n), ("rows_skipped", "unchanged, not staged", _n),
                    ("lots_inserted", "new lots", _n), ("lots_updated", "changed lots", _n),
                    ("vehicles_inserted", "new vehicles", _n), ("lots_pending_result", "to pending result", _n),
                    ("lots_not_sold", "to not sold", _n), ("quarantine_share", "quarantine share", _pct),
                    ("unknown_rate", "unknown taxonomy rate", _pct), ("seconds", "seconds", _seconds)],
    "fetch": [("last_run_outcome", "last run", _words), ("last_run_at", "at", _time),
              ("http_status", "HTTP status", _n), ("consecutive_failures", "failed in a row", _n),
              ("ingest_errors", "windows rolled back", _n)],
    "photos": [("stored", "photos stored", _n), ("bytes", "size", _mb), ("coverage", "active lots with photos", _pct),
               ("backlog", "lots waiting", _n), ("lots_failed", "lots failed", _n),
               ("lots_checked_24h", "lots checked (24 h)", _n), ("last_check_at", "last check", _time)],
    "raw_store": [("files", "files kept", _n), ("bytes", "original size", _mb), ("pruned", "pruned", _n),
                  ("last_key", "last file", _n)],
}  # fmt: skip


def _chart(windows: tuple[WindowPoint, ...], now: datetime, span: timedelta = timedelta(hours=24)) -> str:
    """Bars of the windows of the last ``span``: position = when it ended, height = its seconds (failed and
    rejected windows full height), colour = outcome."""
    width, height = 960.0, 96.0
    start = now - span
    longest = max((w.seconds or 0.0 for w in windows if w.outcome == "loaded"), default=0.0) or 1.0
    bar = max(width / (span.total_seconds() / 900) * 0.7, 3.0)  # a window every 15 minutes
    rects = []
    for w in windows:
        x = (w.at - start).total_seconds() / span.total_seconds() * (width - bar)
        if w.outcome in ("failed", "rejected"):
            h = height
        elif w.outcome == "loaded":
            h = max(height * (w.seconds or longest) / longest, 8.0) if w.seconds is not None else height * 0.6
        else:
            h = height * 0.2
        tip = f"{w.at.strftime('%H:%M')} UTC {w.outcome.replace('_', ' ')}"
        if w.seconds is not None:
            tip += f", {w.seconds:.1f} s"
        if w.rows_in is not None:
            tip += f", {w.rows_in:,} rows"
        rects.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" rx="1" '
            f'fill="{_OUTCOME_COLOUR.get(w.outcome, "#888")}" data-outcome="{escape(w.outcome)}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    counts = {o: sum(1 for w in windows if w.outcome == o) for o in OUTCOMES}
    label = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in counts.items() if n) or "no windows"
    legend = "".join(
        f'<li data-outcome="{o}" data-count="{n}"><i style="background:{_OUTCOME_COLOUR[o]}"></i>'
        f"{o.replace('_', ' ')} {n}</li>"
        for o, n in counts.items()
    )
    return (
        f'<section class="card wide chart" data-part="windows" style="--state:#7c8ea3">'
        f"<h2>Windows, last 24 h <span class=\"state\" style=\"color:var(--muted)\">{len(windows)}</span></h2>"
        f'<svg viewBox="0 0 {width:.0f} {height:.0f}" preserveAspectRatio="none" role="img" '
        f'aria-label="windows of the last 24 hours: {escape(label)}" data-windows="{len(windows)}">'
        f"<title>{escape(label)}</title>{''.join(rects)}</svg>"
        f'<div class="axis"><span>−24 h</span><span>−12 h</span><span>now</span></div>'
        f'<ul class="legend">{legend}</ul></section>'
    )


def _card(part: Part) -> str:
    colour = _STATE_COLOUR.get(part.status, "#6b7280")
    reasons = "".join(f"<li>{escape(r)}</li>" for r in part.reasons)
    rows = []
    for key, label, fmt in _FIGURES.get(part.name, []):
        if key not in part.figures:
            continue
        value = part.figures[key]
        raw = "" if value is None else str(value)
        nowrap = ' class="nowrap"' if fmt is _time else ""
        rows.append(f'<div class="row"><dt>{escape(label)}</dt><dd data-figure="{escape(key)}" '
                    f'data-value="{escape(raw)}"{nowrap}>{escape(fmt(value))}</dd></div>')  # fmt: skip
    failure = part.figures.get("last_failure") if part.name == "fetch" else None
    if failure:
        rows.append(f'<div class="row wide"><dt>last failure, {escape(_time(failure.get("at")))}</dt>'
                    f'<dd data-figure="last_failure">{escape(str(failure.get("reason") or ""))}</dd></div>')  # fmt: skip
    return (
        f'<section class="card" data-part="{escape(part.name)}" data-status="{escape(part.status)}" '
        f'style="--state:{colour}"><h2>{escape(part.title)}<span class="state">{escape(part.status)}</span></h2>'
        f'<p class="summary">{escape(part.summary)}</p>'
        + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
        + (f"<dl>{''.join(rows)}</dl>" if rows else "")
        + "</section>"
    )


def _keys(report: HealthReport) -> str:
    """The key figures above the cards: what the site shows and how fresh it is."""
    db = report.part("database").figures
    last = report.part("last_window").figures
    tiles = [("vehicles", "vehicles", _n(db.get("vehicles"))), ("lots", "lots", _n(db.get("lots"))),
             ("active_lots", "active lots", _n(db.get("active_lots"))),
             ("last_window_age", "last window", _age(last.get("age_seconds")) + (" ago" if last else "")),
             ("last_window_rows", "its rows", _n(last.get("rows_in"))),
             ("last_window_seconds", "its seconds", _seconds(last.get("seconds")).removesuffix(" s"))]  # fmt: skip
    if not db:  # the database could not be read: no figures to show
        return ""
    return '<dl class="keys">' + "".join(
        f'<div><dt>{escape(label)}</dt><dd data-key="{key}">{escape(text)}</dd></div>' for key, label, text in tiles
    ) + "</dl>"


def render(report: HealthReport, *, refresh_seconds: int = 30) -> str:
    """The page of ``report``: a badge with the overall state, a card per part, the chart of 24 h of windows."""
    colour = _STATE_COLOUR[report.status]
    checked = report.checked_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    cards = "".join(_card(p) for p in report.parts)
    keys = _keys(report)
    # Why it is not healthy, above everything (on a phone the cards are below the fold).
    why = "".join(f"<li>{escape(p.title)}: {escape(r)}</li>" for p in report.parts for r in p.reasons)
    why = f'<ul class="why" id="why" style="--state:{colour}">{why}</ul>' if why else ""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">'
        f'<meta name="color-scheme" content="light dark">'
        f"<title>vinops: {escape(report.status)}</title><style>{_CSS}</style></head>"
        f'<body data-status="{escape(report.status)}">'
        f'<header><h1>vinops health</h1><span class="badge" id="status" style="background:{colour}">'
        f"{escape(report.status)}</span>"
        f'<span class="when">checked {escape(checked)} · reloads every {int(refresh_seconds)} s · '
        f'<a href="/health?format=json">JSON</a> · <a href="/metrics">metrics</a></span></header>'
        f"{why}{keys}<main>{_chart(report.windows_24h, report.checked_at)}{cards}</main>"
        f"<footer>HTTP {report.http_status}. States and rules: README, “Health and metrics”.</footer>"
        "</body></html>\n"
    )
