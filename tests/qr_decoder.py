"""Reading QR codes back with a decoder nobody here wrote: zbarimg (Debian's zbar-tools).

Not a test module: ``find_zbarimg()`` gives its path (skipping the test when it is missing,
or failing under FAMSIM_REQUIRE_TOOLS=1, as `make test` sets after installing it) and
``decode()`` the text of the one QR code in an image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ZBARIMG_TIMEOUT = 30  # seconds; a decode takes well under one


def _tools_required() -> bool:
    return os.environ.get("FAMSIM_REQUIRE_TOOLS", "").strip().lower() in {"1", "true", "yes"}


def find_zbarimg() -> str:
    """Path of zbarimg; skips (or fails, under FAMSIM_REQUIRE_TOOLS=1) when it is missing."""
    path = shutil.which("zbarimg")
    if path is None:
        message = (
            "zbarimg not found; install Debian's zbar-tools with scripts/ensure-tools.sh "
            "(or `make tools`)"
        )
        if _tools_required():
            pytest.fail(f"FAMSIM_REQUIRE_TOOLS is set but {message}", pytrace=False)
        pytest.skip(message)
    return path


def decode(zbarimg: str, image: Path) -> str:
    """The text zbarimg reads from ``image``; fails the test if it finds no QR code."""
    result = subprocess.run(
        [zbarimg, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(image)],
        capture_output=True,
        timeout=ZBARIMG_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"zbarimg found no QR code in {image.name} (exit {result.returncode}): "
        f"{result.stderr.decode(errors='replace')}"
    )
    # --raw prints each symbol's data followed by a newline.
    return result.stdout.decode("utf-8").removesuffix("\n")
