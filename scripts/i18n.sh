#!/usr/bin/env bash
# The web UI's translations: Babel catalogs extracted from the pages and templates.
# See docs/translating.md.
#
#   scripts/i18n.sh extract [FILE]  the source's texts into a POT file
#                                   (default build/i18n/messages.pot; build/ is not committed)
#   scripts/i18n.sh update          extract, then merge into every language's messages.po:
#                                   new texts arrive empty, gone ones are dropped, existing
#                                   translations are kept (no fuzzy guesses); creates the
#                                   catalog of a language added to i18n.LANGUAGES
#   scripts/i18n.sh check           exit 1 if a catalog is out of date with the source, lacks
#                                   a translation, has a fuzzy one, or breaks a placeholder
#
# What is extracted where is babel.cfg; the keywords are here. The unit tests
# (tests/unit/entrypoints/web/test_i18n.py) read both, so CI extracts the same way.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${VENV:-.venv}/bin
LOCALE_DIR=src/famsim/entrypoints/web/locale
DOMAIN=messages
# text("...") is a render.Text (one argument); _() the same in templates; ngettext's
# first two arguments are the singular and the plural.
KEYWORDS=(-k text -k _ -k ngettext:1,2)

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The catalogs' locales: every language of i18n.LANGUAGES but the source (English).
locales() {
    "$BIN/python" -c '
from famsim.entrypoints.web.i18n import DEFAULT, LANGUAGES
print(" ".join(lang.locale for lang in LANGUAGES if lang is not DEFAULT))'
}

# extract POT: the source's texts. Locations are files only (no line numbers), so moving
# a text inside a template changes no catalog.
extract() {
    mkdir -p "$(dirname "$1")"
    "$BIN/pybabel" -q extract -F babel.cfg "${KEYWORDS[@]}" \
        --add-comments=TRANSLATORS: --add-location=file --no-wrap \
        --project=famsim --copyright-holder="the famsim authors" \
        --msgid-bugs-address="" \
        -o "$1" .
}

# merge POT LOCALE [--check]: the locale's catalog brought up to date with the POT.
merge() {
    local pot=$1 locale=$2
    shift 2
    "$BIN/pybabel" -q update -i "$pot" -d "$LOCALE_DIR" -D "$DOMAIN" -l "$locale" \
        --init-missing --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date \
        --no-wrap "$@"
}

# report POT LOCALE...: per catalog, what is missing against the POT; exit 1 if anything is.
report() {
    "$BIN/python" - "$LOCALE_DIR" "$DOMAIN" "$@" <<'PY'
import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po

locale_dir, domain, pot_path, *locales = sys.argv[1:]
NAMED = re.compile(r"%\((\w+)\)s")


def directives(text):
    return sorted(NAMED.findall(text)), text.count("%%")


def placeholders_ok(msgid, msgstr):
    if directives(msgstr) != directives(msgid):
        return False
    names = NAMED.findall(msgid)
    if not names:
        return True
    try:  # a stray "%" would break the page at run time
        msgstr % dict.fromkeys(names, "x")
    except (ValueError, TypeError, KeyError):
        return False
    return True


with open(pot_path, "rb") as f:
    template = read_po(f)
wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
failed = False
for locale in locales:
    po = Path(locale_dir, locale, "LC_MESSAGES", f"{domain}.po")
    problems = []
    if not po.exists():
        print(f"{po}: missing (run: make i18n)")
        failed = True
        continue
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    have = {}
    for m in catalog:
        if m.id:
            have[m.id if isinstance(m.id, str) else m.id[0]] = m
    for msgid in sorted(wanted - have.keys()):
        problems.append(f"not in the catalog (run: make i18n): {msgid!r}")
    for msgid in sorted(have.keys() - wanted):
        problems.append(f"no longer in the source (run: make i18n): {msgid!r}")
    for key in catalog.obsolete:
        problems.append(f"obsolete entry (run: make i18n): {key!r}")
    nplurals = catalog.num_plurals
    for key, m in have.items():
        if m.fuzzy:
            problems.append(f"fuzzy (check it, then delete the '#, fuzzy' line): {key!r}")
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        if isinstance(m.id, tuple) and len(strings) != nplurals:
            problems.append(f"needs {nplurals} plural forms: {key!r}")
        if not all(strings):
            problems.append(f"untranslated: {key!r}")
            continue
        if not all(placeholders_ok(ids[-1], s) for s in strings):
            problems.append(f"placeholders differ from the English: {key!r}")
    translated = sum(1 for m in have.values() if not m.fuzzy and all(
        [m.string] if isinstance(m.string, str) else m.string))
    print(f"{po}: {translated}/{len(have)} translated, {len(problems)} problem(s)")
    for problem in problems:
        print(f"  {problem}")
    failed = failed or bool(problems)
sys.exit(1 if failed else 0)
PY
}

command=${1:-}
case $command in
extract)
    pot=${2:-build/i18n/$DOMAIN.pot}
    extract "$pot"
    echo "wrote $pot ($(grep -c '^msgid "' "$pot" | awk '{print $1 - 1}') texts)"
    ;;
update | check)
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    pot=$work/$DOMAIN.pot
    extract "$pot"
    read -r -a all <<<"$(locales)"
    if [[ $command == update ]]; then
        for locale in "${all[@]}"; do
            merge "$pot" "$locale"
        done
        # What is left to translate (not an error here: that is the translator's part).
        report "$pot" "${all[@]}" || true
    else
        status=0
        report "$pot" "${all[@]}" || status=1
        for locale in "${all[@]}"; do
            if ! merge "$pot" "$locale" --check 2>/dev/null; then
                echo "$LOCALE_DIR/$locale/LC_MESSAGES/$DOMAIN.po: out of date with the source (run: make i18n)"
                status=1
            fi
        done
        exit "$status"
    fi
    ;;
*)
    usage
    ;;
esac
