"""Builders of the dispatch console's panels: queue, unit board, incident detail, new-incident form.

Pure: views in, Dash components out. Timers carry ``data-since`` (ISO UTC); assets/dispatch.js
ticks them every second in the browser.
"""
from __future__ import annotations

from datetime import datetime

from dash import dcc, html

from components.drill import drill_badge
from services.incidents import (
    CATEGORIES,
    DISPOSITIONS,
    RESOLVABLE_STATUSES,
    SEVERITY_OF_PRIORITY,
    IncidentView,
    TimelineEntry,
    shown_escalation,
    iso,
)
from services.i18n import _, recorded
from services.places import KIND_LABELS as PLACE_KIND_LABELS
from services.units import Candidate, UnitView
from services.vocabulary import (
    INCIDENT_STATUS_LABELS,
    SOURCE_LABELS,
    TIMER_LABELS,
    UNIT_KIND_LABELS,
    UNIT_STATUS_LABELS,
    duration,
    incident_kind,
    label_of,
    number,
    site_time,
    words,
)

QUEUE_ROW = "dispatch-queue-row"
CANDIDATE_ROW = "dispatch-candidate-row"
SEND = "dispatch-send"
RETURN = "dispatch-return"
TOP_BUTTON = "dispatch-top-button"
CANCEL_BUTTON = "dispatch-cancel-button"
NEW_BUTTON = "dispatch-new-button"
RESOLVE_BUTTON = "dispatch-resolve-button"
SHOWN_ATTRIBUTE = "data-shown-incident"  # on the detail head: the incident the dispatcher sees (assets/dispatch.js)

FORM = "dispatch-form"
FORM_CATEGORY = "dispatch-form-category"
FORM_SUB = "dispatch-form-sub"
FORM_PRIORITY = "dispatch-form-priority"
FORM_DESCRIPTION = "dispatch-form-description"
FORM_ADDRESS = "dispatch-form-address"
FORM_LON = "dispatch-form-lon"
FORM_LAT = "dispatch-form-lat"
FORM_SUBMIT = "dispatch-form-submit"
FORM_PLACES = "dispatch-form-places"  # the suggestions under the location field
FORM_FOUND = "dispatch-form-found"  # the places suggested (their points)
FORM_PICKED = "dispatch-form-picked"  # the place picked or the map point: {name, from: "list" | "map"}
FORM_WHERE = "dispatch-form-where"  # the location the incident will get, in words
PLACE_OPTION = "dispatch-place-option"
FORM_CLOSE = "dispatch-form-close"

RESOLVE_FORM = "dispatch-resolve-form"
RESOLVE_OUTCOME = "dispatch-resolve-outcome"
RESOLVE_DISPOSITION = "dispatch-resolve-disposition"
RESOLVE_SUBMIT = "dispatch-resolve-submit"
RESOLVE_CLOSE = "dispatch-resolve-close"


def timer(since: datetime | None, now: datetime, counts: str = "", *, class_name: str = "") -> html.Span:
    """A running timer that says what it counts ("on scene 3 min 05 s"); assets/dispatch.js ticks it."""
    if since is None:
        return html.Span("—", className="dispatch-timer-none")
    text = duration((now - since).total_seconds())
    return html.Span(f"{counts} {text}".strip(), className=f"dispatch-timer {class_name}".strip(),
                     **{"data-since": iso(since), "data-counts": counts})


def status_badge(status: str, labels: dict[str, str]) -> html.Span:
    return html.Span(label_of(labels, status), className=f"badge status-{status}")


def priority_badge(priority: int) -> html.Span:
    return html.Span(_("P{priority}", priority=priority), className=f"badge prio prio-{priority}",
                     title=words(SEVERITY_OF_PRIORITY[priority]))


def _timer_words(status: str) -> str:
    """What a timer started by ``status`` counts ("waiting", "on scene"), in the screen's language."""
    return _(TIMER_LABELS[status]) if status in TIMER_LABELS else ""


def where(incident: IncidentView) -> str:
    return incident.address or incident.district or f"{incident.lat:.4f}, {incident.lon:.4f}"


