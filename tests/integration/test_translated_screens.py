"""Every screen through the catalogue (issue 14, "how it is checked"): the pages and their callbacks are
rendered in a pseudo-language whose catalogue, generated here from the extracted messages, wraps every
translation in ⟦…⟧; any visible word outside those brackets did not come from the catalogue. Data (street,
district, device and unit names, numbers, ids, SI unit symbols) is allowed as it is."""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import services.i18n as i18n
from services.access.principal import Principal
from services.access.users import CreateUser
from services.alarms import RaiseAlarm, Trigger
from services.config import PROJECT_ROOT
from services.dispatch import CreateIncident, DispatchContext
from services.incidents import IncidentInput
from services.models import utcnow
from services.requests.commands import ReceiveRequest, RequestContext
from services.runtime import open_runtime
from tests.dash_calls import callback_body
from tests.integration.support import make_settings

PSEUDO = "xx"
ORIGIN = "http://localhost"
PASSWORD = "correct horse battery"
SYSTEM = Principal.system("test")
TEXT_KEYS = {"children", "title", "placeholder", "label", "aria-label", "alt", "text"}
WRAPPED = re.compile(r"⟦[^⟦⟧]*⟧")
WORD = re.compile(r"[^\W\d_]{2,}")
LINK = re.compile(r"(https?://|/)\S*")
CITIZENS_WORDS = {"request-description"}  # what a citizen said, as they said it
# international symbols a Chinese screen writes as they are (units, pollutants, standards' own names)
SYMBOLS = {"km", "mm", "µg", "hpa", "lx", "pm", "no", "co", "so", "nox", "uv", "epa", "hj", "cityops"}


@pytest.fixture
def pseudo_language(tmp_path, monkeypatch):
    """A catalogue for every extracted message that wraps its English in ⟦…⟧, compiled for this test."""
    with (PROJECT_ROOT / "translations" / "messages.pot").open("rb") as pot:
        template = read_po(pot)
    catalogue = Catalog(locale="en")
    for message in template:
        if not message.id:
            continue
        string = tuple(f"⟦{part}⟧" for part in message.id) if isinstance(message.id, tuple) else f"⟦{message.id}⟧"
        catalogue.add(message.id, string)
    folder = tmp_path / "pseudo" / PSEUDO / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as mo:
        write_mo(mo, catalogue)
    import gettext

    with (folder / "messages.mo").open("rb") as mo:
        pseudo = gettext.GNUTranslations(mo)
    real = i18n.translations
    monkeypatch.setattr(i18n, "LOCALES", (*i18n.LOCALES, PSEUDO))
    monkeypatch.setattr(i18n, "translations", lambda locale: pseudo if locale == PSEUDO else real(locale))
    return PSEUDO


@dataclass
class Screens:
    app: object
    client: object
    data_words: set
    runtime: object

    def get(self, path: str) -> str:
        return self.client.get(path, headers={"Accept-Language": PSEUDO}).get_data(as_text=True)

    def call(self, function: str, values: list, states: list = (), triggered: int = 0):
        body = callback_body(self.app, function, values, states, triggered)
        answer = self.client.post("/_dash-update-component", json=body,
                                  headers={"Origin": ORIGIN, "Accept-Language": PSEUDO})
        assert answer.status_code in (200, 204), (function, answer.get_data(as_text=True)[:500])
        return answer.get_json() if answer.status_code == 200 else None


