"""The web UI's languages: complete catalogs, placeholders kept, the visitor's language
picked from the cookie or the browser, and numbers, money, sizes and dates per locale.

The catalogs are compared with the texts extracted from the source *now*, the way
``scripts/i18n.sh`` extracts them (babel.cfg, and the script's keywords): a text added
to a page without translations fails here, naming it. See docs/translating.md.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations
from babel.util import pathmatch

from famsim.domain.units import Resource
from famsim.entrypoints.web import i18n
from famsim.entrypoints.web.format import Formatter
from famsim.entrypoints.web.render import Text

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[4]
WEB = ROOT / "src" / "famsim" / "entrypoints" / "web"
SCRIPT = ROOT / "scripts" / "i18n.sh"
TRANSLATED = [lang for lang in i18n.LANGUAGES if lang is not i18n.DEFAULT]
NAMED = re.compile(r"%\((\w+)\)s")
FIX = "run `make i18n` (scripts/i18n.sh update), translate in {po}, see docs/translating.md"


def _lang(tag: str) -> i18n.Language:
    found = i18n.by_tag(tag)
    assert found is not None, tag
    return found


def _po(language: i18n.Language) -> Path:
    return i18n.LOCALE_DIR / language.locale / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


@functools.cache
def _catalog(language: i18n.Language) -> Catalog:
    with _po(language).open("rb") as source:
        return read_po(source, locale=language.locale)


def _messages(language: i18n.Language) -> dict[str, Message]:
    return {_key(m.id): m for m in _catalog(language) if m.id}


def _key(msgid: str | tuple[str, ...] | list[str]) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def _strings(message: Message) -> list[str]:
    return [message.string] if isinstance(message.string, str) else list(message.string)


def _ids(message: Message) -> list[str]:
    return [message.id] if isinstance(message.id, str) else list(message.id)


@functools.cache
def _keywords() -> dict[str, Any]:
    """pybabel's defaults and the ``-k`` options of scripts/i18n.sh, as pybabel merges them."""
    specs = re.findall(r"-k\s+([^\s)]+)", SCRIPT.read_text(encoding="utf-8"))
    assert specs, f"no -k keyword in {SCRIPT}"
    return {**DEFAULT_KEYWORDS, **parse_keywords(specs)}


@functools.cache
def _mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]]]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    return method_map, options_map


@functools.cache
def _source_texts() -> dict[str, list[str]]:
    """Every msgid in the source now, with the files that use it."""
    method_map, options_map = _mapping()
    found: dict[str, list[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=_keywords()
    ):
        found.setdefault(_key(message), []).append(filename)
    return found


def _directives(text: str) -> tuple[list[str], int]:
    return sorted(NAMED.findall(text)), text.count("%%")


# --- catalogs -------------------------------------------------------------------------


def test_the_source_has_texts_to_translate() -> None:
    texts = _source_texts()
    assert "Sign in" in texts  # a template's _("...")
    assert "Hotspot and roaming saved." in texts  # a page's text("...")
    assert "%(num)s field needs a change." in texts  # ngettext's singular


def test_babel_cfg_maps_every_template_and_page_module() -> None:
    method_map, _ = _mapping()
    files = [*WEB.glob("templates/**/*.html"), *WEB.glob("**/*.py")]
    assert files
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        assert any(pathmatch(pattern, relative) for pattern, _ in method_map), relative


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda lang: lang.tag)
def test_catalog_compiles(language: i18n.Language) -> None:
    compiled = i18n.translations(language)
    assert isinstance(compiled, Translations)
    assert compiled.gettext("Sign out") != "Sign out"


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda lang: lang.tag)
def test_catalog_has_exactly_the_texts_of_the_source(language: i18n.Language) -> None:
    source = _source_texts()
    catalog = _messages(language)
    missing = sorted(source.keys() - catalog.keys())
    gone = sorted(catalog.keys() - source.keys())
    problems = [
        f"not translated yet: {t!r} (in {', '.join(sorted(set(source[t])))})" for t in missing
    ]
    problems += [f"no longer in the source: {t!r}" for t in gone]
    problems += [f"obsolete entry: {key!r}" for key in _catalog(language).obsolete]
    assert not problems, (
        f"{_po(language).relative_to(ROOT)} is out of date with the source; "
        + FIX.format(po=_po(language).relative_to(ROOT))
        + ":\n  "
        + "\n  ".join(problems)
    )


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda lang: lang.tag)
def test_every_text_is_translated_and_none_is_fuzzy(language: i18n.Language) -> None:
    catalog = _catalog(language)
    problems = []
    for key, message in _messages(language).items():
        if message.fuzzy:
            problems.append(f"fuzzy (check it, then delete the '#, fuzzy' line): {key!r}")
        strings = _strings(message)
        if message.pluralizable and len(strings) != catalog.num_plurals:
            problems.append(f"needs {catalog.num_plurals} plural forms: {key!r}")
        if not all(strings):
            problems.append(f"untranslated: {key!r}")
    assert not problems, (
        FIX.format(po=_po(language).relative_to(ROOT)) + ":\n  " + "\n  ".join(problems)
    )


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda lang: lang.tag)
def test_placeholders_are_those_of_the_english(language: i18n.Language) -> None:
    problems = []
    for key, message in _messages(language).items():
        english = _ids(message)[-1]  # the plural, when there is one, names the same fields
        names = dict.fromkeys(NAMED.findall(english), "x")
        for translation in filter(None, _strings(message)):
            if _directives(translation) != _directives(english):
                problems.append(f"{key!r}: {translation!r}")
            elif names:
                try:  # a stray "%" would break the page
                    _ = translation % names
                except (ValueError, TypeError, KeyError):
                    problems.append(f"{key!r}: {translation!r} (a lone %: write %%)")
    assert not problems, "placeholders differ from the English msgid:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize(
    ("locale", "forms"),
    [("zh_Hans_CN", 1), ("zh_Hant_HK", 1), ("ru_RU", 3)],
)
def test_plural_forms_of_the_language(locale: str, forms: int) -> None:
    (language,) = [lang for lang in TRANSLATED if lang.locale == locale]
    catalog = _catalog(language)
    assert catalog.num_plurals == forms
    assert str(catalog.locale) == locale


