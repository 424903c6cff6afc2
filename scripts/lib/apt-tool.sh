# Sourced by the install-*.sh scripts for tools that come as Debian packages (Prometheus, haproxy,
# stress-ng): nothing to do when the command is on PATH, else `apt-get install` as root
# (with an `apt-get update` only when the first try fails).
#
#   apt_tool COMMAND PACKAGE
apt_tool() {
    local cmd=$1 package=$2
    local me
    me="$(basename "$0")"
    die() { echo "${me}: ERROR: $*" >&2; exit 1; }
    if command -v "$cmd" >/dev/null 2>&1; then
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "${cmd} is not installed and this is not root; run as root, or install it with: sudo apt-get install ${package}"
    command -v apt-get >/dev/null 2>&1 || die "${cmd} is not installed and there is no apt-get; install ${package} and put ${cmd} on PATH"
    echo "${me}: installing the Debian package ${package}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "$package" >&2; then
        apt-get update >&2
        apt-get install -y --no-install-recommends "$package" >&2
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "apt-get installed ${package} but ${cmd} is not on PATH"
}