def queue_table(incidents: list[IncidentView], selected: int | None, now: datetime,
                escalations: dict[int, str] | None = None) -> html.Div:
    """``escalations``: why each escalated incident was, in the reader's language (services.incidents
    ``shown_escalations``), else as stored."""
    if not incidents:
        return html.P(_("No open incidents."), className="empty")
    rows = []
    for incident in incidents:
        classes = ["queue-row", f"row-{incident.status}"]
        if incident.id == selected:
            classes.append("selected")
        if incident.escalated:
            classes.append("escalated")
        rows.append(html.Tr(id={"type": QUEUE_ROW, "index": incident.id}, n_clicks=0, className=" ".join(classes),
                            **{"data-incident": str(incident.id)}, children=[
            html.Td(priority_badge(incident.priority)),
            html.Td(f"#{incident.id}", className="mono"),
            html.Td([html.Div([incident_kind(incident.category, incident.sub_category),
                               drill_badge(getattr(incident, "drill", None))], className="cat",
                              title=words(incident.category)),
                     html.Div(where(incident), className="sub")]),
            html.Td([status_badge(incident.status, INCIDENT_STATUS_LABELS),
                     html.Span(_("ESC"), className="badge esc",
                               title=(escalations or {}).get(incident.id, incident.escalation_reason or ""))
                     if incident.escalated else None,
                     html.Span(incident.unit_id or "", className="sub mono"),
                     html.Div(timer(incident.status_since, now, _timer_words(incident.status),
                                    class_name="sub"))]),
        ]))
    return html.Table(className="dispatch-table queue", children=[
        html.Thead(html.Tr([html.Th(_("Pri")), html.Th("#"), html.Th(_("Incident / location")), html.Th(_("Status"))])),
        html.Tbody(rows),
    ])


def unit_board(units: list[UnitView], now: datetime, may_act: bool = True) -> html.Table:
    """``may_act``: the viewer's role may send units back (a manager's board has no buttons)."""
    rows = []
    for unit in units:
        rows.append(html.Tr(className=f"unit-row unit-{unit.status}", children=[
            html.Td(html.Span(unit.unit_id, className="mono strong"), title=unit.name),
            html.Td(label_of(UNIT_KIND_LABELS, unit.kind), title=unit.base_name or ""),
            html.Td(status_badge(unit.status, UNIT_STATUS_LABELS)),
            html.Td(timer(unit.status_since, now, _timer_words(unit.status)), className="num"),
            html.Td(f"#{unit.incident_id}" if unit.incident_id else "—", className="mono"),
            html.Td(f"{number(unit.speed_kmh, 0)} km/h" if unit.speed_kmh else "—", className="num"),
            html.Td(words(unit.service_status) or "—", className="sub"),
            html.Td(html.Button(_("Return"), id={"type": RETURN, "index": unit.unit_id}, n_clicks=0,
                                className="btn btn-small", disabled=unit.status in ("returning", "out_of_service"),
                                title=_("Send back to base (an incident it has not reached goes back to the queue)")) if may_act else ""),
        ]))
    return html.Table(className="dispatch-table units", children=[
        html.Thead(html.Tr([html.Th(_("Unit")), html.Th(_("Kind")), html.Th(_("Status")), html.Th(_("Timer"), className="num"),
                            html.Th(_("Incident")), html.Th(_("Speed"), className="num"), html.Th(_("Vehicle says")),
                            html.Th("")])),
        html.Tbody(rows),
    ])


