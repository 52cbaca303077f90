#!/usr/bin/env bash
# The etcd state backend against real etcd servers (Debian's etcd-server), started here on
# free loopback ports, with `gpuform apply` against a separate `gpuform cloudsim`:
#  1. one node with TLS, client certificates and user/password auth: apply, pull, plan;
#     a wrong password is refused without the password in the message;
#  2. 16 concurrent applies on one stack with --lock-timeout: they serialise, each applies,
#     the state's history is one chain of serials (no lost update), cloudsim's live
#     instances equal the state's; then 16 without a timeout: each applies or names the
#     holder;
#  3. 8 stacks applying at once on one etcd: all succeed;
#  4. a holder killed with -9 blocks others only until its lease (3 s) expires; a holder
#     paused (SIGSTOP) past its lease while another run takes over writes nothing when it
#     wakes (the fence) and says it lost the lock;
#  5. a three-node cluster, its leader stopped in the middle of an apply: the apply
#     finishes or fails cleanly, the state stays whole, and a re-run converges.
#   state-etcd.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
command -v etcd >/dev/null || { echo "skip - etcd is not installed (apt-get install etcd-server)"; exit 77; }
command -v etcdctl >/dev/null || { echo "skip - etcdctl is not installed (apt-get install etcd-client)"; exit 77; }
command -v jq >/dev/null || { echo "skip - jq is not installed"; exit 77; }
command -v curl >/dev/null || { echo "skip - curl is not installed"; exit 77; }
command -v openssl >/dev/null || { echo "skip - openssl is not installed"; exit 77; }
tmp="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "not ok - $*"
    exit 1
}
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE GPUFORM_AWS_ENDPOINT
unset ETCDCTL_USER ETCDCTL_PASSWORD ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY ETCDCTL_ENDPOINTS
export ETCDCTL_API=3

# A loopback port nothing listens on, below Linux's ephemeral range (32768-60999), so no
# outgoing connection holds it either.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

# start_etcd NAME CLIENT_URL PEER_PORT CLUSTER [extra flags...]: starts one member
start_etcd() {
    local name="$1" curl_="$2" peer="$3" cluster="$4"
    shift 4
    etcd --name "$name" --data-dir "$tmp/$name.etcd" --listen-client-urls "$curl_" \
        --advertise-client-urls "$curl_" --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "$cluster" \
        --initial-cluster-state new --initial-cluster-token "gf-${tmp##*/}" \
        --heartbeat-interval 50 --election-timeout 500 --log-level error "$@" \
        >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    echo $! >"$tmp/$name.pid"
}

