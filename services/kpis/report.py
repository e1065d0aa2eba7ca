"""The monthly report: the month's scorecard as a print-ready page, printed to PDF by headless
chromium; on demand (the scorecards page) and on schedule (the ingest role, the first of each month,
the month before) into the reports folder (setting CITYOPS_REPORTS_DIR, default data/reports).

The page is self-contained HTML (no script, no web font, inline SVG sparklines), so chromium prints
it from a file without signing in, and it reads the same on paper as on screen.
"""
from __future__ import annotations

import html
import logging
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from services.db import session_scope
from services.i18n import _, use_locale
from services.kpis.catalogue import DIMENSIONS, Catalogue
from services.kpis.periods import period_bounds, shift
from services.kpis.scorecard import Scorecard, number, period_label, scorecard, standing_label
from services.kpis.targets import CITY, district_names
from services.models import utcnow

log = logging.getLogger("cityops.kpis.report")

PRINT_TIMEOUT_S = 90
STANDING_COLOURS = {"very_good": "#1a7f37", "good": "#6cbf4a", "fair": "#e3b505", "bad": "#e8743b",
                    "very_bad": "#c62828", None: "#d5dbe1"}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    return found


def print_pdf(page: str, out: Path) -> Path:
    """Prints the HTML ``page`` to ``out`` with headless chromium; RuntimeError saying why if it cannot."""
    with tempfile.TemporaryDirectory(prefix="cityops-report-") as folder:
        source = Path(folder) / "report.html"
        source.write_text(page, encoding="utf-8")
        command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                   f"--user-data-dir={folder}/profile", f"--print-to-pdf={out}", source.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=PRINT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"chromium did not print within {PRINT_TIMEOUT_S} s") from None
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr.decode(errors='replace')[-300:]}")
    return out


def month_scorecard(runtime, catalogue: Catalogue, at: datetime) -> Scorecard:
    tz = runtime.timezone
    with session_scope(runtime.engine) as session:
        return scorecard(session, catalogue, period="month", start=period_bounds("month", at, tz)[0], district=CITY,
                         districts=district_names(runtime.city), tz=tz)


def monthly_report_pdf(runtime, catalogue: Catalogue, at: datetime, locale: str) -> tuple[bytes, str]:
    """The report of the month holding ``at``, as PDF bytes, and the month ("2026-11")."""
    card = month_scorecard(runtime, catalogue, at)
    with tempfile.TemporaryDirectory(prefix="cityops-pdf-") as folder:
        out = print_pdf(report_page(card, runtime.city.name, locale, runtime.timezone), Path(folder) / "report.pdf")
        return out.read_bytes(), period_label("month", card.start, runtime.timezone)


def write_monthly_report(runtime, catalogue: Catalogue, folder: Path, at: datetime | None = None,
                         locale: str = "en") -> Path:
    """The report of the month before ``at`` (default: now) into ``folder``; returns its path."""
    tz = runtime.timezone
    month = shift("month", period_bounds("month", at or utcnow(), tz)[0], tz, -1)
    card = month_scorecard(runtime, catalogue, month)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"cityops-report-{period_label('month', card.start, tz)}-{locale}.pdf"
    return print_pdf(report_page(card, runtime.city.name, locale, tz), folder / name)


def schedule(runtime, scheduler, catalogue: Callable[[], Catalogue], when: Callable[[], bool] = lambda: True) -> None:
    """The first of each month, 02:00 site time: last month's report, on the leading ingest process."""
    folder = runtime.settings.reports_folder

    def monthly() -> None:
        if not when():
            return
        try:
            log.info("monthly report written: %s", write_monthly_report(runtime, catalogue(), folder))
        except RuntimeError as failure:
            log.error("the monthly report could not be printed: %s", failure)

    scheduler.add_job(monthly, "cron", day=1, hour=2, minute=0, timezone=ZoneInfo(runtime.timezone),
                      id="kpi-monthly-report", replace_existing=True, misfire_grace_time=6 * 3600)


# ---------------------------------------------------------------- the page

def report_page(card: Scorecard, city: str, locale: str, tz: str) -> str:
    with use_locale(locale):
        month = period_label("month", card.start, tz)
        title = _("{city}: monthly scorecard, {month}", city=city, month=month)
        sections = []
        for dimension in DIMENSIONS:
            rows = [c for c in card.cards if c.kpi.dimension == dimension]
            if rows:
                sections.append(_dimension_table(dimension, rows, locale))
        made = (utcnow().astimezone(ZoneInfo(tz))).strftime("%Y-%m-%d %H:%M")
        return f"""<!doctype html>
<html lang="{locale}"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{STYLE}</style></head>
<body><header><h1>{_e(title)}</h1>
<p>{_e(_("Whole city; compared with the month before and the same month a year before. Made {made} ({tz}).",
         made=made, tz=tz))}</p>
<p class="legend">{''.join(f'<span style="background:{STANDING_COLOURS[s]}"></span>{_e(standing_label(s))}'
                           for s in STANDING_COLOURS)}</p></header>
{''.join(sections)}
<h2>{_e(_("Districts"))}</h2>{_matrix(card, locale)}
</body></html>"""


