"""Languages of the web UI: which one a visitor gets, and its translations.

Four languages, named by BCP 47 tags in URLs, cookies and ``<html lang>``; Babel and the
catalogs use CLDR locale ids. The catalogs are the ``.po`` files under ``locale/``
(edited by translators, extracted with ``scripts/i18n.sh``); they are compiled in memory
on first use, so no generated ``.mo`` file is ever committed or forgotten.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
LANGUAGE_COOKIE = "famsim_lang"


@dataclass(frozen=True, slots=True)
class Language:
    tag: str  # BCP 47, what the browser and the picker speak
    locale: str  # CLDR / Babel locale id, what formats and catalogs use
    name: str  # the language's own name, shown in the picker


LANGUAGES: tuple[Language, ...] = (
    Language("en", "en", "English"),
    Language("zh-Hans", "zh_Hans_CN", "简体中文"),
    Language("zh-Hant-HK", "zh_Hant_HK", "繁體中文（香港）"),
    Language("ru", "ru_RU", "Русский"),
)
DEFAULT = LANGUAGES[0]
_BY_TAG = {lang.tag.lower(): lang for lang in LANGUAGES}


def by_tag(tag: str | None) -> Language | None:
    """The language a tag names exactly (case-insensitive), else None."""
    return _BY_TAG.get((tag or "").strip().lower())


def negotiate(chosen: str | None, accept_language: str | None) -> Language:
    """The visitor's language: the one it picked (cookie), else the best match of the
    browser's Accept-Language, else English.

    Matching reads ``zh-TW``/``zh-HK``/``zh-Hant*`` as Traditional and any other ``zh`` as
    Simplified, the way people expect a Chinese page to fall back.
    """
    picked = by_tag(chosen)
    if picked is not None:
        return picked
    for tag in _ranked(accept_language or ""):
        found = _match(tag)
        if found is not None:
            return found
    return DEFAULT


def _ranked(header: str) -> list[str]:
    """Accept-Language tags by quality, best first (RFC 9110 section 12.5.4)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]


def _match(tag: str) -> Language | None:
    exact = by_tag(tag)
    if exact is not None:
        return exact
    parts = tag.split("-")
    if parts[0] == "zh":
        traditional = {"hant", "tw", "hk", "mo"} & set(parts[1:])
        return by_tag("zh-Hant-HK" if traditional else "zh-Hans")
    return by_tag(parts[0])


@functools.cache
def translations(language: Language) -> NullTranslations:
    """The language's compiled catalog (English is the source: no catalog)."""
    po = LOCALE_DIR / language.locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language is DEFAULT or not po.exists():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language.locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)
