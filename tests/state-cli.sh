#!/bin/sh
# `gpuform state rm` and `force-unlock` against a copy of a state: a lock held by a live
# run stops rm and names the holder; a lock left by a dead run is taken over; a lock from
# another host needs force-unlock; rm keeps the previous state as the backup.
#   tests/state-cli.sh GPUFORM_BINARY
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'kill $holder 2>/dev/null || true; rm -rf "$tmp"' EXIT
holder=
cp "$here/golden/state-list/spec.yaml" "$tmp/"
mkdir "$tmp/state"
cp "$here/golden/state-list/state/state.json" "$tmp/state/"
cd "$tmp"
lock=state/state.json.lock
host=$(hostname)
fail() { echo "FAIL: $*" >&2; exit 1; }

record() { # id host pid
    printf '{"id":"%s","user":"ci","host":"%s","pid":%s,"operation":"apply","created":1795000000,"version":"0.1.0"}' "$1" "$2" "$3" >"$lock"
}

# 1. a live holder on this host: rm fails at once and names it
record 11111111-1111-4111-8111-111111111111 "$host" 4242
# the holder: one process (sh becomes sleep) keeping the flock on its descriptor
sh -c 'exec 9<>"$1"; flock -x 9; exec sleep 30' holder "$lock" &
holder=$!
sleep 0.3
if "$bin" state rm 'web[0]' --stack spec.yaml 2>err; then fail "rm succeeded under a live lock"; fi
grep -q "locked by ci@$host (pid 4242, apply" err || fail "no holder in: $(cat err)"
grep -q "force-unlock 11111111-1111-4111-8111-111111111111" err || fail "no lock id in: $(cat err)"
if "$bin" force-unlock 11111111-1111-4111-8111-111111111111 --stack spec.yaml 2>err; then
    fail "force-unlock took a live holder's lock"
fi
grep -q "still running on this host" err || fail "force-unlock: $(cat err)"

# 2. the holder dies: its record stays, and the next run takes it over
kill $holder
wait $holder 2>/dev/null || true
"$bin" state rm 'web[0]' --stack spec.yaml >out 2>err || fail "rm after the holder died: $(cat err)"
grep -q "took over the lock left by ci@$host (pid 4242" err || fail "no takeover note: $(cat err)"
grep -q "removed web\[0\] from the state; its instance i-0123456789abcdef0 keeps running" out ||
    fail "rm output: $(cat out)"
[ "$("$bin" state list --stack spec.yaml)" = "web[1]" ] || fail "list after rm"
grep -q '"web\[0\]"' state/state.json.backup || fail "the backup lacks the removed node"
[ ! -s "$lock" ] || fail "the lock was not released"

# 3. a lock from another host: refused until force-unlock
record 22222222-2222-4222-8222-222222222222 build-9.example 77
if "$bin" state rm 'web[1]' --stack spec.yaml 2>err; then fail "rm under another host's lock"; fi
grep -q "another host" err || fail "other host: $(cat err)"
if "$bin" force-unlock 33333333-3333-4333-8333-333333333333 --stack spec.yaml 2>err; then
    fail "force-unlock with a wrong id"
fi
grep -q "does not match" err || fail "wrong id: $(cat err)"
"$bin" force-unlock 22222222-2222-4222-8222-222222222222 --stack spec.yaml >/dev/null ||
    fail "force-unlock"
"$bin" state rm 'web[1]' --stack spec.yaml >/dev/null 2>&1 || fail "rm after force-unlock"
[ -z "$("$bin" state list --stack spec.yaml)" ] || fail "state not empty"
echo "state-cli: ok"
