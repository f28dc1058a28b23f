"""famsim's QR codes read back by a decoder nobody here wrote: ``zbarimg`` (Debian's zbar-tools).

The PNG goes to zbarimg as is. zbarimg cannot open an SVG here (ImageMagick has no SVG
renderer without extra packages), so the SVG is checked in two steps: its one ``<path>`` is
read back into a module matrix, which must equal segno's matrix of the same payload, and
that matrix is drawn as a plain PBM image, which zbarimg must decode to the payload. So the
decoder reads what the SVG draws, not a second rendering of the payload.

Without zbarimg these tests skip, or fail when FAMSIM_REQUIRE_TOOLS=1 (as `make test` sets
it after installing zbar-tools with scripts/ensure-tools.sh).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import segno

from famsim.adapters.qr import MAX_PAYLOAD_LENGTH, QUIET_ZONE, qr_png, qr_svg
from qr_decoder import decode as _decode
from qr_decoder import find_zbarimg

pytestmark = pytest.mark.integration

SVG_NS = "{http://www.w3.org/2000/svg}"

OID_TAIL = "$1.3.6.1.4.1.31746$1"
LONGEST = "LPA:1$SMDP.EXAMPLE.COM$" + "04386-AGYFT-A74Y8-3F815-" * 8
LONGEST = LONGEST + "X" * (MAX_PAYLOAD_LENGTH - len(LONGEST) - len(OID_TAIL)) + OID_TAIL

PAYLOADS = {
    "example": "LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815",
    "confirmation-code-required": "LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815$$1",
    "with-oid": "LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1",
    "lower-case-address": "LPA:1$smdp.example.com$04386-AGYFT-A74Y8-3F815",
    "empty-token": "LPA:1$SMDP.EXAMPLE.COM$",
    "longest": LONGEST,
}


@pytest.fixture(scope="module")
def zbarimg() -> str:
    return find_zbarimg()


_PATH_COMMAND = re.compile(r"([Mmh])\s*(-?\d+(?:\.\d+)?)(?:\s+(-?\d+(?:\.\d+)?))?")


def _svg_matrix(svg: str) -> list[list[bool]]:
    """The dark modules the SVG draws, quiet zone included, read from its one path.

    segno draws each run of dark modules in a row as a horizontal line one module thick
    through the middle of the row: ``M x y`` / ``m dx dy`` move the pen (y is row + 0.5),
    ``h n`` draws n modules to the right. The drawing is in module units under a
    ``scale(...)`` transform; the SVG's width divided by that scale is the size in modules.
    """
    root = ET.fromstring(svg)
    paths = root.findall(f"{SVG_NS}path")
    assert len(paths) == 1
    path = paths[0]
    scale_match = re.fullmatch(r"scale\((\d+)\)", path.get("transform", ""))
    assert scale_match is not None
    size = int(root.get("width", "0")) // int(scale_match.group(1))
    matrix = [[False] * size for _ in range(size)]
    x = y = 0.0
    commands = _PATH_COMMAND.findall(path.get("d", ""))
    assert "".join(_PATH_COMMAND.sub("", path.get("d", "")).split()) == ""  # nothing unread
    for command, first, second in commands:
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:  # h: a run of dark modules
            row = int(y - 0.5)
            for column in range(int(x), int(x + float(first))):
                matrix[row][column] = True
            x += float(first)
    return matrix


def _segno_matrix(payload: str) -> list[list[bool]]:
    """segno's own matrix of the symbol, with the quiet zone, as booleans."""
    symbol = segno.make(payload, error="m", boost_error=False, micro=False)
    rows = [[bool(module) for module in row] for row in symbol.matrix]
    size = len(rows) + 2 * QUIET_ZONE
    blank = [False] * size
    pad = [False] * QUIET_ZONE
    return (
        [list(blank) for _ in range(QUIET_ZONE)]
        + [pad + row + pad for row in rows]
        + [list(blank) for _ in range(QUIET_ZONE)]
    )


def _write_pbm(matrix: list[list[bool]], target: Path, *, scale: int = 4) -> None:
    """Draw ``matrix`` as a plain (P1) PBM, ``scale`` pixels a module; 1 is black."""
    size = len(matrix) * scale
    lines = ["P1", f"{size} {size}"]
    for row in matrix:
        line = " ".join("1" if dark else "0" for dark in row for _ in range(scale))
        lines.extend([line] * scale)
    target.write_text("\n".join(lines) + "\n", encoding="ascii")


def test_longest_payload_is_the_longest_allowed() -> None:
    assert len(LONGEST) == 259 == MAX_PAYLOAD_LENGTH


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_zbarimg_reads_the_png_as_the_payload(zbarimg: str, tmp_path: Path, payload: str) -> None:
    image = tmp_path / "code.png"
    image.write_bytes(qr_png(payload))

    assert _decode(zbarimg, image) == payload


@pytest.mark.parametrize("scale", [2, 3])
def test_zbarimg_reads_small_pngs(zbarimg: str, tmp_path: Path, scale: int) -> None:
    # zbar needs at least 2 pixels a module (at scale 1 it finds nothing); the default is 8.
    payload = PAYLOADS["example"]
    image = tmp_path / "code.png"
    image.write_bytes(qr_png(payload, scale=scale))

    assert _decode(zbarimg, image) == payload


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_svg_draws_segnos_matrix_and_zbarimg_reads_it(
    zbarimg: str, tmp_path: Path, payload: str
) -> None:
    matrix = _svg_matrix(qr_svg(payload))
    assert matrix == _segno_matrix(payload)

    image = tmp_path / "svg-modules.pbm"
    _write_pbm(matrix, image)
    assert _decode(zbarimg, image) == payload
