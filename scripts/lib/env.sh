# Sourced by the scripts that run k6 and the pip-installed tools: k6 sends no usage reports,
# and pip's `--user` bin dir (where install-k6.sh and install-actionlint.sh put their tools
# when a system-wide install is not allowed) is on PATH, even before they install anything.
export K6_NO_USAGE_REPORT=true
if USER_BIN="$(python3 -c 'import site,os; print(os.path.join(site.getuserbase(),"bin"))' 2>/dev/null)"; then
    export PATH="$USER_BIN:$PATH"
fi