@pytest.fixture
def screens(database_url, tiny_city, tmp_path, broker, pseudo_language):
    rules = tmp_path / "rules.yaml"
    shutil.copy(PROJECT_ROOT / "config" / "rules.yaml", rules)
    runtime = open_runtime(make_settings(database_url, broker, tiny_city, rules_file=rules, data_dir=tmp_path))
    from app import create_app

    app = create_app(runtime)
    app.server.config["PROPAGATE_EXCEPTIONS"] = True  # a callback's error fails the test with its traceback
    CreateUser(runtime.engine, SYSTEM, "admin-1", "admin", PASSWORD)()
    CreateIncident(DispatchContext.of(runtime), SYSTEM,
                   IncidentInput("health", "heartAttack", 1, 24.9445, 60.1705, description="Testikatu 3"))()
    RaiseAlarm(Trigger(rule_id="water-alert", rule_name="Water level at alert level", device_id="flood-1",
                       device_type="FloodMonitoring", device_name="Harbour gauge", district="East",
                       category="weather", sub_category="flood", severity="high", description="level high",
                       metric="water_level", value=1.3, threshold=1.2, lon=24.951, lat=60.166,
                       started_at=utcnow())).validate().run(runtime.engine)
    requests = RequestContext.of(runtime)
    ReceiveRequest(requests, SYSTEM, {"service_code": "POT", "lat": 60.1705, "long": 24.9445,
                                                        "description": "Testikatu pothole"}, source="hotline")()
    client = app.server.test_client()
    assert client.post("/login", data={"name": "admin-1", "password": PASSWORD, "next": "/"},
                       headers={"Origin": ORIGIN}).status_code == 303
    city = runtime.city
    names = {"Tiny", "West", "East", "Testikatu", "Harbour gauge", "Kamppi air", "amb-1", "admin-1", "flood-1",
             "air-1", "system:rules", "test", "water-alert", runtime.timezone, city.attribution, "level high", "Testikatu 3",
             "Testikatu pothole",
             # the hotline's catalogue names its services and departments in each language itself (config/services.yaml)
             *[name for item in (*requests.catalogue.services, *requests.catalogue.departments)
               for name in (item.name_en, item.name_zh)],
             *[service.code for service in requests.catalogue.services],
             *i18n.LANGUAGE_NAMES.values()}  # a language's name is written in that language
    yield Screens(app, client, {word.lower() for name in names for word in WORD.findall(name)} | SYMBOLS, runtime)
    runtime.engine.dispose()


def visible_texts(node, key: str | None = None):
    """Every string a person reads in a Dash answer (children, titles, labels, placeholders, option labels,
    table column names)."""
    if isinstance(node, str):
        if key in TEXT_KEYS:
            yield node
    elif isinstance(node, list):
        for item in node:
            yield from visible_texts(item, key)
    elif isinstance(node, dict):
        props = node.get("props") or {}
        if set(str(props.get("className", "")).split()) & CITIZENS_WORDS:
            return
        if node.get("type") in ("Overlay", "BaseLayer") and isinstance(props.get("name"), str):
            yield props["name"]  # a map layer's name in the layers control
        for name, value in node.items():
            if name == "columns" and isinstance(value, list):
                yield from (column["name"] for column in value if isinstance(column, dict)
                            and isinstance(column.get("name"), str))
            else:
                yield from visible_texts(value, name)


def untranslated(texts, data_words: set) -> list[str]:
    found = []
    for text in texts:
        if LINK.fullmatch(text.strip()):
            continue  # a page path or a link is data
        rest = text
        while WRAPPED.search(rest):
            rest = WRAPPED.sub(" ", rest)
        if [word for word in WORD.findall(rest) if word.lower() not in data_words]:
            found.append(text)
    return found


def check(screens: Screens, answer, what: str) -> None:
    texts = list(visible_texts(answer if not isinstance(answer, str) else json.loads(answer)))
    assert texts, f"{what}: nothing to read"
    problems = untranslated(texts, screens.data_words)
    assert not problems, f"{what}: text not from the catalogue: {problems[:12]}"


def test_the_sign_in_page_comes_from_the_catalogue(screens):
    page = screens.app.server.test_client().get("/login", headers={"Accept-Language": PSEUDO}).get_data(as_text=True)
    body = re.sub(r"<[^>]+>", "\n", page.split("<body", 1)[1].split(">", 1)[1])
    problems = untranslated([line for line in body.splitlines() if line.strip()], screens.data_words)
    assert not problems, problems


def test_the_shell_comes_from_the_catalogue(screens):
    check(screens, screens.get("/_dash-layout"), "the shell")


