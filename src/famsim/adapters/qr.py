"""QR codes of eSIM activation codes, as SVG (for web pages) and PNG (for e-mail, print).

One job: turn the text a phone must read into a QR symbol. The caller builds that text,
``LPA:`` prefix included (``LPA:1$SMDP.EXAMPLE.COM$04386-AGYFT-A74Y8-3F815``); this module
adds nothing to it. The confirmation code never goes into the QR: it travels to the user by
a separate channel, so whoever photographs the QR cannot install the profile alone.

Every symbol is made the same way:

* error correction level **M** (about 15% of the symbol recoverable), exactly, as SGP.22
  (section 4.1) and the GSMA's eSIM guidance ask: it survives a scuffed print or a glare on
  a screen, and stays smaller than Q or H. ``boost_error=False`` stops segno from raising the
  level to fill spare room, so every code we hand out has the level the guidance names;
* a full QR code, never a micro QR (phones' camera apps do not read micro QR);
* a quiet zone of 4 modules, the width ISO/IEC 18004 requires around the symbol.

Upper-case activation codes (``0-9 A-Z $ - . :`` and space) fit QR's alphanumeric mode,
5.5 bits a character instead of 8, so the symbol is a version or two smaller and easier to
scan; lower-case letters force byte mode. That is why the caller should upper-case the
SM-DP+ address (DNS names are case-insensitive) before building the payload.
"""

from __future__ import annotations

import io

import segno

from famsim.domain.errors import InvalidInput

#: SGP.22 caps an activation code at 255 characters; a QR code carries it after ``LPA:``.
MAX_PAYLOAD_LENGTH = 255 + len("LPA:")

#: The quiet zone, in modules, on each side of the symbol (ISO/IEC 18004).
QUIET_ZONE = 4

#: Pixels (SVG user units) per module in the SVG: the sample activation code (version 3,
#: 29 modules plus the quiet zone) is 148 px wide in a web page, and the SVG scales without
#: loss when a style sheet resizes it.
SVG_SCALE = 4

SVG_TITLE = "eSIM activation QR code"


def _symbol(payload: str) -> segno.QRCode:
    """The QR symbol of ``payload`` at level M exactly, after checking the payload."""
    if not payload:
        raise InvalidInput("a QR code needs a payload: the activation code is empty")
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise InvalidInput(
            f"activation code payload is {len(payload)} characters; at most "
            f"{MAX_PAYLOAD_LENGTH} fit (255 for the activation code plus 'LPA:')"
        )
    return segno.make(payload, error="m", boost_error=False, micro=False)


def qr_svg(payload: str) -> str:
    """The QR code of ``payload`` as a standalone SVG document (no XML declaration).

    It can be served as ``image/svg+xml`` or pasted into an HTML page as is. Its ``<title>``
    names it for screen readers. Raises :class:`InvalidInput` for an empty payload or one
    longer than :data:`MAX_PAYLOAD_LENGTH`.
    """
    out = io.BytesIO()
    _symbol(payload).save(
        out,
        kind="svg",
        scale=SVG_SCALE,
        border=QUIET_ZONE,
        xmldecl=False,
        svgns=True,
        title=SVG_TITLE,
        nl=False,
    )
    return out.getvalue().decode("utf-8")


def qr_png(payload: str, *, scale: int = 8) -> bytes:
    """The QR code of ``payload`` as a PNG image, ``scale`` pixels per module.

    The default of 8 makes the sample activation code (version 3) 296 pixels wide, quiet
    zone included: enough for a phone camera pointed at a screen or a print-out. Raises
    :class:`InvalidInput` for an empty payload, one longer than :data:`MAX_PAYLOAD_LENGTH`,
    or a scale below 1.
    """
    if scale < 1:
        raise InvalidInput(f"QR scale must be at least 1 pixel per module, got {scale}")
    out = io.BytesIO()
    _symbol(payload).save(out, kind="png", scale=scale, border=QUIET_ZONE)
    return out.getvalue()
