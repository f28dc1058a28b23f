#!/usr/bin/env bash
# Make sure Debian's PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin)
# are installed; the test suite starts throwaway clusters from them.
# Idempotent: installs the `postgresql` package only when no pg_ctl is found.
set -euo pipefail

# The newest /usr/lib/postgresql/*/bin/pg_ctl; fails when there is none.
newest_pg_ctl() {
    local candidates
    shopt -s nullglob
    candidates=(/usr/lib/postgresql/*/bin/pg_ctl)
    shopt -u nullglob
    ((${#candidates[@]} > 0)) || return 1
    printf '%s\n' "${candidates[@]}" | sort -V | tail -n 1
}

AS_ROOT_WHO=ensure-postgres
AS_ROOT_PACKAGE=postgresql
# shellcheck source=scripts/as-root.sh
source "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

if ! pg_ctl=$(newest_pg_ctl); then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure-postgres: no /usr/lib/postgresql/*/bin/pg_ctl and no apt-get:" >&2
        echo "ensure-postgres: install the PostgreSQL server (13 or newer) by hand." >&2
        exit 1
    fi
    echo "ensure-postgres: PostgreSQL server binaries not found; installing Debian's postgresql"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends postgresql
    if ! pg_ctl=$(newest_pg_ctl); then
        echo "ensure-postgres: installed postgresql, but still no /usr/lib/postgresql/*/bin/pg_ctl" >&2
        exit 1
    fi
fi

echo "ensure-postgres: $("$pg_ctl" --version) in $(dirname "$pg_ctl")"
