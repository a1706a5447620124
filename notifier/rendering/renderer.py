"""Render notices: Jinja2 (sandboxed, HTML autoescaped) with Babel catalogs and formats.

Templates live in ``templates/<kind>/{subject.txt, body.txt, body.html, body.md}``.
One environment per locale holds its compiled templates and translations, so a render
looks nothing up on disk.
"""

from __future__ import annotations

import gettext
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
)
from jinja2 import FileSystemLoader, Undefined, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from notifier.rendering.catalogs import load_translations

FORMATS = ("subject.txt", "body.txt", "body.html", "body.md")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    markdown: str


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class Formatter:
    """Babel formatting bound to one client's locale and timezone; used by templates.

    One serves one render. The text, HTML and Markdown bodies show the same amounts and
    dates, so it formats each value once and hands the same text back after that.
    """

    def __init__(self, locale: str, timezone: str) -> None:
        self.locale = locale
        self.zone = ZoneInfo(timezone)
        self._babel_locale = Locale.parse(locale)  # parsed once, not on every Babel call
        self._shown: dict[tuple[str, str, str], str] = {}

    def _once(self, how: str, value: Any, extra: str, make: Callable[[], str]) -> str:
        # Keyed by type and text: Decimal("1.0") == Decimal("1.00") but they show differently.
        key = (how, f"{type(value).__name__}:{value}", extra)
        shown = self._shown.get(key)
        if shown is None:
            shown = self._shown[key] = make()
        return shown

    def money(self, amount: Any, currency: str) -> str:
        """Show an amount rounded to the currency's minor units (JPY 0, USD 2, KWD 3)."""
        return self._once(
            "money",
            amount,
            currency,
            lambda: str(
                format_currency(
                    rounded_to_minor_units(_decimal(amount), currency),
                    currency,
                    locale=self._babel_locale,
                )
            ),
        )

    def price(self, amount: Any, currency: str) -> str:
        # A price is not an amount: 101.2345 must not be shown as 101.23.
        return self._once(
            "price",
            amount,
            currency,
            lambda: str(
                format_currency(
                    _decimal(amount),
                    currency,
                    locale=self._babel_locale,
                    decimal_quantization=False,
                )
            ),
        )

    def money_totals(self, charges: Iterable[Mapping[str, Any]]) -> str:
        """Show ``{amount, currency}`` items summed per currency, in order of first use."""
        totals: dict[str, Decimal] = {}
        for charge in charges:
            currency = charge["currency"]
            totals[currency] = totals.get(currency, Decimal(0)) + _decimal(charge["amount"])
        shown = [self.money(total, currency) for currency, total in totals.items()]
        return str(format_list(shown, style="unit", locale=self._babel_locale))

    def counter_currency(self, trade: Mapping[str, Any]) -> str:
        """Return the currency ``trade.fx_rate`` converts into, or "" when none is named.

        Contract v1 names no settlement currency, and guessing one from a charge's
        currency would show the client a pair that may be wrong; a trade block that
        carries ``settlement_currency`` (a proposed v1.1 field) gets the pair.
        """
        return str(trade.get("settlement_currency") or "")

    def fx_rate(self, rate: Any, base: str, quote: str) -> str:
        """Show a rate as a pair with its direction: ``USD/EUR 0.9231 (1 USD = 0.9231 EUR)``."""
        shown = self.number(rate)
        return f"{base}/{quote} {shown} (1 {base} = {shown} {quote})"

    def converted(self, amount: Any, rate: Any) -> Decimal:
        """Return ``amount`` times ``rate``, unrounded: :meth:`money` rounds it for display."""
        return _decimal(amount) * _decimal(rate)

    def number(self, value: Any) -> str:
        return self._once(
            "number",
            value,
            "",
            lambda: str(
                format_decimal(
                    _decimal(value), locale=self._babel_locale, decimal_quantization=False
                )
            ),
        )

    def percent(self, value: Any) -> str:
        return self._once(
            "percent",
            value,
            "",
            lambda: str(format_percent(_decimal(value), locale=self._babel_locale)),
        )

    def datetime(self, value: str | datetime) -> str:
        return self._once(
            "datetime", value, "", lambda: _show_datetime(value, self.zone, self._babel_locale)
        )

    def date(self, value: str | date) -> str:
        return self._once("date", value, "", lambda: _show_date(value, self._babel_locale))