PAGES = ["/", "/wall", "/alarms", "/alarms?alarm=1", "/dispatch", "/status", "/sensors", "/admin/users",
         "/admin/displays", "/requests", "/requests?order=1", "/scorecards", "/rules"]


@pytest.mark.parametrize("path", PAGES)
def test_each_page_layout_comes_from_the_catalogue(screens, path):
    page, _, query = path.partition("?")
    check(screens, screens.call("update", [page, f"?{query}" if query else ""]), path)


def test_the_map_callbacks_come_from_the_catalogue(screens):
    check(screens, screens.call("choose_standard", ["cn-hj633-2012"]), "the AQI legend")
    check(screens, screens.call("static_legends", ["map-legends"]), "the traffic and flood legends")
    panel = screens.call("show_panel", [{"layer": "flood", "id": "flood-1", "kind": "water"}, 0])
    check(screens, panel, "a device's panel")
    check(screens, screens.call("refresh_figures", [1], ["us-epa-2024"]), "the wall's figures")


def test_the_alarm_callbacks_come_from_the_catalogue(screens):
    check(screens, screens.call("mount_strip", ["shell-alarm-strip"]), "the alarm strip")
    check(screens, screens.call("refresh_alarms", [1, "all", None, None, None, None, "all", 0, 1]), "the alarm list")
    check(screens, screens.call("pages.alarms:show_detail", [1, 0]), "an alarm's detail")
    check(screens, screens.call("pages.alarms:show_detail", [None, 0]), "no alarm chosen")
    acknowledged = screens.call("row_action", [[({"type": "alarms-action", "action": "ack", "index": 1}, 1)]], [0])
    check(screens, acknowledged, "an acknowledgment")
    again = screens.call("row_action", [[({"type": "alarms-action", "action": "ack", "index": 1}, 1)]], [0])
    check(screens, again, "a refused acknowledgment")


def test_the_dispatch_callbacks_come_from_the_catalogue(screens):
    check(screens, screens.call("pages.dispatch:refresh", [1, 1, None, 0]), "the queue, units and an incident's detail")
    check(screens, screens.call("sub_categories", ["health"]), "the sub-categories")
    check(screens, screens.call("describe_location", [60.17, 24.944], [{"from": "map"}]), "a map point")
    check(screens, screens.call("describe_location", [None, None], [None]), "no location yet")
    refused = screens.call("create", [1], ["health", "injury", 2, "fell", "nowhere known", None, None, 0])
    check(screens, refused, "a location the city does not know")
    created = screens.call("create", [1], ["health", "injury", 2, "fell", "", 60.17, 24.944, 0])
    check(screens, created, "a created incident")
    cancelled = screens.call("act", [{"action": "dispatch-cancel-button", "incident": 1}], [None, None, 0])
    check(screens, cancelled, "a cancelled incident")


def test_the_status_and_sensors_callbacks_come_from_the_catalogue(screens):
    check(screens, screens.call("pages.status:refresh", [1]), "the telemetry status")
    check(screens, screens.call("refresh_devices", [1, None]), "the sensors")


