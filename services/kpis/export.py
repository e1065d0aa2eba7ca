"""The scorecards out of the screen: one row shape for the API, the page's CSV and XLSX downloads and
the monthly report (SPEC section 5: kpi, label, unit, district, period, from, to, value, target,
baseline, standing; with count and share_meeting after them)."""
from __future__ import annotations

import csv
import io
from typing import Iterable

from services.incidents import iso
from services.kpis.catalogue import Catalogue
from services.kpis.query import KpiValue

COLUMNS = ("kpi", "label", "unit", "district", "period", "from", "to", "value", "target", "baseline",
           "standing", "count", "share_meeting")


def export_rows(found: Iterable[KpiValue], catalogue: Catalogue, locale: str) -> list[dict]:
    rows = []
    for value in found:
        kpi = catalogue.get(value.kpi)
        rows.append({"kpi": value.kpi, "label": kpi.label_in(locale) if kpi else value.kpi,
                     "unit": kpi.unit if kpi else "", "district": value.district, "period": value.period,
                     "from": iso(value.start), "to": iso(value.end), "value": value.value, "target": value.target,
                     "baseline": value.baseline, "standing": value.standing, "count": value.count,
                     "share_meeting": value.share_meeting})
    return rows


def to_csv(rows: list[dict]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if row[name] is None else row[name] for name in COLUMNS})
    return text.getvalue()


def to_xlsx(rows: list[dict], title: str = "KPIs") -> bytes:
    """One sheet, the CSV's columns; numbers stay numbers, "no data" an empty cell (never 0)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([row[name] for name in COLUMNS])
    sheet.freeze_panes = "A2"
    for column, width in zip("ABCDEFGHIJKLM", (30, 42, 8, 16, 8, 21, 21, 12, 10, 10, 10, 8, 13)):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
