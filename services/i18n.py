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
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

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


_ = gettext
