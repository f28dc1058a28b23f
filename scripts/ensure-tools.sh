#!/usr/bin/env bash
# Make sure the command-line tools the test suite drives are installed. Today that is
# `zbarimg` (Debian's zbar-tools), the QR decoder the tests read famsim's QR codes back with:
# a decoder nobody here wrote, so a passing test means a phone's reader would agree.
# Idempotent: installs zbar-tools only when no zbarimg is on PATH.
set -euo pipefail

AS_ROOT_WHO=ensure-tools
AS_ROOT_PACKAGE=zbar-tools
# shellcheck source=scripts/as-root.sh
source "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

install_zbar() {
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends zbar-tools
}

if ! command -v zbarimg >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure-tools: no zbarimg and no apt-get: install zbar (zbarimg) by hand." >&2
        exit 1
    fi
    echo "ensure-tools: zbarimg not found; installing Debian's zbar-tools"
    # Try with the package lists we have (quick); refresh them only if that fails.
    if ! install_zbar; then
        echo "ensure-tools: install failed; updating the package lists and retrying"
        as_root apt-get update
        install_zbar
    fi
    if ! command -v zbarimg >/dev/null 2>&1; then
        echo "ensure-tools: installed zbar-tools, but still no zbarimg on PATH" >&2
        exit 1
    fi
fi

echo "ensure-tools: $(zbarimg --version 2>&1 | head -n 1 || true) at $(command -v zbarimg)"