def test_the_rejected_messages_on_the_sensors_page_come_from_the_catalogue(screens):
    """Why the ingest could not use a message is kept as said and told in the reader's language (the rows keep
    English for the API). A JSON decoder's own words ("unexpected end of data") are the one text kept as it is."""
    from services.store import Batch, ObservationStore, RejectedIn
    from services.telemetry import ParseContext, parse_message

    root = screens.runtime.settings.topic_root
    point = {"type": "Point", "coordinates": [24.95, 60.17]}
    weather = {"id": "weather-1", "type": "WeatherObserved", "location": point, "temperature": 3.5,
               "precipitation": True}
    messages = {
        f"{root}/telemetry/weather-1": weather,  # partly stored: one attribute dropped
        f"{root}/telemetry/gateway": [{"type": "Bus"}, {"id": "a"}, {"type": "AirQualityObserved", "location": point,
                                                                       "pm25": "lots"}],
        f"{root}/telemetry/air-9": {"type": "AirQualityObserved", "pm25": 3},  # no location, none registered
        f"{root}/telemetry/air-8": {"type": "AirQualityObserved", "location": point, "pm25": 3,
                                    "dateObserved": "yesterday"},
        f"{root}/telemetry/air-7": {"type": "AirQualityObserved", "location": point,
                                    "pm25": {"value": 3, "unitCode": "XYZ"}},
        f"{root}/telemetry/air-6": [],
        f"{root}/somewhere/else": {},
    }
    received = utcnow()
    context = ParseContext(root=root)
    kept = [RejectedIn.of(topic, payload, received, parse_message(topic, payload, context, received))
            for topic, payload in ((topic, json.dumps(document).encode()) for topic, document in messages.items())]
    ObservationStore(screens.runtime.engine).write(Batch(rejected=kept))
    rows = screens.call("refresh_rejections", [1, None])["response"]["sensors-rejected"]["data"]
    assert len(rows) == len(messages)
    shown = [row[column] for row in rows for column in ("Reason", "Detail")]
    unit_codes = {"gq", "gp", "cel", "kmh", "mtr"}  # UN/CEFACT's codes, as the detail names them
    problems = untranslated(shown, screens.data_words | unit_codes)
    assert not problems, f"the rejected messages: text not from the catalogue: {problems[:12]}"
    assert any("more in this message" in text for text in shown), "a gateway's message counts its further reasons"


def test_the_admin_callbacks_come_from_the_catalogue(screens):
    check(screens, screens.call("show_users", [0]), "the users")
    check(screens, screens.call("show_displays", [1, 0]), "the displays")
    created = screens.call("change_displays", [1, []], ["Metro hall", "/wall", "zh", None, "", [], 0])
    check(screens, created, "a display created")
    refused = screens.call("change_users", [0, 1, 0, 0, 0], [None, None, None, None, None, None, 0], triggered=1)
    check(screens, refused, "no user chosen")


def test_the_requests_callbacks_come_from_the_catalogue(screens):
    rows = screens.call("refresh_queue", [1, None, "active", None, None, [], 0])["response"]["requests-table"]["data"]
    assert rows, "the queue is empty"
    words = [row[column] for row in rows for column in ("service", "department", "status", "due") if row[column]]
    problems = untranslated(words, screens.data_words)
    assert not problems, f"the queue: text not from the catalogue: {problems[:12]}"
    check(screens, screens.call("show_order", [1, 0, 1]), "a request's card and timeline")
    check(screens, screens.call("show_order", [None, 0, 1]), "no request chosen")
    check(screens, screens.call("show_actions", [1, 0, 1], [None]), "a request's steps")
    action = lambda name: [[({"type": "requests-action", "action": name, "into": 0}, 1)]]  # noqa: E731
    check(screens, screens.call("act_on_request", action("assign"), [1, None, "water", 0]), "an assignment")
    check(screens, screens.call("act_on_request", action("close"), [1, None, None, 1]), "a refused step")
    check(screens, screens.call("bulk_assign", [1], [[], [], None, 0]), "nothing selected")
    check(screens, screens.call("take_call", [1], ["POT", 60.1705, 24.9445, "", "Testikatu pothole", 0]),
          "a call registered")