def incident_detail(incident: IncidentView | None, candidates: list[Candidate], timeline: list[TimelineEntry],
                    chosen_unit: str | None, now: datetime, timezone: str, may_act: bool = True) -> list:
    if incident is None:
        return [html.P(_("Select an incident in the queue (J/K), or create one (N)."), className="empty")]
    waiting = incident.status == "new"
    facts = [
        (_("Kind"), f"{words(incident.category)} · {incident_kind(incident.category, incident.sub_category)}"),
        (_("Severity"), words(SEVERITY_OF_PRIORITY[incident.priority])),
        (_("Reported via"), label_of(SOURCE_LABELS, incident.source)),
        (_("Location"), where(incident)), (_("District"), incident.district or "—"),
        (_("Created"), site_time(incident.created_at, timezone, seconds=True)),
        (_("Unit"), incident.unit_id or "—"),
    ]
    if incident.status not in ("resolved", "closed", "cancelled"):
        facts.insert(6, (_("Timers"), html.Span([timer(incident.created_at, now, _("open")), " · ",
                                                 timer(incident.status_since, now, _timer_words(incident.status))])))
    steps = incident.step_durations()
    header = html.Div(className="detail-head", **{SHOWN_ATTRIBUTE: str(incident.id)}, children=[
        priority_badge(incident.priority),
        html.Span(f"#{incident.id}", className="mono strong"),
        html.Span(incident_kind(incident.category, incident.sub_category), className="detail-title"),
        status_badge(incident.status, INCIDENT_STATUS_LABELS),
    ])
    banner = html.Div([_("ESCALATED — "), shown_escalation(incident, timeline)], className="escalation-banner") \
        if incident.escalated else None
    return [
        header, banner,
        html.P(incident.description or "", className="detail-description"),
        html.Dl(className="facts", children=[item for label, value in facts
                                             for item in (html.Dt(label), html.Dd(value))]),
        html.Div([html.H3(_("How long each step took")),
                  html.Dl(className="facts steps", children=[item for name, seconds in steps
                                                             for item in (html.Dt(_(name)), html.Dd(duration(seconds)))])])
        if steps else None,
        html.H3(_("Recommended units") if waiting else _("Units (incident is not waiting)")),
        candidate_table(candidates, chosen_unit, waiting, may_act),
        html.H3(_("Timeline")),
        timeline_list(timeline, timezone),
    ]


def candidate_table(candidates: list[Candidate], chosen_unit: str | None, waiting: bool, may_act: bool = True):
    if not waiting:
        return html.P(_("Dispatch is possible while the incident is New."), className="empty")
    if not candidates:
        return html.P(_("No available unit can handle this category now."), className="empty warn")
    rows = []
    for candidate in candidates:
        unit = candidate.unit
        rows.append(html.Tr(id={"type": CANDIDATE_ROW, "index": unit.unit_id}, n_clicks=0,
                            className="candidate-row" + (" chosen" if unit.unit_id == chosen_unit else ""), children=[
            html.Td(str(candidate.rank), className="num"),
            html.Td([html.Span(unit.unit_id, className="mono strong"), html.Div(unit.name, className="sub")]),
            html.Td(status_badge(unit.status, UNIT_STATUS_LABELS)),
            html.Td(duration(candidate.eta_seconds), className="num strong"),
            html.Td(f"{number(candidate.route.distance_m / 1000, 2, trim=False)} km", className="num"),
            html.Td(html.Button(_("Send"), id={"type": SEND, "index": unit.unit_id}, n_clicks=0,
                                className="btn btn-small btn-primary") if may_act else ""),
        ]))
    return html.Table(className="dispatch-table candidates", children=[
        html.Thead(html.Tr([html.Th("#", className="num"), html.Th(_("Unit")), html.Th(_("Status")),
                            html.Th(_("ETA"), className="num"), html.Th(_("Road"), className="num"), html.Th("")])),
        html.Tbody(rows),
    ])


def timeline_list(timeline: list[TimelineEntry], timezone: str) -> html.Ol:
    return html.Ol(className="timeline", children=[
        html.Li(className=f"tl-{entry.kind}", children=[
            html.Span(site_time(entry.at, timezone, seconds=True), className="mono tl-time"),
            html.Span(entry.actor, className="tl-actor"),
            html.Span(recorded(entry.message, entry.detail), className="tl-message"),
        ]) for entry in reversed(timeline)
    ])


def detail_actions(may_act: bool = True) -> html.Div:
    """Static buttons (the keyboard shortcuts click them); the page enables them per incident. A role
    that may not dispatch sees none (they stay in the page, hidden and disabled, because the page's
    callbacks name them; the server refuses their commands anyway)."""
    return html.Div(className="detail-actions", children=[
        html.Button([_("Dispatch top"), " ", html.Kbd("D")], id=TOP_BUTTON, n_clicks=0, className="btn btn-primary",
                    disabled=True, hidden=not may_act),
        html.Button([_("Cancel incident"), " ", html.Kbd("C")], id=CANCEL_BUTTON, n_clicks=0, className="btn btn-danger",
                    disabled=True, hidden=not may_act),
        html.Button(_("Resolve…"), id=RESOLVE_BUTTON, n_clicks=0, className="btn", disabled=True, hidden=not may_act,
                    title=_("Close the incident with its outcome; its units go back to base")),
        html.Button([_("New incident"), " ", html.Kbd("N")], id=NEW_BUTTON, n_clicks=0, className="btn",
                    disabled=not may_act, hidden=not may_act),
        html.Span(_("Read only: your role may not dispatch or change incidents."), className="detail-readonly")
        if not may_act else None,
    ])


