"""Translated text: gettext message catalogues, one language per request, display or user.

Catalogues live in ``translations/<locale>/LC_MESSAGES/messages.po`` (extracted with Babel's
``pybabel extract``, compiled to ``.mo`` with ``pybabel compile``: ``make messages``). Code marks text with ``_``::

    from services.i18n import _
    html.H2(_("Active alarms"))
    _("{count} units available", count=3)

Text defined before any request (tables of labels at module level) is marked with ``N_`` (extracted, not
translated) and translated where it is shown: ``_(SEVERITY_LABELS[code])``.

The language is a context variable set once per request (or per rendering of a display), so the
same callback answers in Chinese for one screen and English for the next. A message without a
translation in the catalogue is shown as written (English).

Locales: ``en`` and ``zh``. ``zh`` is Simplified Chinese as written in mainland China: dates and numbers
are formatted with Babel's ``zh_Hans_CN`` data, and the page says ``lang="zh-Hans"``. The catalogue keeps the
short tag ``zh`` (what display links, the users table and the browser's ``Accept-Language: zh`` carry); a
Traditional Chinese catalogue would be ``zh_Hant``.
"""

from __future__ import annotations

import gettext as _gettext
import json
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DEFAULT_LOCALE = "en"
LOCALES = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}  # each in its own language: the switcher's choices
BABEL_LOCALES = {"en": "en", "zh": "zh_Hans_CN"}  # the CLDR data that formats dates and numbers
HTML_LANG = {"en": "en", "zh": "zh-Hans"}
JAVASCRIPT_SOURCES = "assets/"  # messages of the browser's scripts: served with the page (``javascript_messages``)

_locale: ContextVar[str] = ContextVar("cityops_locale", default=DEFAULT_LOCALE)