def rounded_to_minor_units(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor units, as Babel (CLDR) knows them."""
    digits = get_currency_precision(currency)
    return amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def utc_offset(moment: datetime) -> str:
    """Return ``UTC+01:00`` / ``UTC\u221205:00`` (a real minus sign), unambiguous everywhere."""
    offset = moment.utcoffset() or timedelta(0)
    sign = "\u2212" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _show_datetime(value: str | datetime, zone: ZoneInfo, locale: Locale) -> str:
    # "CST" is Chicago, Shanghai or Havana: the abbreviation is shown only beside the offset,
    # and only when the zone has a lettered one ("EST"; not "+03", not "UTC" twice).
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(zone)
    shown = format_datetime(local, "medium", tzinfo=zone, locale=locale)
    name = local.tzname() or ""
    offset = utc_offset(local)
    if name.isalpha() and name != "UTC":
        return f"{shown} {name} ({offset})"
    return f"{shown} ({offset})"


def _show_date(value: str | date, locale: Locale) -> str:
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return str(format_date(day, "medium", locale=locale))


# What CommonMark (and GFM, and chat dialects of it) would read as syntax inside a line:
# links and images ([ ] ( ) !), emphasis and strike (* _ ~), code (`), headings (#),
# quotes (>), table cells (|), raw HTML and autolinks (<), and the escape itself.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_\[\]()!#>|<~])")
# At the start of a line: a list item ("- ", "1. "), a setext heading underline ("===").
# A negative number or a decimal ("-5", "1.5") is left as it is.
_MARKDOWN_LINE_START = re.compile(r"^([-+=](?=\s|$|[-=])|\d+[.)](?=\s|$))")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
_MARKDOWN_PLAIN = re.compile(r"[^-+=\d\\`*_\[\]()!#>|<~\r\n][^\\`*_\[\]()!#>|<~\r\n]*")


def escape_markdown(value: str) -> str:
    """Backslash-escape everything Markdown would read as syntax; line breaks become spaces.

    A value printed into a Markdown body is then text wherever it lands: in a sentence, a
    table cell or a heading, it can make no link, image, heading, list or table column.
    """
    if _MARKDOWN_PLAIN.fullmatch(value):  # most values (ids, amounts, dates): nothing to do
        return str(value)
    one_line = _LINE_BREAKS.sub(" ", value)
    escaped = _MARKDOWN_SYNTAX.sub(r"\\\1", one_line)
    return _MARKDOWN_LINE_START.sub(lambda m: m[0][:-1] + "\\" + m[0][-1], escaped)


class MarkdownText(str):
    """Notice data bound for a Markdown body: escaped as Markdown when printed.

    Jinja2's autoescaping and its gettext interpolation both go through
    ``markupsafe.escape``, which asks a value for ``__html__``; answering with the Markdown
    escape makes them escape for Markdown instead of writing HTML entities (``&lt;``) that
    a chat shows literally. It is still a ``str``: comparisons and lookups work as before.
    """

    __slots__ = ()

    def __html__(self) -> str:
        return escape_markdown(self)


def markdown_values(value: Any) -> Any:
    """Mark every string in a template context as Markdown-escaped data (keys stay)."""
    if isinstance(value, str):
        return value if isinstance(value, Markup) else MarkdownText(value)
    if isinstance(value, dict):
        return {key: markdown_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [markdown_values(item) for item in value]
    return value


class MarkdownFormatter:
    """A Formatter whose results are marked as Markdown-escaped data, like the context."""

    def __init__(self, formatter: Formatter) -> None:
        self._formatter = formatter

    def __getattr__(self, name: str) -> Callable[..., MarkdownText]:
        method: Callable[..., str] = getattr(self._formatter, name)

        def marked(*args: Any, **kwargs: Any) -> MarkdownText:
            return MarkdownText(method(*args, **kwargs))

        setattr(self, name, marked)  # looked up once per render, not once per use
        return marked


def _finalize_markdown(value: Any) -> Any:
    # A string a template made itself (a filter's result, a macro's plain text) is data too.
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return MarkdownText(value)
    return value


class PrintingUndefined(Undefined):
    """Undefined that may be tested (``{% if trade.fx_rate %}``) but never printed.

    A missing value printed as an empty string once hid a cause label missing from an
    escalation; a client must never get a notice with a silent hole in it, so printing
    one fails the render (and the task retries, visibly) instead.
    """

    __slots__ = ()

    def __str__(self) -> str:
        self._fail_with_undefined_error()
        return ""  # not reached: the call above raises


def _gettext_callables(translations: gettext.NullTranslations) -> dict[str, Any]:
    """Return ``_``, ``gettext`` and ``ngettext`` for one environment, cheaper than Jinja2's.

    They do what the i18n extension's newstyle callables do (translate, mark the result
    safe where the template autoescapes, then always ``%`` the variables in, which
    escapes them there) in one call instead of three (``_`` → ``gettext`` → the
    catalog), and keep each translation, and each result without variables, once looked
    up: a notice asks for about 150 messages, most of them row labels it asked for in
    the other formats already.
    """
    translated: dict[str, str] = {}
    constant: dict[tuple[str, bool], str] = {}

    @pass_eval_context
    def translate(eval_ctx: EvalContext, string: str, /, **variables: Any) -> str:
        if not variables:
            shown = constant.get((string, eval_ctx.autoescape))
            if shown is not None:
                return shown
        text = translated.get(string)
        if text is None:
            text = translated[string] = translations.gettext(string)
        if eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704  # catalog text is template text, as in Jinja2's gettext
        shown = text % variables
        if not variables:
            constant[string, eval_ctx.autoescape] = shown
        return shown

    @pass_eval_context
    def ntranslate(
        eval_ctx: EvalContext, singular: str, plural: str, num: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", num)
        text = translations.ngettext(singular, plural, num)
        if eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704  # catalog text is template text, as in Jinja2's gettext
        return text % variables

    return {"_": translate, "gettext": translate, "ngettext": ntranslate}


def normalise_locale(tag: str) -> str:
    """Return a locale Babel knows (``en-US`` → ``en_US``), or raise ValueError."""
    try:
        return str(Locale.parse(tag.replace("-", "_")))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown locale {tag!r}") from exc


class Renderer:
    """Render any notice kind in any locale; thread-safe, templates held in memory."""

    def __init__(self, templates_dir: Path, locales_dir: Path) -> None:
        self.templates_dir = templates_dir
        self.locales_dir = locales_dir
        self._envs: dict[tuple[str, bool], SandboxedEnvironment] = {}
        self._lock = threading.Lock()

    def _environment(self, locale: str, markdown: bool = False) -> SandboxedEnvironment:
        env = self._envs.get((locale, markdown))
        if env is not None:
            return env
        with self._lock:
            env = self._envs.get((locale, markdown))
            if env is None:
                env = self._envs[locale, markdown] = self._make_environment(locale, markdown)
        return env

    def _make_environment(self, locale: str, markdown: bool) -> SandboxedEnvironment:
        """Build one locale's environment: HTML-escaping, or Markdown-escaping for body.md.

        The Markdown one escapes every template (partials too), and its values arrive as
        ``MarkdownText``, so the escape Jinja2 applies is the Markdown one.
        """
        env = SandboxedEnvironment(
            loader=FileSystemLoader(self.templates_dir),
            autoescape=True if markdown else select_autoescape(["html"], default_for_string=False),
            finalize=_finalize_markdown if markdown else None,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            undefined=PrintingUndefined,
            # Templates are compiled once per process and kept: no stat of the file on
            # every get_template (includes and imports too). A template edit needs a
            # restart, as a code change does; catalogs were already loaded once per locale.
            auto_reload=False,
            cache_size=-1,  # a plain dict: the templates are a small, fixed set
        )
        # de_AT → de → English: a locale without a catalog, or a string missing,
        # empty or fuzzy in it, renders in English. A .po newer than its .mo (or
        # without one) is compiled in memory, so no build step is needed.
        translations = load_translations(self.locales_dir, locale)
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension
        env.globals.update(_gettext_callables(translations))
        return env

    def render_page(self, name: str, values: dict[str, Any], locale: str, timezone: str) -> str:
        """Render one HTML page (``templates/pages/<name>``) in the reader's language."""
        env = self._environment(normalise_locale(locale))
        page = env.get_template(f"pages/{name}")
        return page.render(dict(values, fmt=Formatter(locale, timezone), locale=locale))

    def render(self, kind: str, context: dict[str, Any], locale: str, timezone: str) -> Rendered:
        formatter = Formatter(locale, timezone)
        env = self._environment(locale)
        values = dict(context, fmt=formatter, locale=locale)
        out = [env.get_template(f"{kind}/{name}").render(values) for name in FORMATS[:3]]
        marked = dict(markdown_values(context), fmt=MarkdownFormatter(formatter), locale=locale)
        markdown = self._environment(locale, markdown=True).get_template(f"{kind}/body.md")
        return Rendered(
            subject=" ".join(out[0].split()),
            text=out[1],
            html=out[2],
            markdown=markdown.render(marked),
        )
