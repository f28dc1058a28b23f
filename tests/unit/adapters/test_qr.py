"""The QR adapter: SVG and PNG of an activation code, level M exactly, payloads checked.

Whether a real decoder reads the codes back is tests/integration/test_qr_decoding.py.
"""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
import segno

from famsim.adapters.qr import MAX_PAYLOAD_LENGTH, QUIET_ZONE, SVG_TITLE, qr_png, qr_svg
from famsim.domain.errors import InvalidInput

pytestmark = pytest.mark.unit

SVG_NS = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

EXAMPLE = "LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815"
EXAMPLE_CC = "LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815$$1"
WITH_OID = "LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1"


def _symbol(payload: str) -> segno.QRCode:
    """segno's own reading of the symbol the adapter makes for ``payload``."""
    return segno.make(payload, error="m", boost_error=False, micro=False)


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_svg_is_a_standalone_svg_document_with_a_title() -> None:
    svg = qr_svg(EXAMPLE)

    assert not svg.startswith("<?xml")  # pasteable into an HTML page
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    title = root.find(f"{SVG_NS}title")
    assert title is not None
    assert title.text == SVG_TITLE
    assert "eSIM activation QR code" in SVG_TITLE
    # The title is the first child, where assistive technology looks for it.
    assert next(iter(root)).tag == f"{SVG_NS}title"


def test_svg_uses_only_the_expected_elements() -> None:
    root = ET.fromstring(qr_svg(EXAMPLE))

    assert {element.tag for element in root.iter()} == {
        f"{SVG_NS}svg",
        f"{SVG_NS}title",
        f"{SVG_NS}path",
    }
    assert len(root.findall(f"{SVG_NS}path")) == 1


def test_svg_is_four_px_a_module_with_the_quiet_zone() -> None:
    root = ET.fromstring(qr_svg(EXAMPLE))
    modules = _symbol(EXAMPLE).symbol_size(border=QUIET_ZONE)[0]  # 29 + 2 * 4 for version 3

    assert modules == 37
    assert root.get("width") == str(4 * modules)
    assert root.get("height") == str(4 * modules)


def test_png_has_the_png_signature_and_the_expected_size() -> None:
    png = qr_png(EXAMPLE)

    assert png.startswith(PNG_SIGNATURE)
    assert _png_size(png) == (8 * 37, 8 * 37)


def test_png_scale_is_pixels_per_module() -> None:
    assert _png_size(qr_png(EXAMPLE, scale=3)) == (3 * 37, 3 * 37)


@pytest.mark.parametrize("scale", [0, -1])
def test_png_refuses_a_scale_below_one(scale: int) -> None:
    with pytest.raises(InvalidInput, match="scale"):
        qr_png(EXAMPLE, scale=scale)


@pytest.mark.parametrize(
    ("payload", "designator"),
    [
        (EXAMPLE, "3-M"),
        (EXAMPLE_CC, "3-M"),
        (WITH_OID, "4-M"),
    ],
)
def test_uppercase_codes_are_level_m_in_alphanumeric_mode(payload: str, designator: str) -> None:
    symbol = _symbol(payload)

    assert symbol.error == "M"
    assert symbol.designator == designator
    assert symbol.mode == "alphanumeric"
    assert not symbol.is_micro


def test_lowercase_address_needs_byte_mode_and_a_larger_symbol() -> None:
    upper = _symbol(EXAMPLE)
    lower = _symbol(EXAMPLE.replace("SMDP.EXAMPLE.COM", "smdp.example.com"))

    assert lower.mode == "byte"
    assert lower.designator == "4-M"
    assert lower.version > upper.version


def test_level_is_m_even_when_a_higher_level_would_fit() -> None:
    # The sample code leaves room in version 3 for level Q, and segno's defaults take it
    # (boost_error=True); a tiny payload would even become a micro QR. The adapter does neither.
    assert segno.make(EXAMPLE, error="m").designator == "3-Q"
    assert segno.make("LPA:1$A$", error="m").is_micro
    assert _symbol(EXAMPLE).designator == "3-M"
    assert _symbol("LPA:1$A$").designator == "1-M"
    assert qr_png(EXAMPLE, scale=1) == _png_via_segno(EXAMPLE)
    assert qr_png("LPA:1$A$", scale=1) == _png_via_segno("LPA:1$A$")


def test_both_formats_draw_the_same_symbol_as_segno() -> None:
    # The SVG and the PNG come from one segno call with the same arguments as _symbol.
    svg, png = qr_svg(EXAMPLE), qr_png(EXAMPLE, scale=1)
    expected = _symbol(EXAMPLE)

    assert _png_size(png) == expected.symbol_size(border=QUIET_ZONE)
    assert ET.fromstring(svg).get("width") == str(4 * expected.symbol_size(border=QUIET_ZONE)[0])


def test_longest_payload_is_accepted_at_level_m() -> None:
    payload = "LPA:1$" + "A" * (MAX_PAYLOAD_LENGTH - len("LPA:1$"))

    assert len(payload) == 259
    assert qr_png(payload).startswith(PNG_SIGNATURE)
    ET.fromstring(qr_svg(payload))
    assert _symbol(payload).error == "M"


@pytest.mark.parametrize("render", [qr_svg, qr_png])
def test_empty_payload_is_refused(render: Callable[[str], object]) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        render("")


@pytest.mark.parametrize("render", [qr_svg, qr_png])
def test_too_long_payload_is_refused(render: Callable[[str], object]) -> None:
    payload = "LPA:1$" + "A" * (MAX_PAYLOAD_LENGTH - len("LPA:1$") + 1)

    assert len(payload) == 260
    with pytest.raises(InvalidInput, match=r"260 characters; at most 259"):
        render(payload)


def test_adapter_does_not_add_the_lpa_prefix() -> None:
    # The caller builds the payload; typed entry (no prefix) gives a different symbol.
    bare = EXAMPLE.removeprefix("LPA:")

    assert qr_png(bare) != qr_png(EXAMPLE)
    assert qr_png(bare, scale=1) == _png_via_segno(bare)


def _png_via_segno(payload: str) -> bytes:
    out = io.BytesIO()
    _symbol(payload).save(out, kind="png", scale=1, border=QUIET_ZONE)
    return out.getvalue()
