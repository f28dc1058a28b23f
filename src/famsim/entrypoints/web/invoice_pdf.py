"""An invoice as a PDF, in the reader's language (ReportLab).

Chinese is set in Adobe's ``STSong-Light`` CID font, which PDF readers bring themselves
(simplified and traditional glyphs), so no font file ships with famsim. Other languages
use the system's DejaVu Sans (Debian's fonts-dejavu-core, which ``make test`` installs),
embedded: CJK fonts draw Cyrillic full-width. Without DejaVu, the CID font still draws
every glyph, only less evenly.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from famsim.entrypoints.web.format import Formatter
from famsim.entrypoints.web.invoice_text import line_label
from famsim.entrypoints.web.render import Text

CJK_FONT = "STSong-Light"
SANS_FONT = "famsim-sans"
SANS_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
)
pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


@functools.cache
def _font(locale: str) -> str:
    if locale.startswith("zh"):
        return CJK_FONT
    for path in SANS_FILES:
        if path.exists():
            pdfmetrics.registerFont(TTFont(SANS_FONT, str(path)))
            return SANS_FONT
    return CJK_FONT


@dataclass(frozen=True)
class _Styles:
    body: ParagraphStyle
    title: ParagraphStyle
    heading: ParagraphStyle


@functools.cache
def _styles(font: str) -> _Styles:
    return _Styles(
        ParagraphStyle(f"body-{font}", fontName=font, fontSize=10, leading=14),
        ParagraphStyle(f"title-{font}", fontName=font, fontSize=18, leading=24, spaceAfter=6),
        ParagraphStyle(f"heading-{font}", fontName=font, fontSize=12, leading=18, spaceBefore=10),
    )


def invoice_pdf(invoice: dict[str, Any], text: Text, fmt: Formatter) -> bytes:
    """*invoice* as ``GuardedBilling.invoice`` gives it (whole, or a member's part)."""
    out = io.BytesIO()
    title = text("Invoice %(number)s", number=invoice["number"])
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=title,
        author="famsim",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    currency = invoice["currency"]
    period = invoice["period"]
    font = _font(fmt.locale)
    styles = _styles(font)
    story: list[Any] = [
        Paragraph(_escape(title), styles.title),
        Paragraph(
            _escape(
                text(
                    "Cycle %(start)s to %(end)s",
                    start=fmt.day(date.fromisoformat(period["start"])),
                    end=fmt.day(date.fromisoformat(period["end"])),
                )
                + " · "
                + text("Plan %(plan)s", plan=invoice["plan"])
                + " · "
                + text(
                    "Issued %(when)s",
                    when=fmt.moment(datetime.fromisoformat(invoice["issued_at"])),
                )
            ),
            styles.body,
        ),
    ]
    if invoice.get("partial"):
        story.append(
            Paragraph(
                _escape(
                    text("Your part of the family's invoice: your own charges and your share.")
                ),
                styles.body,
            )
        )
    rows: list[list[str]] = [[text("Item"), text("Member"), text("Amount")]]
    for line in invoice["lines"]:
        rows.append(
            [
                line_label(line, text, fmt),
                line["member"] or text("Family"),
                fmt.money(line["minor"], currency),
            ]
        )
    totals = [
        (text("Subtotal"), invoice["subtotal_minor"]),
        (text("Tax"), invoice["tax_minor"]),
        (text("Total"), invoice["total_minor"]),
    ]
    first_total = len(rows)
    rows.extend([label, "", fmt.money(minor, currency)] for label, minor in totals)
    story += [Spacer(1, 6 * mm), _table(rows, first_total, styles.body)]
    story.append(Paragraph(_escape(text("Who pays what")), styles.heading))
    shares = [[s["member"], fmt.money(s["minor"], currency)] for s in invoice["shares"]]
    story.append(_table(shares, len(shares), styles.body, header=False))
    notes = invoice.get("credit_notes") or []
    if notes:
        story.append(Paragraph(_escape(text("Credit notes")), styles.heading))
        story.append(
            _table(
                [[n["number"], n["reason"], fmt.money(n["minor"], currency)] for n in notes],
                len(notes),
                styles.body,
                header=False,
            )
        )
    doc.build(story)
    return out.getvalue()


def _table(
    rows: list[list[str]], first_total: int, body: ParagraphStyle, *, header: bool = True
) -> Table:
    cells = [[_paragraph(cell, body) for cell in row] for row in rows]
    widths = [95 * mm, 45 * mm, 34 * mm] if len(rows[0]) == 3 else [120 * mm, 54 * mm]
    table = Table(cells, colWidths=widths, repeatRows=1 if header else 0)
    style: list[Any] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
    ]
    if header:
        style.append(("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black))
    if first_total < len(rows):
        style.append(("LINEABOVE", (0, first_total), (-1, first_total), 0.8, colors.black))
    table.setStyle(TableStyle(style))
    return table


def _paragraph(value: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph in *style*, or in the CJK font when it holds Chinese (a member's name
    on an English invoice): the sans font has no such glyphs."""
    if style.fontName != CJK_FONT and any(_is_cjk(char) for char in value):
        style = _styles(CJK_FONT).body
    return Paragraph(_escape(value), style)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x2E80 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF


def _escape(value: str) -> str:
    """Paragraph text is a little XML: escape what would be markup. The middle dot the
    pages use between parts is not in the CID font: a slash stands in."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for wide, plain in (("\u00b7", "/"), ("\u00a0", " "), ("\u202f", " ")):
        escaped = escaped.replace(wide, plain)  # glyphs the CID font lacks
    return escaped