def test_russian_plurals_in_a_page() -> None:
    text = Text(_lang("ru"))
    plural = "%(num)s fields need a change."
    shown = {n: text.plural("%(num)s field needs a change.", plural, n) for n in (1, 3, 5, 21)}
    assert shown == {
        1: "Нужно исправить 1 поле.",
        3: "Нужно исправить 3 поля.",
        5: "Нужно исправить 5 полей.",
        21: "Нужно исправить 21 поле.",
    }


def test_a_page_text_in_each_language() -> None:
    def hard_cap(tag: str) -> str:
        return Text(_lang(tag))("Hard cap %(cap)s", cap="2 GB")

    assert hard_cap("en") == "Hard cap 2 GB"
    assert hard_cap("zh-Hans") == "上限 2 GB"
    assert hard_cap("zh-Hant-HK") == "上限 2 GB"
    assert hard_cap("ru") == "Жёсткий лимит 2 GB"
    hk = Text(_lang("zh-Hant-HK"))
    assert (hk("Home"), hk("Data")) == ("主頁", "數據")
    cn = Text(_lang("zh-Hans"))
    assert (cn("Home"), cn("Data")) == ("首页", "流量")


# --- the visitor's language -----------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "accept", "tag"),
    [
        ("ru", "zh-CN,zh;q=0.9", "ru"),  # the picked language wins
        ("zh-hant-hk", "en", "zh-Hant-HK"),  # tags are case-insensitive
        ("xx", "ru", "ru"),  # an unknown cookie is ignored
        (None, "zh-TW,zh;q=0.9", "zh-Hant-HK"),
        (None, "zh-HK", "zh-Hant-HK"),
        (None, "zh-Hant", "zh-Hant-HK"),
        (None, "zh-CN", "zh-Hans"),
        (None, "zh", "zh-Hans"),
        (None, "zh-SG", "zh-Hans"),
        (None, "ru-RU,en;q=0.5", "ru"),
        (None, "en;q=0.3, ru;q=0.8", "ru"),  # by quality, not by order
        (None, "de", "en"),
        (None, "de-DE,fr;q=0.8,ru;q=0.1", "ru"),
        (None, "ru;q=0", "en"),  # q=0 means "not this one"
        (None, None, "en"),
        (None, "", "en"),
        (None, ",,;;", "en"),
        (None, "zh;q=abc", "en"),
        (None, "\x00\xff garbage ;q=", "en"),
        (None, "*", "en"),
    ],
)
def test_negotiate(cookie: str | None, accept: str | None, tag: str) -> None:
    assert i18n.negotiate(cookie, accept).tag == tag