@lru_cache(maxsize=None)
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``locale`` (a NullTranslations where none is compiled)."""
    return _gettext.translation("messages", localedir=TRANSLATIONS, languages=[locale], fallback=True)


def current_locale() -> str:
    return _locale.get()


def supported(locale: str | None) -> str | None:
    """``zh-CN``, ``zh_Hans``, ``ZH`` -> ``zh``; ``en-GB`` -> ``en``; a language without a catalogue -> None."""
    if not locale:
        return None
    primary = locale.replace("_", "-").split("-", 1)[0].strip().lower()
    return primary if primary in LOCALES else None


def best_locale(preferred: Iterable[str | None], default: str = DEFAULT_LOCALE) -> str:
    """The first of ``preferred`` (most wanted first: a user's choice, a display's, the browser's languages)
    that has a catalogue."""
    for locale in preferred:
        chosen = supported(locale)
        if chosen:
            return chosen
    return default


@contextmanager
def use_locale(locale: str | None) -> Iterator[str]:
    """Translate into ``locale`` inside the block (the default language for an unknown one)."""
    chosen = locale if locale in LOCALES else DEFAULT_LOCALE
    token = _locale.set(chosen)
    try:
        yield chosen
    finally:
        _locale.reset(token)


def gettext(message: str, **variables) -> str:
    """``message`` in the current language, with ``{name}`` placeholders filled from ``variables``."""
    text = translations(_locale.get()).gettext(message)
    return text.format(**variables) if variables else text


def ngettext(singular: str, plural: str, n: int, **variables) -> str:
    text = translations(_locale.get()).ngettext(singular, plural, n)
    return text.format(n=n, **variables)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for extraction, translate later")
    return message


def in_language(english: str | None, chinese: str | None) -> str | None:
    """A name the city's own data gives in both languages (services, departments) in the current language,
    English where it has no other."""
    return chinese if _locale.get() == "zh" and chinese else english


def either(choices: Iterable[str]) -> str:
    """``a, b or c`` in the current language (CLDR's list pattern: ``a、b或c`` in Chinese)."""
    from babel.lists import format_list

    return format_list(list(choices), style="or", locale=babel_locale())


def babel_locale(locale: str | None = None) -> str:
    """The Babel (CLDR) locale that formats dates and numbers for ``locale`` (default: the current one)."""
    return BABEL_LOCALES.get(locale or _locale.get(), BABEL_LOCALES[DEFAULT_LOCALE])


def html_lang(locale: str | None = None) -> str:
    return HTML_LANG.get(locale or _locale.get(), DEFAULT_LOCALE)


@lru_cache(maxsize=None)
def javascript_messages(locale: str) -> dict[str, str]:
    """The translations of the browser scripts' messages (those extracted from assets/), for the page."""
    from babel.messages.pofile import read_po

    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as po:
        catalogue = read_po(po)
    return {message.id: message.string for message in catalogue
            if message.id and isinstance(message.id, str) and message.string and not message.fuzzy
            and any(filename.startswith(JAVASCRIPT_SOURCES) for filename, _line in message.locations)}


# ---------------------------------------------------------------- texts recorded when something happened

@dataclass(frozen=True)
class Term:
    """A word of the product's vocabulary inside a recorded text (a status, a reply, a duration): stored as its
    code (or number) and put into words in the reader's language when shown (services/vocabulary.py TERMS)."""

    kind: str
    code: Any


@dataclass(frozen=True)
class Said:
    """A text recorded when something happened (a timeline entry, an alarm's history, a request's fact), kept as
    it was said: the message (a msgid) and its named values (data as it is, ``Term`` for vocabulary, ``Said`` for
    a part said on its own). The row stores the English sentence (the API, exports and MQTT read it) and, in its
    JSON column, ``stored()`` under ``"say"``, from which ``recorded`` renders it in the reader's language."""

    text: str
    values: dict = field(default_factory=dict)

    @property
    def english(self) -> str:
        with use_locale(DEFAULT_LOCALE):
            return self.render()

    def render(self) -> str:
        return gettext(self.text, **{name: _shown(value) for name, value in self.values.items()})

    def stored(self) -> dict:
        return {"text": self.text, "with": {name: _stored(value) for name, value in self.values.items()}}


def say(message: str, **values) -> Said:
    """``say("{unit} dispatched, ETA {eta}", unit=name, eta=Term("duration", 95))``: a text to record (``Said``)."""
    return Said(message, values)


def in_english(told: Said | str) -> str:
    """What was told (said, or a text from elsewhere kept as it is) in English, as a row keeps it."""
    return told.english if isinstance(told, Said) else told


def in_reader_language(told: Said | str) -> str:
    """What was told in the current language (a text from elsewhere as it is)."""
    return told.render() if isinstance(told, Said) else told


def with_said(detail: dict | None, said: Said | None) -> dict | None:
    """A row's JSON column with what was said added under ``"say"`` (its other keys kept)."""
    return detail if said is None else {**(detail or {}), "say": said.stored()}


def recorded(sentence: str | None, detail: dict | str | None) -> str:
    """A recorded text in the current language: rendered from what was said (``detail["say"]``), else the stored
    ``sentence`` as it is (rows older than this, a text a person typed, a rule's own words)."""
    if isinstance(detail, str):  # a JSON column read without its type (plain SQL on SQLite)
        try:
            detail = json.loads(detail)
        except ValueError:
            detail = None
    said = detail.get("say") if isinstance(detail, dict) else None
    if isinstance(said, dict) and isinstance(said.get("text"), str):
        try:
            return _loaded(said).render()
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):  # a text or value it cannot fill
            pass
    return sentence or ""


def _stored(value):
    if isinstance(value, Term):
        return {"term": value.kind, "code": value.code}
    if isinstance(value, Said):
        return {"say": value.stored()}
    return value


def _loaded(said: dict) -> Said:
    def value_of(value):
        if isinstance(value, dict) and "term" in value:
            return Term(value["term"], value.get("code"))
        if isinstance(value, dict) and "say" in value:
            return _loaded(value["say"])
        return value

    return Said(said["text"], {name: value_of(value) for name, value in (said.get("with") or {}).items()})


def _shown(value):
    if isinstance(value, Said):
        return value.render()
    if isinstance(value, Term):
        from services.vocabulary import term

        return term(value.kind, value.code)
    return value


_ = gettext