def test_the_rules_table_comes_from_the_catalogue(screens):
    """Conditions and scopes in words; thresholds and device ids stay as the rules file writes them."""
    from services.rules import parse_rules

    ruleset = parse_rules((PROJECT_ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"), "us-epa-2024")
    expressions = {word.lower() for rule in ruleset.rules for ref in (rule.threshold, rule.per, rule.clear_threshold)
                   if ref is not None for word in WORD.findall(ref.text)}
    expressions |= {word.lower() for rule in ruleset.rules for name in (rule.id, *(rule.scope.devices or ()))
                    for word in WORD.findall(name)}
    table = screens.call("show_rules", [0])
    texts = list(visible_texts(table))
    assert texts, "the rules table: nothing to read"
    problems = untranslated(texts, screens.data_words | expressions)
    assert not problems, f"the rules table: text not from the catalogue: {problems[:12]}"


def test_the_rules_files_problems_come_from_the_catalogue(screens):
    """What the editor's check finds, in the reader's language; the file's own keys and values stay as written."""
    from services.rules import RULE_KEYS

    text = ("rules:\n  - id: bad id!\n    name: Flood\n    entity_type: WaterObserved\n    severity: loud\n"
            "    metric: level\n    op: '>'\n    threshold: soon\n    for: later\n    scope: {street: x}\n")
    answer = screens.call("validate_or_save", [1, 0], [text, 0])
    keys = {word.lower() for key in (*RULE_KEYS, "rules", "scope", "level", "soon", "later", "loud", "street",
                                     "WaterObserved", "bad id")
            for word in WORD.findall(key)}
    texts = list(visible_texts(answer))
    assert len(texts) > 3, texts  # the summary and each problem
    problems = untranslated(texts, screens.data_words | keys)
    assert not problems, f"the rules file's problems: text not from the catalogue: {problems[:12]}"


def test_the_scorecards_callbacks_come_from_the_catalogue(screens):
    """The KPI catalogue (config/kpis.yaml) names, explains and sources its KPIs in each language itself: data
    here, as the services' names are; everything else on the cards, the matrix and the detail is the product's."""
    from services.kpis.catalogue import catalogue_of
    from services.runtime import current

    with screens.app.server.app_context():
        kpis = list(catalogue_of(current().settings))
    own = {word.lower() for kpi in kpis for text in (*kpi.label.values(), *kpi.method.values(), kpi.standard,
                                                      kpi.unit, kpi.key)
           for word in WORD.findall(text)}
    words = screens.data_words | own
    options = screens.call("pick_period", ["month"])["response"]["scorecards-start"]
    start = options["value"]
    assert not untranslated([option["label"] for option in options["options"]], words)
    for what, answer in (("the cards and matrix", screens.call("show_scorecard", [start, "city", None], ["month"])),
                         ("no KPI chosen", screens.call("pages.scorecards:show_detail", [None, start, "city"],
                                                        ["month"])),
                         ("a KPI's detail", screens.call("pages.scorecards:show_detail",
                                                         [kpis[0].key, start, "city"], ["month"]))):
        texts = list(visible_texts(answer))
        assert texts, f"{what}: nothing to read"
        problems = untranslated(texts, words)
        assert not problems, f"{what}: text not from the catalogue: {problems[:12]}"


def test_an_alarms_description_in_the_list_and_the_strip_comes_from_the_catalogue(screens, database_url):
    """The tooltips of the alarm list's rows and the strip's chips render the description as the rule said it
    (the stored English sentence is the API's)."""
    from services.db import make_engine
    from services.i18n import Term, say

    said = say("{rule} at {device}: {value}", rule=Term("msgid", "Water level at alert level"),
               device="Harbour gauge", value=Term("alarm_value", ["water_level", 1.4, 1.2]))
    engine = make_engine(database_url)
    try:
        RaiseAlarm(Trigger(rule_id="water-danger", rule_name="Water level at danger level", device_id="flood-1",
                           device_type="FloodMonitoring", device_name="Harbour gauge", district="East",
                           category="weather", sub_category="flood", severity="critical", description=said.english,
                           said=said, metric="water_level", value=1.4, threshold=1.2, lon=24.951, lat=60.166,
                           started_at=utcnow())).validate().run(engine)
    finally:
        engine.dispose()
    rows = screens.call("refresh_alarms", [1, "all", None, None, None, None, "all", 0, 1])
    chips = screens.call("mount_strip", ["shell-alarm-strip"])
    for what, answer in (("the alarm list", rows), ("the alarm strip", chips)):
        titles = [text for text in visible_texts(answer) if "Harbour gauge" in text and ":" in text]
        assert titles, f"{what}: no description shown"
        problems = untranslated(titles, screens.data_words)
        assert not problems, f"{what}: text not from the catalogue: {problems[:12]}"
