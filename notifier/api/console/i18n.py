"""The console in the operator's language: gettext from the ``console`` domain, Babel formats."""

from __future__ import annotations

import gettext
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_decimal
from flask import Flask, g, request, session

from notifier.rendering.catalogs import CONSOLE_DOMAIN, LOCALES, load_translations
from notifier.runtime import Runtime


@lru_cache(maxsize=16)
def _translations(locales_dir: Path, lang: str) -> gettext.NullTranslations:
    return load_translations(locales_dir, lang, CONSOLE_DOMAIN)


def choose_language() -> str:
    """``?lang=`` (remembered in the session), else the browser's Accept-Language."""
    wanted = request.args.get("lang")
    if wanted in LOCALES:
        session["lang"] = wanted
    remembered = session.get("lang")
    if remembered in LOCALES:
        return str(remembered)
    return request.accept_languages.best_match(LOCALES) or "en"


def _current() -> gettext.NullTranslations:
    found = getattr(g, "console_translations", None)
    return found if found is not None else gettext.NullTranslations()


def translate(message: str) -> str:
    return _current().gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return _current().ngettext(singular, plural, n)


def _when(value: str | datetime | None) -> str:
    """A stored UTC time in the operator's locale (still UTC: support works in UTC)."""
    if value is None or value == "":
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment, "medium", tzinfo=UTC, locale=g.get("lang", "en")) + " UTC"


def _number(value: Any) -> str:
    return "-" if value is None else format_decimal(value, locale=g.get("lang", "en"))


def install(app: Flask) -> None:
    """Give the app's Jinja2 environment gettext that follows each request's language."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
        gettext=translate, ngettext=_ngettext, newstyle=True
    )
    app.jinja_env.filters["when"] = _when
    app.jinja_env.filters["number"] = _number
    app.jinja_env.filters["state"] = state_label


def activate(runtime: Runtime) -> str:
    """Choose this request's language and load its catalog; return the language."""
    lang = choose_language()
    g.lang = lang
    g.console_translations = _translations(runtime.settings.locales_dir, lang)
    return lang


def _state_labels() -> dict[str, str]:
    """Every state and outcome the console shows, in the operator's language."""
    _ = translate  # the name Babel's extractor looks for
    return {
        "pending": _("pending"),
        "rendered": _("rendered"),
        "delivering": _("delivering"),
        "delivered": _("delivered"),
        "partially_delivered": _("partially delivered"),
        "failed": _("failed"),
        "acknowledged": _("acknowledged"),
        "disputed": _("disputed"),
        "superseded": _("superseded"),
        "queued": _("queued"),
        "sending": _("sending"),
        "sent": _("sent"),
        "retrying": _("retrying"),
        "skipped": _("skipped"),
        "open": _("open"),
        "delayed": _("delayed"),
        "final": _("final"),
        "revoked": _("revoked"),
        "executed": _("executed"),
        "provisional": _("provisional"),
        "reverted": _("reverted"),
        "cancelled": _("cancelled"),
        "accepted": _("accepted"),
        "stored": _("stored"),
        "stale": _("stale"),
        "unknown_client": _("unknown client"),
        "timeout": _("timeout"),
        "nothing_sent": _("nothing sent"),
        "lost": _("lost"),
    }


def state_label(value: str | None) -> str:
    """A state's name for the operator; one the console does not know is shown as it is."""
    if not value:
        return "-"
    return _state_labels().get(value, value)
