#!/usr/bin/env bash
# Make sure the programs the test suite drives are installed, all from Debian's packages:
#   zbarimg         (zbar-tools)      decodes famsim's QR codes back: a decoder nobody here
#                                     wrote, so a passing test means a phone's reader would agree;
#   chromium        (chromium)        the real browser the web UI's tests drive with Playwright
#                                     (Playwright's own browser download is not used);
#   Noto Sans CJK   (fonts-noto-cjk)  so Chinese text renders in the browser tests' screenshots.
#   DejaVu Sans     (fonts-dejavu-core) the font invoice PDFs embed for Latin and Cyrillic.
#   erl, erlc, escript (erlang-base), diameterc (erlang-diameter), the diameter headers
#                   (erlang-dev) and the RFC 4006 credit-control dictionary (erlang-examples):
#                                     Erlang/OTP's diameter application is the Gy client that
#                                     tests famsim's Diameter server, a client nobody here wrote.
# Idempotent and quick when everything is there: it installs only what is missing, first with
# the package lists it has, and only if that fails refreshes them (apt-get update) and retries.
set -euo pipefail

AS_ROOT_WHO=ensure-tools
AS_ROOT_PACKAGE=zbar-tools
# shellcheck source=scripts/as-root.sh
source "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "$@"
}

# has_package NAME: the Debian package is installed.
has_package() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

# has_command NAME: the command is on PATH.
has_command() {
    command -v "$1" >/dev/null 2>&1
}

missing=()
has_command zbarimg || missing+=(zbar-tools)
has_command chromium || missing+=(chromium)
has_package fonts-noto-cjk || missing+=(fonts-noto-cjk)
has_package fonts-dejavu-core || missing+=(fonts-dejavu-core)
# The Erlang Diameter client (tests/e2e/diameter/erlang_client.py) compiles the dictionary
# with diameterc and its modules with erlc, which need diameter's headers from erlang-dev.
ERLANG_PACKAGES=(erlang-base erlang-diameter erlang-dev erlang-examples)
ERLANG_TOOLS=(erl erlc diameterc)
for package in "${ERLANG_PACKAGES[@]}"; do
    has_package "$package" || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
    AS_ROOT_PACKAGE="${missing[*]}"
    if ! has_command apt-get; then
        echo "ensure-tools: missing ${missing[*]} and no apt-get: install them by hand." >&2
        exit 1
    fi
    echo "ensure-tools: installing Debian's ${missing[*]}"
    # Try with the package lists we have (quick); refresh them only if that fails.
    if ! apt_install "${missing[@]}"; then
        echo "ensure-tools: install failed; updating the package lists and retrying"
        as_root apt-get update
        apt_install "${missing[@]}"
    fi
    for tool in zbarimg chromium "${ERLANG_TOOLS[@]}"; do
        if ! has_command "$tool"; then
            echo "ensure-tools: installed ${missing[*]}, but still no $tool on PATH" >&2
            exit 1
        fi
    done
    if ! has_package fonts-dejavu-core; then
        echo "ensure-tools: installed ${missing[*]}, but fonts-dejavu-core is not installed" >&2
        exit 1
    fi
    if ! has_package fonts-noto-cjk; then
        echo "ensure-tools: installed ${missing[*]}, but fonts-noto-cjk is not installed" >&2
        exit 1
    fi
    for package in "${ERLANG_PACKAGES[@]}"; do
        if ! has_package "$package"; then
            echo "ensure-tools: installed ${missing[*]}, but $package is not installed" >&2
            exit 1
        fi
    done
fi

echo "ensure-tools: $(zbarimg --version 2>&1 | head -n 1 || true) at $(command -v zbarimg)"
echo "ensure-tools: $(chromium --version 2>/dev/null | head -n 1 || true) at $(command -v chromium)"
echo "ensure-tools: fonts-noto-cjk $(dpkg-query -W -f='${Version}' fonts-noto-cjk 2>/dev/null || true)"
echo "ensure-tools: fonts-dejavu-core $(dpkg-query -W -f='${Version}' fonts-dejavu-core 2>/dev/null || true)"
echo "ensure-tools: Erlang/OTP $(erl -noshell -eval 'io:put_chars(erlang:system_info(otp_release)), halt().' 2>/dev/null || true), diameterc at $(command -v diameterc), erlang-examples $(dpkg-query -W -f='${Version}' erlang-examples 2>/dev/null || true)"