wait_healthy() { # ENDPOINTS [etcdctl flags]
    local eps="$1"
    shift
    for _ in $(seq 1 50); do
        etcdctl --endpoints "$eps" --dial-timeout 1s --command-timeout 2s "$@" endpoint health \
            >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# ---- cloudsim: the cloud every apply here talks to ----
export AWS_ACCESS_KEY_ID=AKIDSTATEETCD AWS_SECRET_ACCESS_KEY='state/etcd+secret'
cat >"$tmp/world.yaml" <<'YAML'
seed: 9
time_scale: 0.001
lifecycle: { pending_seconds: [5, 30], shutting_down_seconds: [5, 15], terminated_visible_seconds: 60000 }
throttle:
  run_instances: { burst: 5000, refill_per_second: 1000 }
  terminate_instances: { burst: 5000, refill_per_second: 1000 }
  describe: { burst: 5000, refill_per_second: 1000 }
clouds:
  aws:
    regions: [us-east-1]
YAML
start_sim() { # CONFIG OUTFILE: sets $sim_url
    "$gpuform" cloudsim --listen 127.0.0.1:0 --config "$1" >"$2" 2>"$2.err" &
    pids+=($!)
    sim_url=""
    for _ in $(seq 1 200); do
        sim_url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$2")"
        [ -n "$sim_url" ] && break
        sleep 0.05
    done
}
start_sim "$tmp/world.yaml" "$tmp/sim.out"
url="$sim_url"
[ -n "$url" ] || fail "cloudsim did not start: $(cat "$tmp/sim.out.err")"
export GPUFORM_AWS_ENDPOINT="$url"

# cloudsim's live instance ids of STACK, sorted
live_world() {
    curl -sf "$GPUFORM_AWS_ENDPOINT/_cloudsim/instances" |
        jq -r --arg s "$1" '.. | objects | select(has("instance_id")) |
               select(.state == "pending" or .state == "running") |
               select(.tags["gpuform:stack"] == $s) | .instance_id' | sort
}
# the state's instance ids (the stack directory's state: block says where)
live_state() {
    "$gpuform" state pull --stack "$1" 2>/dev/null | jq -r '.nodes[].cloud_id' | sort
}

# stack DIR NAME ENDPOINTS [NODES] [TTL]: a stack on etcd
stack() {
    mkdir -p "$1"
    cat >"$1/stack.yaml" <<YAML
version: 1
stack: $2
state: { backend: etcd, endpoints: [$3], prefix: gf-test/, lock_ttl: ${5:-3s} }
variables:
  n: { type: number, default: ${4:-2} }
clouds:
  aws: { regions: [us-east-1] }
workloads:
  train:
    kind: training
    gpu: A10G:1
    nodes: \${var.n}
    hours: 4
    verify: none # gating is verify-gate.sh's; here it would only slow the rounds
YAML
}

# ---- 1. one node: TLS, client certificates, user/password ----
pki="$tmp/pki"
mkdir -p "$pki"
(
    cd "$pki" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
        -subj "/CN=gpuform test CA" 2>/dev/null &&
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
            -subj "/CN=127.0.0.1" 2>/dev/null &&
        printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >ext &&
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out server.crt -days 2 -extfile ext 2>/dev/null &&
        openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
            -subj "/O=gpuform-ci" 2>/dev/null &&
        printf 'extendedKeyUsage=clientAuth\n' >cext &&
        openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out client.crt -days 2 -extfile cext 2>/dev/null
) || fail "could not make the test certificates"
p1="$(free_port)"
pp1="$(free_port)"
tls_ep="https://127.0.0.1:$p1"
start_etcd tls "$tls_ep" "$pp1" "tls=http://127.0.0.1:$pp1" --cert-file "$pki/server.crt" \
    --key-file "$pki/server.key" --trusted-ca-file "$pki/ca.crt" --client-cert-auth
tlsflags=(--cacert "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key")
wait_healthy "$tls_ep" "${tlsflags[@]}" || fail "etcd with TLS did not start: $(cat "$tmp/tls.log")"
etcdctl --endpoints "$tls_ep" "${tlsflags[@]}" user add root:'r00t-pw!' >/dev/null &&
    etcdctl --endpoints "$tls_ep" "${tlsflags[@]}" user grant-role root root >/dev/null &&
    etcdctl --endpoints "$tls_ep" "${tlsflags[@]}" auth enable >/dev/null ||
    fail "could not enable etcd auth"
s1="$tmp/tls-stack"
stack "$s1" tls "\"$tls_ep\""
export ETCDCTL_CACERT="$pki/ca.crt" ETCDCTL_CERT="$pki/client.crt" ETCDCTL_KEY="$pki/client.key"
ETCDCTL_USER=root ETCDCTL_PASSWORD='wrong-pw-1234' "$gpuform" apply --auto-approve "$s1" \
    </dev/null >"$tmp/o" 2>"$tmp/e" && fail "apply with a wrong etcd password went ahead"
grep -q "refused user 'root'" "$tmp/e" || fail "no clear message for a wrong password: $(cat "$tmp/e")"
! grep -q "wrong-pw-1234" "$tmp/e" "$tmp/o" || fail "the password appears in the output"
export ETCDCTL_USER='root:r00t-pw!'
"$gpuform" apply --auto-approve "$s1" </dev/null >"$tmp/o" 2>"$tmp/e" ||
    fail "apply on etcd with TLS and auth: $(cat "$tmp/e")"
grep -q "Apply complete: 2 created" "$tmp/o" || fail "apply summary: $(cat "$tmp/o")"
[ "$(live_state "$s1")" = "$(live_world tls)" ] || fail "the etcd state and cloudsim differ"
[ "$(live_state "$s1" | wc -l)" = 2 ] || fail "the etcd state does not hold 2 nodes"
env -u ETCDCTL_USER -u ETCDCTL_CACERT -u ETCDCTL_CERT -u ETCDCTL_KEY etcdctl --endpoints "$tls_ep" "${tlsflags[@]}" --user 'root:r00t-pw!' get gf-test/tls/state \
    --print-value-only | jq -e '.serial > 0' >/dev/null || fail "etcd's key is not the state"
"$gpuform" plan --detailed-exitcode "$s1" >"$tmp/o" 2>"$tmp/e" ||
    fail "plan after apply shows changes or fails: $(cat "$tmp/o" "$tmp/e")"
"$gpuform" state pull --stack "$s1" >"$tmp/pulled.json" || fail "state pull failed"
"$gpuform" state push "$tmp/pulled.json" --stack "$s1" >"$tmp/o" 2>"$tmp/e" ||
    fail "pushing the pulled state back: $(cat "$tmp/e")"
jq '.serial = 1' "$tmp/pulled.json" >"$tmp/old.json"
"$gpuform" state push "$tmp/old.json" --stack "$s1" >"$tmp/o" 2>"$tmp/e" &&
    fail "push of an older serial went ahead"
grep -q "newer than serial 1" "$tmp/e" || fail "the refused push does not say why: $(cat "$tmp/e")"
jq '.lineage = "00000000-0000-4000-8000-000000000000"' "$tmp/pulled.json" >"$tmp/other.json"
"$gpuform" state push "$tmp/other.json" --stack "$s1" >"$tmp/o" 2>"$tmp/e" &&
    fail "push of another lineage went ahead"
"$gpuform" state push "$tmp/other.json" --force --stack "$s1" >"$tmp/o" 2>"$tmp/e" ||
    fail "push --force: $(cat "$tmp/e")"
[ "$("$gpuform" state pull --stack "$s1" | jq -r .lineage)" = 00000000-0000-4000-8000-000000000000 ] ||
    fail "push --force did not replace the state"
unset ETCDCTL_USER ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY
echo "ok - etcd with TLS, client certificates and a password: apply, plan, pull and push; a" \
    "wrong password is refused without showing it"

# ---- a plain single node for the concurrency tests ----
p2="$(free_port)"
pp2="$(free_port)"
ep="http://127.0.0.1:$p2"
start_etcd one "$ep" "$pp2" "one=http://127.0.0.1:$pp2"
wait_healthy "$ep" || fail "etcd did not start: $(cat "$tmp/one.log")"

# ---- 2. 16 concurrent applies on one stack ----
s2="$tmp/conc"
stack "$s2" conc "\"$ep\"" 1 15s
cpids=()
for i in $(seq 1 16); do
    GPUFORM_VAR_n=$i "$gpuform" apply --auto-approve --lock-timeout 100s "$s2" </dev/null \
        >"$tmp/c$i.out" 2>"$tmp/c$i.err" &
    cpids+=($!)
done
for i in $(seq 1 16); do
    wait "${cpids[$((i - 1))]}" || fail "concurrent apply $i (n=$i) failed: $(cat "$tmp/c$i.err")"
    grep -q "Apply complete\|No changes" "$tmp/c$i.out" ||
        fail "concurrent apply $i did not apply: $(cat "$tmp/c$i.out" "$tmp/c$i.err")"
done
[ "$(live_state "$s2")" = "$(live_world conc)" ] ||
    fail "after 16 concurrent applies the state and cloudsim differ"
# the state's history, newest first: serials fall by exactly one, one lineage
chain=""
for v in $(seq 0 200); do
    doc="$("$gpuform" state pull --version "$v" --stack "$s2" 2>/dev/null)" || break
    chain="$chain $(printf '%s' "$doc" | jq -r '"\(.serial):\(.lineage)"')"
done
serials=($(printf '%s\n' $chain | cut -d: -f1))
[ "$(printf '%s\n' $chain | cut -d: -f2 | sort -u | wc -l)" = 1 ] || fail "the history has two lineages"
[ "${#serials[@]}" -ge 16 ] || fail "only ${#serials[@]} writes for 16 applies"
for k in $(seq 1 $((${#serials[@]} - 1))); do
    [ "${serials[$((k - 1))]}" = $((serials[k] + 1)) ] ||
        fail "the history skips from serial ${serials[$k]} to ${serials[$((k - 1))]}: an update was lost"
done
want="$(grep -l "Apply complete\|No changes" "$tmp"/c*.out | wc -l)"
[ "$want" = 16 ] || fail "only $want of 16 applies finished"
echo "ok - 16 concurrent applies on one stack serialise: all applied, the history is one chain" \
    "of ${#serials[@]} serials (no lost update), cloudsim's live instances equal the state's"

cpids=()
for i in $(seq 1 16); do
    GPUFORM_VAR_n=$((i % 3 + 1)) "$gpuform" apply --auto-approve "$s2" </dev/null \
        >"$tmp/d$i.out" 2>"$tmp/d$i.err" &
    cpids+=($!)
done
applied=0
for i in $(seq 1 16); do
    if wait "${cpids[$((i - 1))]}"; then
        applied=$((applied + 1))
    else
        grep -q "the state is locked by .*@.*(pid [0-9]*, apply" "$tmp/d$i.err" ||
            fail "apply $i neither applied nor named the holder: $(cat "$tmp/d$i.err")"
    fi
done
[ "$applied" -ge 1 ] || fail "none of 16 applies without a timeout applied"
[ "$(live_state "$s2")" = "$(live_world conc)" ] || fail "after the second round the state and cloudsim differ"
echo "ok - 16 applies without --lock-timeout: $applied applied, the others named the holder"

# ---- 3. 8 stacks at once on one etcd ----
cpids=()
for i in $(seq 1 8); do
    stack "$tmp/many$i" "many$i" "\"$ep\"" $((i % 4 + 1))
    "$gpuform" apply --auto-approve "$tmp/many$i" </dev/null >"$tmp/m$i.out" 2>"$tmp/m$i.err" &
    cpids+=($!)
done
for i in $(seq 1 8); do
    wait "${cpids[$((i - 1))]}" || fail "stack many$i failed: $(cat "$tmp/m$i.err")"
    [ "$(live_state "$tmp/many$i" | wc -l)" = $((i % 4 + 1)) ] || fail "stack many$i has the wrong nodes"
    [ "$(live_state "$tmp/many$i")" = "$(live_world "many$i")" ] || fail "stack many$i: state and cloudsim differ"
done
echo "ok - 8 stacks applying at once on one etcd all succeed"

# ---- 4. a holder killed with -9 blocks others only until its lease expires ----
cat >"$tmp/slow.yaml" <<'YAML'
seed: 4
time_scale: 0.001
latency_ms: { min: 400, max: 400 }
throttle:
  run_instances: { burst: 5000, refill_per_second: 1000 }
  describe: { burst: 5000, refill_per_second: 1000 }
clouds:
  aws:
    regions: [us-east-1]
YAML
start_sim "$tmp/slow.yaml" "$tmp/slow.out"
slow="$sim_url"
[ -n "$slow" ] || fail "the slow cloudsim did not start"
s4="$tmp/killed"
stack "$s4" killed "\"$ep\"" 6 3s
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve --parallelism 1 "$s4" </dev/null \
    >"$tmp/k.out" 2>"$tmp/k.err" &
victim=$!
for _ in $(seq 1 200); do
    grep -q "creating" "$tmp/k.err" && break
    sleep 0.05
done
grep -q "creating" "$tmp/k.err" || fail "the apply to kill never started: $(cat "$tmp/k.err")"
kill -9 "$victim"
wait "$victim" 2>/dev/null
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve "$s4" </dev/null >"$tmp/k2.out" \
    2>"$tmp/k2.err" && fail "an apply went ahead while the killed run's lease was alive"
grep -q "pid $victim, apply" "$tmp/k2.err" || fail "the killed holder is not named: $(cat "$tmp/k2.err")"
start=$(date +%s)
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve --lock-timeout 30s "$s4" </dev/null \
    >"$tmp/k3.out" 2>"$tmp/k3.err" || fail "apply after the lease expired: $(cat "$tmp/k3.err")"
waited=$(($(date +%s) - start))
[ "$waited" -le 15 ] || fail "the lock of a killed run blocked for ${waited}s with a 3s lease"
[ "$(GPUFORM_AWS_ENDPOINT="$slow" live_world killed)" = "$(live_state "$s4")" ] ||
    fail "after the killed run, the state and cloudsim differ"
[ "$(live_state "$s4" | wc -l)" = 6 ] || fail "the re-run did not finish the stack"
echo "ok - a holder killed with -9 blocked others until its 3s lease expired (re-run in ${waited}s," \
    "journal settled, state equals cloudsim)"

# ---- 4b. fencing: a holder paused past its lease writes nothing when it wakes ----
s6="$tmp/paused"
stack "$s6" paused "\"$ep\"" 4 2s
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve --parallelism 1 "$s6" </dev/null \
    >"$tmp/p.out" 2>"$tmp/p.err" &
paused=$!
for _ in $(seq 1 200); do
    grep -q "creating" "$tmp/p.err" && break
    sleep 0.05
done
kill -STOP "$paused"
sleep 3 # past the 2s lease
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve --lock-timeout 20s "$s6" </dev/null \
    >"$tmp/p2.out" 2>"$tmp/p2.err" || fail "apply while the holder was paused: $(cat "$tmp/p2.err")"
before="$("$gpuform" state pull --stack "$s6" | jq .serial)"
kill -CONT "$paused"
wait "$paused" && fail "the paused holder went on writing after its lease expired"
grep -q "lost the lock" "$tmp/p.err" || fail "the paused holder does not say it lost the lock: $(cat "$tmp/p.err")"
[ "$("$gpuform" state pull --stack "$s6" | jq .serial)" = "$before" ] ||
    fail "the paused holder wrote the state after its lease expired"
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve "$s6" </dev/null >"$tmp/p3.out" \
    2>"$tmp/p3.err" || fail "apply after the fenced run: $(cat "$tmp/p3.err")"
# Every instance the state has is live. A create the paused holder sent after waking (its
# intent was settled as "made nothing" by the run that took over) can't be recorded by it:
# that instance is not silently lost but reported by refresh as not in the state (known gap:
# docs/state.md, "Fencing and a paused holder").
world="$(GPUFORM_AWS_ENDPOINT="$slow" live_world paused)"
known="$(live_state "$s6")"
[ -z "$(comm -13 <(printf '%s\n' "$world") <(printf '%s\n' "$known"))" ] ||
    fail "after the fenced run, the state has instances cloudsim does not"
extra="$(comm -23 <(printf '%s\n' "$world") <(printf '%s\n' "$known") | grep . || true)"
if [ -n "$extra" ]; then
    GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" refresh "$s6" </dev/null >"$tmp/p4.out" 2>"$tmp/p4.err" ||
        fail "refresh after the fenced run: $(cat "$tmp/p4.err")"
    for id in $extra; do
        grep -q "not in the state: .*$id" "$tmp/p4.err" ||
            fail "the paused holder's late instance $id is not reported: $(cat "$tmp/p4.err")"
    done
fi
echo "ok - a holder paused past its lease is fenced when it wakes: it writes nothing and says" \
    "it lost the lock; the state's instances are live, and a late create is reported by refresh"

# ---- 5. three nodes; the leader stopped in the middle of an apply ----
ports=()
for _ in 1 2 3 4 5 6; do ports+=("$(free_port)"); done
cluster="m1=http://127.0.0.1:${ports[3]},m2=http://127.0.0.1:${ports[4]},m3=http://127.0.0.1:${ports[5]}"
eps3=""
for m in 1 2 3; do
    start_etcd "m$m" "http://127.0.0.1:${ports[$((m - 1))]}" "${ports[$((m + 2))]}" "$cluster"
    eps3="$eps3${eps3:+,}http://127.0.0.1:${ports[$((m - 1))]}"
done
wait_healthy "$eps3" || fail "the three-node cluster did not start: $(cat "$tmp"/m*.log)"
s5="$tmp/leader"
stack "$s5" leader "$(printf '"%s",' ${eps3//,/ } | sed 's/,$//')" 8 5s
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve --parallelism 2 "$s5" </dev/null \
    >"$tmp/l.out" 2>"$tmp/l.err" &
applier=$!
for _ in $(seq 1 200); do
    grep -q "created" "$tmp/l.err" && break
    sleep 0.05
done
leader_ep="$(etcdctl --endpoints "$eps3" endpoint status -w json |
    jq -r '.[] | select(.Status.header.member_id == .Status.leader) | .Endpoint')"
[ -n "$leader_ep" ] || fail "no leader found"
for m in 1 2 3; do
    [ "http://127.0.0.1:${ports[$((m - 1))]}" = "$leader_ep" ] && kill -TERM "$(cat "$tmp/m$m.pid")"
done
wait "$applier"
arc=$?
if [ "$arc" != 0 ]; then
    [ "$arc" = 1 ] || fail "apply exited $arc after the leader stopped: $(cat "$tmp/l.err")"
    grep -q "^gpuform: " "$tmp/l.err" || fail "apply failed without a message: $(cat "$tmp/l.err")"
fi
! grep -q "AddressSanitizer\|runtime error" "$tmp/l.err" || fail "apply crashed: $(cat "$tmp/l.err")"
"$gpuform" state pull --stack "$s5" | jq -e '.lineage and (.nodes | type == "array")' >/dev/null ||
    fail "the state is not whole after the leader stopped"
GPUFORM_AWS_ENDPOINT="$slow" "$gpuform" apply --auto-approve --lock-timeout 30s "$s5" </dev/null \
    >"$tmp/l2.out" 2>"$tmp/l2.err" || fail "re-run after the leader stopped: $(cat "$tmp/l2.err")"
[ "$(live_state "$s5" | wc -l)" = 8 ] || fail "the re-run did not finish the stack"
[ "$(GPUFORM_AWS_ENDPOINT="$slow" live_world leader)" = "$(live_state "$s5")" ] ||
    fail "after the leader stopped the state and cloudsim differ"
echo "ok - the leader stopped mid-apply: the apply $([ "$arc" = 0 ] && echo finished ||
    echo failed cleanly), the state stayed whole, a re-run converged"