def new_incident_form() -> html.Div:
    """The location is chosen by typing an address, street, place or district and picking a suggestion
    (assets/dispatch.js asks GET /api/v1/places as the dispatcher types), or by clicking the map."""
    categories = [{"label": words(name), "value": name} for name in CATEGORIES]
    return html.Div(id=FORM, className="dispatch-form hidden", children=[
        html.Div(className="form-head", children=[html.Span(_("New incident")),
                                                  html.Button("×", id=FORM_CLOSE, n_clicks=0, className="btn-close",
                                                              title=_("Close (Esc)"))]),
        dcc.Store(id=FORM_FOUND, data=[]), dcc.Store(id=FORM_PICKED),
        html.Div(className="form-grid", children=[
            html.Label(_("Description")), dcc.Input(id=FORM_DESCRIPTION, type="text", debounce=False,
                                                 placeholder=_("what happened"), className="input"),
            html.Label(_("Category")), dcc.Dropdown(id=FORM_CATEGORY, options=categories, value="health",
                                                 clearable=False, className="dd"),
            html.Label(_("Sub-category")), dcc.Dropdown(id=FORM_SUB, clearable=True, className="dd"),
            html.Label(_("Priority")), dcc.RadioItems(id=FORM_PRIORITY, value=2, inline=True, className="prio-radio",
                                                   options=[{"label": _("P{priority}", priority=p), "value": p}
                                                            for p in (1, 2, 3, 4)]),
            html.Label(_("Location"), htmlFor=FORM_ADDRESS),
            html.Div(className="place-search", children=[
                dcc.Input(id=FORM_ADDRESS, type="text", debounce=False, autoComplete="off", className="input",
                          placeholder=_("address, street or place")),
                html.Div(id=FORM_PLACES, className="place-list", role="listbox"),
            ]),
        ]),
        html.P(_("Type an address and pick it from the list, or click the map."), id=FORM_WHERE, className="hint"),
        html.Details(className="form-coordinates", children=[
            html.Summary(_("Coordinates")),
            html.Div(className="lonlat", children=[
                dcc.Input(id=FORM_LAT, type="number", placeholder=_("latitude"), className="input", step="any"),
                dcc.Input(id=FORM_LON, type="number", placeholder=_("longitude"), className="input", step="any"),
            ]),
        ]),
        html.Button(_("Create incident"), id=FORM_SUBMIT, n_clicks=0, className="btn btn-primary"),
    ])


def place_options(places: list[dict]) -> list:
    """The suggestions under the location field: a button per place ("Mannerheimintie 5 · Address · Kallio")."""
    return [html.Button(id={"type": PLACE_OPTION, "index": i}, n_clicks=0, className="place-option", role="option",
                        children=[html.Span(place["name"], className="place-name"),
                                  html.Span(" · ".join(part for part in (_(PLACE_KIND_LABELS[place["kind"]])
                                                                         if place["kind"] in PLACE_KIND_LABELS else "",
                                                                         place.get("detail")) if part),
                                            className="place-kind")])
            for i, place in enumerate(places)]


def resolvable(incident: IncidentView | None) -> bool:
    return incident is not None and incident.status in RESOLVABLE_STATUSES


def resolve_form() -> html.Div:
    """Static and hidden: the Resolve button opens it in the browser; it resolves the incident shown."""
    return html.Div(id=RESOLVE_FORM, className="dispatch-form resolve-form hidden", children=[
        html.Div(className="form-head", children=[html.Span(_("Resolve the incident shown")),
                                                  html.Button("×", id=RESOLVE_CLOSE, n_clicks=0, className="btn-close",
                                                              title=_("Close (Esc)"))]),
        html.Div(className="form-grid", children=[
            html.Label(_("Outcome")), dcc.Textarea(id=RESOLVE_OUTCOME, placeholder=_("what was done, in your words"),
                                                className="input", rows=2),
            html.Label(_("Disposition")), dcc.RadioItems(id=RESOLVE_DISPOSITION, className="disposition-radio",
                                                      options=[{"label": _(label), "value": code}
                                                               for code, label in DISPOSITIONS.items()]),
        ]),
        html.Button(_("Resolve and close"), id=RESOLVE_SUBMIT, n_clicks=0, className="btn btn-primary"),
    ])
