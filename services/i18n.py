"""Translated text: gettext message catalogues, one language per request, display or user.

Catalogues live in ``translations/<locale>/LC_MESSAGES/messages.po`` (extracted with Babel's
``pybabel extract``, compiled to ``.mo`` with ``pybabel compile``). Code marks text with ``_``::

    from services.i18n import _
    html.H2(_("Active alarms"))
    _("{count} units available", count=3)

The language is a context variable set once per request (or per rendering of a display), so the
same callback answers in Chinese for one screen and English for the next. A message without a
translation in the catalogue is shown as written (English).
"""

from __future__ import annotations

import gettext as _gettext
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Iterator

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DEFAULT_LOCALE = "en"
LOCALES = ("en", "zh")

_locale: ContextVar[str] = ContextVar("cityops_locale", default=DEFAULT_LOCALE)


@lru_cache(maxsize=None)
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``locale`` (a NullTranslations where none is compiled)."""
    return _gettext.translation("messages", localedir=TRANSLATIONS, languages=[locale], fallback=True)


def current_locale() -> str:
    return _locale.get()


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


def pgettext(context: str, message: str, **variables) -> str:
    """``message`` as meant in ``context`` (the same English word, translated differently: an AQI standard's
    "Good" is 良 in HJ 633 and 良好 in the US EPA's)."""
    text = translations(_locale.get()).pgettext(context, message)
    return text.format(**variables) if variables else text


_ = gettext
