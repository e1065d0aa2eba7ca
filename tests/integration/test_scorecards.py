"""What the scorecards page, its exports and the monthly report show (services/kpis/scorecard.py,
export.py, report.py) on SQLite and PostgreSQL, from stored roll-ups: the period's value with its
target and standing, the previous period and the same period a year before, the change judged by the
KPI's direction, "no data" never 0, the district matrix; CSV and XLSX of what is shown; the report
printed to PDF by headless chromium."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from services.city import load_city
from services.config import PROJECT_ROOT
from services.db import make_engine, migrate, session_scope
from services.kpis.catalogue import load_catalogue
from services.kpis.export import COLUMNS, export_rows, to_csv, to_xlsx
from services.kpis.periods import period_bounds, shift
from services.kpis.report import report_page, write_monthly_report
from services.kpis.scorecard import scorecard
from services.models import KpiRollup

import services.kpis.measures  # noqa: F401  (registers the catalogue's measures)

TZ = "Europe/Helsinki"
NOVEMBER = datetime(2026, 11, 1, tzinfo=timezone.utc)
P90 = "emergency.total_response_p90"  # lower is better, target 384 s (NFPA 1710: 64 + 80 + 240)
PM25 = "environment.pm25_mean"


def _month(at: datetime, back: int = 0) -> tuple[datetime, datetime]:
    start = shift("month", period_bounds("month", at, TZ)[0], TZ, -back)
    return start, period_bounds("month", start, TZ)[1]


@pytest.fixture
def stored(database_url, tiny_city):
    engine = make_engine(database_url)
    migrate(engine)
    rows = {(P90, "city", 0): 280.0, (P90, "city", 1): 350.0, (P90, "city", 12): 420.0, (P90, "West", 0): 900.0,
            (PM25, "city", 1): 8.0}
    with session_scope(engine) as session:
        for (kpi, district, back), value in rows.items():
            start, end = _month(NOVEMBER, back)
            session.add(KpiRollup(kpi=kpi, district=district, period="month", start=start, end=end, value=value,
                                  count=10, computed_at=end))
    catalogue = load_catalogue(PROJECT_ROOT / "config" / "kpis.yaml")
    yield engine, catalogue, load_city(tiny_city)
    engine.dispose()


def _card(engine, catalogue, district="city"):
    with session_scope(engine) as session:
        return scorecard(session, catalogue, period="month", start=NOVEMBER, district=district,
                         districts=["West", "East"], tz=TZ)


def test_a_card_compares_with_the_month_before_and_a_year_before_judged_by_direction(stored):
    engine, catalogue, _city = stored
    shown = _card(engine, catalogue)
    card = next(c for c in shown.cards if c.kpi.key == P90)
    assert (card.now.value, card.previous.value, card.year_before.value) == (280.0, 350.0, 420.0)
    assert card.now.target == 384 and card.now.standing == "very_good"
    assert card.change == -70.0 and card.change_is_better is True  # lower response time: better
    assert [v.value for v in card.trend][-2:] == [350.0, 280.0] and len(card.trend) == 12


def test_a_kpi_without_data_shows_none_never_zero_and_the_matrix_holds_each_district(stored):
    engine, catalogue, _city = stored
    shown = _card(engine, catalogue)
    pm25 = next(c for c in shown.cards if c.kpi.key == PM25)
    assert pm25.now.value is None and pm25.now.standing is None and pm25.previous.value == 8.0
    assert pm25.change is None
    assert shown.districts == ("city", "West", "East")
    assert shown.matrix[("West", P90)].value == 900.0 and shown.matrix[("West", P90)].standing == "very_bad"
    assert ("East", P90) not in shown.matrix


def test_csv_and_xlsx_hold_what_is_shown_with_labels_in_the_language_asked(stored):
    engine, catalogue, _city = stored
    rows = export_rows(_card(engine, catalogue).shown_rows(), catalogue, "zh")
    read = list(csv.DictReader(io.StringIO(to_csv(rows))))
    response = next(r for r in read if r["kpi"] == P90 and r["district"] == "city")
    assert response["value"] == "280.0" and response["target"] == "384.0" and response["standing"] == "very_good"
    assert response["label"] == catalogue.get(P90).label_in("zh") and response["from"] == "2026-10-31T22:00:00Z"
    assert next(r for r in read if r["kpi"] == PM25)["value"] == ""  # no data: empty, never 0
    assert any(r["district"] == "West" and r["value"] == "900.0" for r in read)

    sheet = load_workbook(io.BytesIO(to_xlsx(rows))).active
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert tuple(table[0]) == COLUMNS and len(table) == len(read) + 1
    assert [280.0, 384] == [table[1 + read.index(response)][7], table[1 + read.index(response)][8]]


def test_the_monthly_report_is_printed_to_pdf_into_the_reports_folder(stored, tmp_path):
    engine, catalogue, city = stored
    page = report_page(_card(engine, catalogue), "Tiny", "en", TZ)
    assert "Total response time (90th percentile)" in page and "280 s" in page and "<script" not in page
    runtime = SimpleNamespace(engine=engine, city=city, timezone=TZ)
    written = write_monthly_report(runtime, catalogue, tmp_path / "reports", at=datetime(2026, 12, 2, tzinfo=timezone.utc))
    assert written.name == "cityops-report-2026-11-en.pdf"
    assert written.read_bytes().startswith(b"%PDF") and written.stat().st_size > 5000