def _dimension_table(dimension: str, cards, locale: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in (_("KPI"), _("Value"), _("Target"), _("Standing"),
                                                   _("Month before"), _("Year before"), _("12 months")))
    rows = []
    for c in cards:
        unit, now = c.kpi.unit, c.now
        rows.append(
            f"<tr><td>{_e(c.kpi.label_in(locale))}</td><td class=num>{_e(number(now.value, unit))}</td>"
            f"<td class=num>{_e(number(now.target, unit) if now.target is not None else '–')}</td>"
            f"<td><span class=dot style=\"background:{STANDING_COLOURS[now.standing]}\"></span>"
            f"{_e(standing_label(now.standing))}</td>"
            f"<td class=num>{_e(number(c.previous.value if c.previous else None, unit))}</td>"
            f"<td class=num>{_e(number(c.year_before.value if c.year_before else None, unit))}</td>"
            f"<td>{sparkline_svg([p.value for p in c.trend])}</td></tr>")
    return f"<h2>{_e(DIMENSION_WORDS().get(dimension, dimension))}</h2><table><tr>{head}</tr>{''.join(rows)}</table>"


def DIMENSION_WORDS() -> dict[str, str]:  # noqa: N802  (translated when asked: the locale of the moment)
    return {"emergency": _("Emergency response"), "service": _("Citizen service (12345)"), "mobility": _("Mobility"),
            "environment": _("Environment"), "flood": _("Flood resilience"),
            "operations": _("Operations and system health")}


def _matrix(card: Scorecard, locale: str) -> str:
    kpis = [c.kpi for c in card.cards if c.kpi.districts]
    head = "<tr><th></th>" + "".join(f"<th class=rot><div>{_e(k.label_in(locale))}</div></th>" for k in kpis) + "</tr>"
    rows = []
    for district in card.districts:
        cells = []
        for kpi in kpis:
            value = card.matrix.get((district, kpi.key))
            standing = value.standing if value else None
            cells.append(f"<td style=\"background:{STANDING_COLOURS[standing]}\" title=\"{_e(standing_label(standing))}\">"
                         f"{_e(number(value.value, kpi.unit)) if value and value.value is not None else ''}</td>")
        name = _("Whole city") if district == CITY else district
        rows.append(f"<tr><th>{_e(name)}</th>{''.join(cells)}</tr>")
    return f"<table class=matrix>{head}{''.join(rows)}</table>"


def sparkline_svg(points: list[float | None], width: int = 110, height: int = 22) -> str:
    """A line of the points as inline SVG (the report's and the page's cards' sparklines)."""
    known = [(i, v) for i, v in enumerate(points) if v is not None]
    if len(known) < 2:
        return ""
    low, high = min(v for _i, v in known), max(v for _i, v in known)
    span = (high - low) or 1.0
    step = width / max(len(points) - 1, 1)
    path = " ".join(f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in known)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'preserveAspectRatio="none">'
            f'<polyline points="{path}" fill="none" stroke="#33506b" stroke-width="1.5"/></svg>')


def _e(text: str) -> str:
    return html.escape(str(text))


STYLE = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: system-ui, 'Noto Sans CJK SC', 'DejaVu Sans', sans-serif; font-size: 9.5pt; color: #1d2733; }
h1 { font-size: 16pt; margin: 0 0 4pt; } h2 { font-size: 11.5pt; margin: 12pt 0 4pt; border-bottom: 1px solid #c8d0d8; }
header p { margin: 2pt 0; color: #4a5663; }
.legend span { display: inline-block; width: 9pt; height: 9pt; margin: 0 3pt 0 10pt; vertical-align: middle; }
table { border-collapse: collapse; width: 100%; page-break-inside: auto; }
tr { page-break-inside: avoid; }
th, td { border-bottom: 1px solid #e3e8ed; padding: 2.5pt 4pt; text-align: left; vertical-align: middle; }
th { background: #f1f4f7; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.dot { display: inline-block; width: 8pt; height: 8pt; border-radius: 50%; margin-right: 4pt; vertical-align: middle; }
table.matrix td { text-align: center; color: #fff; font-size: 7.5pt; border: 1px solid #fff; }
table.matrix th.rot { height: 90pt; vertical-align: bottom; padding: 0; }
table.matrix th.rot div { writing-mode: vertical-rl; transform: rotate(180deg); font-size: 7pt; font-weight: 500;
  max-height: 88pt; overflow: hidden; margin: 0 auto; }
"""
