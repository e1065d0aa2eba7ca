"""The scorecards in a real browser against ``manage.py serve`` (SQLite and PostgreSQL): a manager opens
/scorecards, switches period and district, drills into a KPI, downloads CSV and XLSX of what is shown
and the monthly report as a PDF; an operator may not open the page."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import load_workbook
from selenium.webdriver.common.by import By

from tests.brokers import wait_until
from tests.e2e.conftest import sign_in, text_of

PAGE_TIMEOUT_S = 30


def _downloads_into(browser, folder: Path) -> None:
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})


def _downloaded(folder: Path, suffix: str, timeout: float = PAGE_TIMEOUT_S) -> Path:
    def found():
        done = [p for p in folder.iterdir() if p.name.endswith(suffix)]
        return done[0] if done else None
    wait_until(found, timeout, interval=0.2, message=f"a {suffix} download")
    path = found()
    wait_until(lambda: path.stat().st_size > 0, 5, interval=0.1, message=f"{path.name} written")
    return path


def test_a_manager_switches_period_and_district_drills_into_a_kpi_and_exports(served_city, browser, tmp_path):
    _downloads_into(browser, tmp_path)
    sign_in(browser, served_city, "manager", "/scorecards")
    wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".scorecard-card")) > 10, PAGE_TIMEOUT_S,
               interval=0.2, message="the KPI cards")
    assert "Total response time (90th percentile)" in text_of(browser, ".scorecard-card-label")
    assert browser.find_elements(By.CSS_SELECTOR, ".scorecard-matrix td.scorecard-cell")

    browser.find_element(By.CSS_SELECTOR, "#scorecards-period input[value='week']").click()
    wait_until(lambda: "Week" in text_of(browser, "#scorecards-heading"), PAGE_TIMEOUT_S, interval=0.2,
               message="the week's scorecard")
    # a district's cell in the matrix: that district's scorecard, with that KPI's detail
    row = browser.find_elements(By.CSS_SELECTOR, ".scorecard-matrix tbody tr")[1]
    district = row.find_element(By.TAG_NAME, "th").text
    row.find_element(By.CSS_SELECTOR, "td.scorecard-cell button").click()
    wait_until(lambda: district in text_of(browser, "#scorecards-heading"), PAGE_TIMEOUT_S, interval=0.2,
               message=f"the scorecard of {district}")
    assert district in browser.find_element(By.ID, "scorecards-district").text
    wait_until(lambda: text_of(browser, ".scorecard-detail h3"), PAGE_TIMEOUT_S, interval=0.2,
               message="the cell's KPI detail")

    card = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".scorecard-card")
                if "Sensor availability" in c.text or "PM2.5" in c.text)
    label = card.find_element(By.CSS_SELECTOR, ".scorecard-card-label").text
    card.click()
    wait_until(lambda: label in text_of(browser, ".scorecard-detail h3"), PAGE_TIMEOUT_S, interval=0.2,
               message="the KPI's detail")
    assert browser.find_elements(By.CSS_SELECTOR, "#scorecards-trend .main-svg")
    assert browser.find_elements(By.CSS_SELECTOR, ".scorecard-card.selected")

    browser.find_element(By.ID, "scorecards-csv").click()
    rows = list(csv.DictReader(io.StringIO(_downloaded(tmp_path, ".csv").read_text(encoding="utf-8"))))
    assert rows and {r["period"] for r in rows} == {"week"} and rows[0]["district"] == district
    assert any(r["label"] == label for r in rows)

    browser.find_element(By.ID, "scorecards-xlsx").click()
    sheet = load_workbook(_downloaded(tmp_path, ".xlsx")).active
    assert sheet.max_row == len(rows) + 1 and sheet["A1"].value == "kpi"

    browser.find_element(By.ID, "scorecards-pdf").click()
    pdf = _downloaded(tmp_path, ".pdf", timeout=120).read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Type /Page" in pdf.replace(b"/Type/Page", b"/Type /Page")


def test_a_dispatcher_may_not_open_the_scorecards(served_city, browser):
    sign_in(browser, served_city, "dispatcher", "/scorecards")
    wait_until(lambda: "Not allowed" in browser.page_source, PAGE_TIMEOUT_S, interval=0.2, message="the refusal")
