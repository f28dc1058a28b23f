"""Invoices as PDF in each language, read back with pypdf (text, fonts, one page)."""

from __future__ import annotations

import io
import os
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from famsim.adapters.catalog import load_catalog, sample_catalog_path
from famsim.domain.billing.invoice import issue_invoice
from famsim.domain.billing.rating import BillableSim, CycleFacts, OverageUse, rate
from famsim.domain.billing.split import SplitPolicy, SplitRule
from famsim.domain.plan import DeviceKind
from famsim.domain.units import HOME, Resource
from famsim.entrypoints.web import i18n
from famsim.entrypoints.web.format import Formatter
from famsim.entrypoints.web.invoice_pdf import SANS_FILES, invoice_pdf
from famsim.entrypoints.web.render import Text
from famsim.service.billing import invoice_summary


@pytest.fixture(scope="module")
def summary() -> dict:  # type: ignore[type-arg]
    plan = next(p for p in load_catalog(sample_catalog_path()) if p.code == "hk-family-5g-100")
    facts = CycleFacts(
        family_id="f1",
        cycle_number=1,
        start=date(2026, 11, 1),
        end=date(2026, 12, 1),
        plan=plan,
        members=("m1", "m2"),
        sims=(BillableSim("m2", "+85291230002", DeviceKind.WATCH, date(2026, 11, 16)),),
        overage=(OverageUse("m1", Resource.DATA, HOME, 2 * 10**9),),
        tax_basis_points=500,
    )
    invoice = issue_invoice(
        "INV-2026-000042",
        facts,
        rate(facts),
        owner_id="m1",
        policy=SplitPolicy(SplitRule.EQUAL),
        issued_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
        member_names={"m1": "陳大文 Chan Tai Man", "m2": "Wong <Mei> & Ling"},
    )
    return invoice_summary(invoice) | {
        "credit_notes": [{"number": "CN-2026-000001", "reason": "goodwill", "minor": 500}]
    }


def read(document: bytes) -> tuple[str, set[str]]:
    reader = PdfReader(io.BytesIO(document))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    fonts = {str(f["/BaseFont"]) for f in page["/Resources"]["/Font"].values()}
    return page.extract_text(), fonts


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("en", ["Invoice INV-2026-000042", "Plan fee", "HK$", "Watch", "15 of 30 days", "5%"]),
        ("zh-Hant-HK", ["賬單 INV-2026-000042", "計劃月費", "HK$"]),
        ("zh-Hans", ["账单 INV-2026-000042", "套餐月费"]),
        ("ru", ["Счёт INV-2026-000042", "Абонентская плата", "HK$"]),
    ],
    ids=["en", "zh-Hant-HK", "zh-Hans", "ru"],
)
def test_each_language_reads_back(summary: dict, tag: str, words: list[str]) -> None:  # type: ignore[type-arg]
    language = i18n.by_tag(tag)
    assert language is not None
    document = invoice_pdf(summary, Text(language), Formatter(language.locale))
    assert document.startswith(b"%PDF-")
    text, fonts = read(document)
    for word in words:
        assert word in text, (word, text)
    assert "陳大文" in text  # a Chinese name survives any language
    assert "Wong <Mei> & Ling" in text  # markup characters are text, not markup
    assert "CN-2026-000001" in text
    if tag.startswith("zh"):
        assert any("STSong" in font for font in fonts)


def test_cyrillic_uses_an_embedded_sans_font(summary: dict) -> None:  # type: ignore[type-arg]
    if not any(path.exists() for path in SANS_FILES):
        if os.environ.get("FAMSIM_REQUIRE_TOOLS") == "1":
            pytest.fail(
                "DejaVu Sans is missing: scripts/ensure-tools.sh installs fonts-dejavu-core"
            )
        pytest.skip("no DejaVu / Liberation Sans on this machine")
    language = i18n.by_tag("ru")
    assert language is not None
    _, fonts = read(invoice_pdf(summary, Text(language), Formatter(language.locale)))
    assert any("famsim-sans" in font or "DejaVu" in font for font in fonts), fonts
