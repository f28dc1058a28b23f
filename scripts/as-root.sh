# Sourced by the ensure-*.sh scripts: run a command as root, directly when we are root,
# else through sudo if there is one; otherwise explain what to install by hand.
# Usage: AS_ROOT_WHO=ensure-tools AS_ROOT_PACKAGE=zbar-tools; as_root apt-get ...

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "${AS_ROOT_WHO}: ${AS_ROOT_PACKAGE} is not installed, and installing it needs root." >&2
        echo "${AS_ROOT_WHO}: run as root, install sudo, or run:" >&2
        echo "    apt-get install --no-install-recommends ${AS_ROOT_PACKAGE}" >&2
        exit 1
    fi
}
