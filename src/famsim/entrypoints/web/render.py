"""Pages rendered by Jinja2 in the visitor's language, with that language's formats."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from famsim.domain.units import Resource
from famsim.entrypoints.web import charts, i18n
from famsim.entrypoints.web.format import Formatter, editable

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.globals.update(
        share=charts.share,
        level=charts.level,
        parse_time=datetime.fromisoformat,
        parse_date=date.fromisoformat,
        editable_data=lambda units: editable(Resource.DATA, units),
    )
    return env


def language_of(request: Request) -> i18n.Language:
    found: i18n.Language | None = getattr(request.state, "language", None)
    if found is None:
        found = i18n.negotiate(
            request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        request.state.language = found
    return found


class Text:
    """The translation functions of one language, as templates and pages call them.

    ``_("Saved %(name)s", name=x)`` translates, then fills the named fields; the result
    is plain text (autoescaping escapes it in a page).
    """

    def __init__(self, language: i18n.Language) -> None:
        self._catalog = i18n.translations(language)

    def __call__(self, msgid: str, /, **fields: Any) -> str:
        text = self._catalog.gettext(msgid)
        return text % fields if fields else text

    def plural(self, singular: str, plural: str, count: int, **fields: Any) -> str:
        """The form for *count*; ``%(num)s`` is the count (pass ``num=`` to show it
        formatted for the locale)."""
        text = self._catalog.ngettext(singular, plural, count)
        return text % {"num": count, **fields}


def text_of(request: Request) -> Text:
    return Text(language_of(request))


def formatter_of(request: Request, time_zone: str | None = None) -> Formatter:
    zone = ZoneInfo(time_zone) if time_zone else None
    return Formatter(language_of(request).locale, zone)


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    time_zone: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """*template* rendered for this visitor: its language, formats and signed-in user."""
    language = language_of(request)
    text = Text(language)
    values: dict[str, Any] = {
        "request": request,
        "lang": language,
        "languages": i18n.LANGUAGES,
        "_": text,
        "gettext": text,
        "ngettext": text.plural,
        "fmt": formatter_of(request, time_zone),
        "viewer": getattr(request.state, "viewer", None),
        "flash": request.query_params.get("done"),
    }
    values.update(context or {})
    html = environment().get_template(template).render(values)
    answer = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    answer.headers.setdefault("Content-Language", language.tag)
    answer.headers.setdefault("Cache-Control", "no-store")
    return answer


def svg(markup: str) -> Markup:
    """SVG drawn by :mod:`.charts` (which escapes every text it places) for a template."""
    return Markup(markup)  # noqa: S704 - built from escaped parts only
