# Sourced by run.sh and run_arm.sh: installs tests/sdk's locked dependencies (npm ci) when
# one of the packages named is missing from node_modules. The three SDK tests share that
# folder and ctest -j starts them together; npm ci deletes node_modules before it installs,
# so two at once break each other (a test failing in a tenth of a second on a fresh
# checkout). One lock, taken with flock where util-linux has it, lets one install and the
# others find the packages there. scripts/test.sh runs npm ci before ctest, so CI never
# gets here. Call from tests/sdk.
sdk_missing() {
    for pkg in "$@"; do
        [ -d "node_modules/$pkg" ] || return 0
    done
    return 1
}

sdk_deps() {
    sdk_missing "$@" || return 0
    if command -v flock >/dev/null 2>&1; then
        exec 9>"${TMPDIR:-/tmp}/gpuform-sdk-npm-ci.$(id -u).lock"
        flock 9
    fi
    if sdk_missing "$@"; then
        npm ci --no-audit --no-fund
    fi
    if command -v flock >/dev/null 2>&1; then
        exec 9>&-
    fi
}
