# Shared by the integration scripts (sourced): their set-up and starting a separate
# `gpuform cloudsim`.
#
#   integration_setup
# skips the test (exit 77) without jq or curl, makes the scratch directory $tmp, defines
# fail() ("not ok - ..." and exit 1) and removes $tmp and stops cloudsim ($pid) on exit.
integration_setup() {
    command -v jq >/dev/null || { echo "skip - jq is not installed"; exit 77; }
    command -v curl >/dev/null || { echo "skip - curl is not installed"; exit 77; }
    tmp="$(mktemp -d)"
    pid=""
    trap integration_cleanup EXIT
}

integration_cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}

fail() {
    echo "not ok - $*"
    exit 1
}

#
#   start_cloudsim GPUFORM CONFIG DIR [ARGS...]
# starts `GPUFORM cloudsim` on a free loopback port with the world CONFIG and ARGS, its
# output in DIR/sim.out and DIR/sim.err, waits until it listens (and, with `--gcp-key FILE`
# among ARGS, until FILE is written), and sets `pid` and `url` and exports
# GPUFORM_AWS_ENDPOINT=url. Returns 1 (after killing it) when it did not start in 10 s.
start_cloudsim() {
    local gpuform="$1" config="$2" dir="$3" key="" a
    shift 3
    for a in "$@"; do
        [ "$key" = next ] && key="$a"
        [ "$a" = --gcp-key ] && key=next
    done
    "$gpuform" cloudsim --listen 127.0.0.1:0 --config "$config" "$@" >"$dir/sim.out" 2>"$dir/sim.err" &
    pid=$!
    url=""
    for _ in $(seq 1 200); do
        url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$dir/sim.out")"
        [ -n "$url" ] && { [ -z "$key" ] || [ -s "$key" ]; } && break
        sleep 0.05
    done
    if [ -z "$url" ] || { [ -n "$key" ] && [ ! -s "$key" ]; }; then
        kill "$pid" 2>/dev/null
        return 1
    fi
    export GPUFORM_AWS_ENDPOINT="$url"
}