# --- formats --------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Babel's no-break spaces (CLDR changes which) as plain spaces."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@pytest.mark.parametrize(
    ("locale", "minor", "currency", "shown"),
    [
        ("en", 123450, "USD", "$1,234.50"),
        ("en", 123450, "HKD", "HK$1,234.50"),
        ("zh_Hant_HK", 123450, "HKD", "HK$1,234.50"),
        ("zh_Hans_CN", 123450, "CNY", "¥1,234.50"),
        ("zh_Hant_HK", 123450, "CNY", "CN¥1,234.50"),
        ("ru_RU", 123450, "RUB", "1 234,50 ₽"),
        ("ru_RU", 123450, "HKD", "1 234,50 HK$"),
        ("zh_Hans_CN", 123450, "USD", "US$1,234.50"),
        ("en", 5, "HKD", "HK$0.05"),
    ],
)
def test_money(locale: str, minor: int, currency: str, shown: str) -> None:
    assert _plain(Formatter(locale).money(minor, currency)) == shown


def test_no_money_is_a_dash() -> None:
    assert Formatter("ru_RU").money(None, "RUB") == "—"


@pytest.mark.parametrize(
    ("locale", "octets", "shown"),
    [
        ("en", 1_500_000_000, "1.5 GB"),
        ("en", 2_000_000_000, "2 GB"),
        ("en", 2_500, "2.5 kB"),
        ("zh_Hans_CN", 1_500_000_000, "1.5 GB"),
        ("zh_Hant_HK", 1_000_000_000_000, "1 TB"),
        ("ru_RU", 1_500_000_000, "1,5 ГБ"),
        ("ru_RU", 2_000_000, "2 МБ"),
    ],
)
def test_data_sizes(locale: str, octets: int, shown: str) -> None:
    assert _plain(Formatter(locale).data(octets)) == shown


def test_unlimited_data_is_infinity() -> None:
    assert Formatter("zh_Hant_HK").amount(Resource.DATA, None) == "∞"


@pytest.mark.parametrize(
    ("locale", "seconds", "shown"),
    [
        ("en", 5400, "90 min"),
        ("en", 90, "1.5 min"),
        ("zh_Hans_CN", 5400, "90分钟"),
        ("zh_Hant_HK", 5400, "90 分鐘"),
        ("ru_RU", 90, "1,5 мин"),
    ],
)
def test_voice_minutes(locale: str, seconds: int, shown: str) -> None:
    assert _plain(Formatter(locale).amount(Resource.VOICE, seconds)) == shown


def test_sms_is_a_count() -> None:
    assert _plain(Formatter("ru_RU").amount(Resource.SMS, 1234)) == "1 234"
    assert Formatter("zh_Hant_HK").amount(Resource.SMS, 1234) == "1,234"


@pytest.mark.parametrize(
    ("locale", "part", "whole", "shown"),
    [
        ("en", 1, 3, "33%"),
        ("zh_Hant_HK", 3, 4, "75%"),
        ("ru_RU", 1, 3, "33 %"),
        ("en", 1, 0, "—"),
        ("en", 1, None, "—"),
    ],
)
def test_percent(locale: str, part: int, whole: int | None, shown: str) -> None:
    assert _plain(Formatter(locale).percent(part, whole)) == shown


@pytest.mark.parametrize(
    ("locale", "day", "moment"),
    [
        ("en", "Nov 22, 2026", "Nov 22, 2026, 6:05:00 PM"),
        ("zh_Hans_CN", "2026年11月22日", "2026年11月22日 18:05:00"),
        ("zh_Hant_HK", "2026年11月22日", "2026年11月22日 下午6:05:00"),
        ("ru_RU", "22 нояб. 2026 г.", "22 нояб. 2026 г., 18:05:00"),
    ],
)
def test_dates_in_the_family_time_zone(locale: str, day: str, moment: str) -> None:
    fmt = Formatter(locale, ZoneInfo("Asia/Hong_Kong"))
    assert _plain(fmt.day(date(2026, 11, 22))) == day
    # 10:05 UTC is 18:05 in Hong Kong
    assert _plain(fmt.moment(datetime(2026, 11, 22, 10, 5, tzinfo=UTC))) == moment
