"""The message catalogues (issue 14): every marked text extracted, every one translated into Chinese, the
compiled catalogues current; dates, times and numbers formatted per language with Babel."""
from __future__ import annotations

import gettext
import io
import json
import re
from datetime import datetime, timezone

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from services.config import PROJECT_ROOT
from services.i18n import LOCALES, TRANSLATIONS, Term, best_locale, javascript_messages, recorded, say, use_locale, \
    with_said, _
from services.vocabulary import alarm_value, duration, for_javascript, incident_kind, number, site_time, words

NOW = datetime(2026, 12, 1, 21, 38, 5, tzinfo=timezone.utc)
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def catalogue(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def extracted_now() -> set[str]:
    """What ``make messages`` would extract from the code as it is (babel.cfg)."""
    with (PROJECT_ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    return {message if isinstance(message, str) else message[0]
            for _file, _line, message, _comments, _context in extract_from_dir(PROJECT_ROOT, method_map, options_map)}


def test_every_marked_text_is_in_each_catalogue():
    """Fails when a text was marked with _() but `make messages` was not run."""
    marked = extracted_now()
    assert len(marked) > 100
    for locale in LOCALES:
        known = {message.id[0] if isinstance(message.id, tuple) else message.id for message in catalogue(locale)}
        missing = sorted(marked - known)
        assert not missing, f"{locale}: run make messages; not in the catalogue: {missing[:10]}"


def test_every_catalogue_entry_has_a_chinese_translation_with_the_same_placeholders():
    untranslated, broken = [], []
    for message in catalogue("zh"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            untranslated.append(ids[0])
            continue
        if any(set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(ids[-1])) for text in strings):
            broken.append(ids[0])
    assert not untranslated, f"{len(untranslated)} without a Chinese translation: {untranslated[:10]}"
    assert not broken, f"placeholders differ from the English: {broken[:10]}"


def test_the_compiled_catalogues_are_those_of_the_po_files():
    """Fails when a .po was edited and not compiled (make translations)."""
    for locale in LOCALES:
        compiled = io.BytesIO()
        write_mo(compiled, catalogue(locale))
        compiled.seek(0)
        with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo").open("rb") as shipped:
            assert gettext.GNUTranslations(shipped)._catalog == gettext.GNUTranslations(compiled)._catalog, locale


def test_a_language_tag_finds_its_catalogue():
    assert best_locale(["zh-CN", "en"]) == "zh"
    assert best_locale(["zh-Hans-CN"]) == "zh"
    assert best_locale(["fi", "en-GB"]) == "en"
    assert best_locale([None, "de"]) == "en"  # nothing with a catalogue: English


def test_text_is_in_the_language_of_the_block():
    assert _("Sign out") == "Sign out"
    with use_locale("zh"):
        assert _("Sign out") == "退出登录"
    assert _("Sign out") == "Sign out"


def test_times_durations_and_numbers_are_formatted_for_the_language():
    assert site_time(NOW, "Europe/Helsinki") == "2026-12-01 23:38"
    assert duration(245) == "4 min 05 s"
    with use_locale("zh"):
        assert site_time(NOW, "Asia/Shanghai") == "2026年12月2日 05:38"
        assert site_time(NOW, "Asia/Shanghai", seconds=True) == "2026年12月2日 05:38:05"
        assert site_time(None, "UTC") == "从未"
        assert [duration(s) for s in (45, 245, 900, 4320, 3 * 86400 + 4 * 3600)] == [
            "45秒", "4分钟05秒", "15分钟", "1小时12分钟", "3天04小时"]
        assert number(35.55, 1) == "35.5" or number(35.55, 1) == "35.6"
        assert alarm_value("averageVehicleSpeed/free_flow_kmh", 0.11, 0.3) == "自由流速度的11 %（限值 30 %）"


def test_the_incident_and_alarm_vocabulary_reads_in_chinese():
    from services.incidents import CATEGORIES

    with use_locale("zh"):
        assert incident_kind("health", "breathingProblems") == "呼吸困难"
        assert incident_kind("fire", "other") == "火灾（其他）"
        untranslated = [code for category, subs in CATEGORIES.items() for code in (category, *subs)
                        if code != "other" and words(code).isascii()]
    assert not untranslated, untranslated


def test_the_browser_gets_each_language_and_the_scripts_messages():
    vocabulary = for_javascript()["languages"]
    assert vocabulary["zh-Hans"]["incidentStatus"]["new"] == "新建"
    assert vocabulary["zh-Hans"]["timePattern"] == "y年M月d日 HH:mm"
    assert vocabulary["en"]["timePattern"] == "yyyy-MM-dd HH:mm"
    assert vocabulary["zh-Hans"]["messages"] == javascript_messages("zh")
    assert javascript_messages("zh")  # the scripts' own texts (assets/*.js) are in the catalogue


def test_a_recorded_text_is_kept_in_english_and_shown_in_the_readers_language():
    said = say("{unit} ({unit_id}) dispatched, ETA {eta}, {km:.2f} km", unit="Ambulance 1", unit_id="amb-1",
               eta=Term("duration", 245), km=1.234)
    with use_locale("zh"):  # the sentence stored is English whatever the language of the one who acted
        assert said.english == "Ambulance 1 (amb-1) dispatched, ETA 4 min 05 s, 1.23 km"
    detail = json.loads(json.dumps(with_said({"cmdId": "c1"}, said)))  # as the row's JSON column gives it back
    assert detail["cmdId"] == "c1"
    with use_locale("zh"):
        assert recorded(said.english, detail) == "已派遣 Ambulance 1（amb-1），预计 4分钟05秒 到达，1.23 公里"
        assert recorded(said.english, json.dumps(detail)) == recorded(said.english, detail)  # SQLite's text
        nested = say("the citizen is {words}", words=say("{level}: {comment}", level=Term("satisfaction", "satisfied"),
                                                         comment="quick"))
        assert recorded(nested.english, {"say": nested.stored()}) == "市民满意：quick"
    assert nested.english == "the citizen is satisfied: quick"
    assert recorded(said.english, detail) == said.english


def test_a_recorded_text_without_what_was_said_is_shown_as_stored():
    with use_locale("zh"):
        assert recorded("typed by a person", None) == "typed by a person"
        assert recorded("an older row", {"cmdId": "c1"}) == "an older row"
        assert recorded("kept", {"say": {"text": "{a} and {b}", "with": {"a": 1}}}) == "kept"  # cannot be filled
        assert recorded(None, None) == ""
