#!/usr/bin/env bash
# Integration test of `gpuform cloudsim`: the real binary on loopback, driven with curl
# (whose --aws-sigv4 signs requests independently of gpuform). Checks signed requests,
# refused credentials, a throttling storm, injected timeouts and malformed bodies, garbage
# input, persistence across a restart, replay from a seed, and a clean (ASan-clean) exit.
#   cloudsim.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
src="$2"
world="$src/tests/integration/world.yaml"
tmp="$(mktemp -d)"
export AWS_ACCESS_KEY_ID=AKIDINTEGRATION
export AWS_SECRET_ACCESS_KEY='integration/secret+key'
failures=0
pid=""

cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "not ok - $*"
    failures=$((failures + 1))
}
pass() {
    echo "ok - $*"
}

# start NAME [ARGS...]: starts cloudsim, sets pid and url.
start() {
    local name="$1"
    shift
    "$gpuform" cloudsim --listen 127.0.0.1:0 --config "$world" "$@" >"$tmp/$name.out" \
        2>"$tmp/$name.err" &
    pid=$!
    for _ in $(seq 1 200); do
        url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/$name.out")"
        [ -n "$url" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "cloudsim did not start:"
    cat "$tmp/$name.err"
    exit 1
}

# stop NAME [SIGNAL]: SIGTERM (or SIGNAL), then exit status 0 with no sanitizer report.
stop() {
    local name="$1"
    kill "-${2:-TERM}" "$pid"
    wait "$pid"
    local rc=$?
    pid=""
    if [ "$rc" -ne 0 ] || grep -q "Sanitizer" "$tmp/$name.err"; then
        fail "cloudsim ($name) stops cleanly on SIG${2:-TERM} (exit $rc)"
        cat "$tmp/$name.err"
    else
        pass "cloudsim ($name) stops cleanly on SIG${2:-TERM}"
    fi
}

# ec2 OUT DATA [CURL ARGS...]: a signed POST; prints the HTTP status, body in OUT.
ec2() {
    local out="$1" data="$2"
    shift 2
    curl -s -o "$out" -w '%{http_code}' --aws-sigv4 "aws:amz:${REGION:-us-east-1}:ec2" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H 'Content-Type: application/x-www-form-urlencoded; charset=utf-8' \
        --data "$data" "$@" "$url/"
}

expect() { # expect WHAT STATUS GOT FILE PATTERN
    if [ "$2" = "$3" ] && grep -q -- "$5" "$4"; then
        pass "$1"
    else
        fail "$1 (status $3, wanted $2 and /$5/)"
        head -c 600 "$4"
        echo
    fi
}

V='Version=2016-11-15'
RUN="Action=RunInstances&$V&ImageId=ami-0abc&InstanceType=g5.xlarge&MinCount=1&MaxCount=1"

start main
st=$(ec2 "$tmp/d.xml" "Action=DescribeInstances&$V")
expect "a signed DescribeInstances is answered" 200 "$st" "$tmp/d.xml" \
    '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'

# The parameters are in sorted order: curl 7.x signs the query string as written, where
# SigV4 (and cloudsim, like AWS) sorts it.
st=$(curl -s -o "$tmp/g.xml" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:ec2" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    "$url/?Action=DescribeAvailabilityZones&Filter.1.Name=zone-name&Filter.1.Value.1=us-east-1%2A&Version=2016-11-15")
expect "a signed GET with a query string is answered" 200 "$st" "$tmp/g.xml" '<zoneName>us-east-1a</zoneName>'

st=$(ec2 "$tmp/r.xml" "$RUN&ClientToken=tok-1&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=gpuform:stack&TagSpecification.1.Tag.1.Value=it")
expect "a signed RunInstances launches an instance" 200 "$st" "$tmp/r.xml" '<instanceId>i-0[0-9a-f]\{16\}</instanceId>'
id="$(sed -n 's/.*<instanceId>\(i-[0-9a-f]*\)<.*/\1/p' "$tmp/r.xml" | head -1)"

st=$(curl -s -o "$tmp/e.xml" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:ec2" \
    --user "$AWS_ACCESS_KEY_ID:wrong-secret" --data "Action=DescribeInstances&$V" "$url/")
expect "a wrong secret is SignatureDoesNotMatch" 403 "$st" "$tmp/e.xml" \
    '<Code>SignatureDoesNotMatch</Code>'

st=$(curl -s -o "$tmp/e.xml" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:ec2" \
    --user "AKIDNOBODY:whatever" --data "Action=DescribeInstances&$V" "$url/")
expect "an unknown access key is AuthFailure" 401 "$st" "$tmp/e.xml" '<Code>AuthFailure</Code>'

st=$(curl -s -o "$tmp/e.xml" -w '%{http_code}' --data "Action=DescribeInstances&$V" "$url/")
expect "an unsigned request is MissingAuthenticationToken" 401 "$st" "$tmp/e.xml" \
    '<Code>MissingAuthenticationToken</Code>'

st=$(ec2 "$tmp/e.xml" "Action=DescribeInstances&$V&InstanceId.1=i-0123456789abcdef0")
expect "an unknown instance is InvalidInstanceID.NotFound" 400 "$st" "$tmp/e.xml" \
    '<Code>InvalidInstanceID.NotFound</Code>'

st=$(ec2 "$tmp/e.xml" "Action=LaunchRockets&$V")
expect "an unknown action is InvalidAction" 400 "$st" "$tmp/e.xml" '<Code>InvalidAction</Code>'

# Garbage: a bad form, random bytes, a body over the cap, a broken HTTP request line.
st=$(ec2 "$tmp/e.xml" "Action=Describe%ZZInstances")
expect "a bad form encoding is refused" 400 "$st" "$tmp/e.xml" '<Code>MalformedQueryString</Code>'
head -c 4096 /dev/urandom >"$tmp/random.bin"
st=$(ec2 "$tmp/e.xml" "@$tmp/random.bin" -H 'Content-Type: application/octet-stream')
if [ "$st" -ge 400 ] && [ "$st" -lt 500 ]; then pass "random bytes get a 4xx ($st)"; else fail "random bytes got $st"; fi
head -c 1100000 /dev/zero | tr '\0' 'a' >"$tmp/big.txt"
st=$(ec2 "$tmp/e.xml" "@$tmp/big.txt")
expect "a body over the cap is refused" 413 "$st" "$tmp/e.xml" 'RequestEntityTooLarge'
hostport="${url#http://}"
exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}" && printf 'GARBAGE \x01\x02 nonsense\r\n\r\n' >&3 &&
    timeout 5 cat <&3 >"$tmp/raw.txt"
exec 3<&- 3>&-
if grep -q '^HTTP/1.1 400' "$tmp/raw.txt"; then pass "a broken request line gets 400"; else fail "a broken request line: $(head -c 200 "$tmp/raw.txt")"; fi
curl -s -o "$tmp/h.json" -w '%{http_code}' "$url/_cloudsim/health" >"$tmp/h.st"
expect "cloudsim is healthy after the garbage" 200 "$(cat "$tmp/h.st")" "$tmp/h.json" '"status": "ok"'

# Injected faults through the admin view.
curl -s -o /dev/null --data '{"kind": "timeout", "count": 1}' "$url/_cloudsim/fault"
ec2 "$tmp/e.xml" "Action=DescribeInstances&$V" --max-time 10 >/dev/null
rc=$?
if [ "$rc" -eq 52 ]; then pass "an injected timeout closes the connection without a reply"; else fail "injected timeout: curl exit $rc (wanted 52, empty reply)"; fi
curl -s -o /dev/null --data '{"kind": "malformed", "count": 1}' "$url/_cloudsim/fault"
st=$(ec2 "$tmp/m.xml" "Action=DescribeInstances&$V")
if [ "$st" = 200 ] && ! grep -q '</DescribeInstancesResponse>' "$tmp/m.xml"; then pass "an injected malformed body is not a whole reply"; else fail "malformed: status $st"; fi
curl -s -o /dev/null --data '{"kind": "internal", "count": 1}' "$url/_cloudsim/fault"
st=$(ec2 "$tmp/e.xml" "Action=DescribeInstances&$V")
expect "an injected 5xx is InternalError" 500 "$st" "$tmp/e.xml" '<Code>InternalError</Code>'
st=$(curl -s -o "$tmp/e.json" -w '%{http_code}' --data '{"kind": "meteor"}' "$url/_cloudsim/fault")
expect "the admin view refuses an unknown fault" 400 "$st" "$tmp/e.json" 'expected'

# Capacity: p5.48xlarge holds one instance per zone in this world.
st=$(ec2 "$tmp/c.xml" "Action=RunInstances&$V&ImageId=ami-0abc&InstanceType=p5.48xlarge&MinCount=1&MaxCount=1&Placement.AvailabilityZone=us-east-1b")
st2=$(ec2 "$tmp/c2.xml" "Action=RunInstances&$V&ImageId=ami-0abc&InstanceType=p5.48xlarge&MinCount=1&MaxCount=1&Placement.AvailabilityZone=us-east-1b")
expect "a full zone is InsufficientInstanceCapacity" 500 "$st2" "$tmp/c2.xml" \
    '<Code>InsufficientInstanceCapacity</Code>'

# Throttling storm: the RunInstances bucket (5, never refilled here) is already down by
# the three launches above; 12 more requests at once get exactly 2 through.
storm=()
for i in $(seq 1 12); do
    ec2 "$tmp/s$i.xml" "$RUN" >"$tmp/s$i.st" &
    storm+=($!)
done
wait "${storm[@]}"
ok=0
throttled=0
for i in $(seq 1 12); do
    st="$(cat "$tmp/s$i.st")"
    if [ "$st" = 200 ]; then ok=$((ok + 1)); elif [ "$st" = 503 ] && grep -q RequestLimitExceeded "$tmp/s$i.xml"; then throttled=$((throttled + 1)); fi
done
if [ "$ok" -eq 2 ] && [ "$throttled" -eq 10 ]; then pass "a RunInstances storm is throttled at the bucket (2 ok, 10 RequestLimitExceeded)"; else fail "storm: $ok ok, $throttled throttled (wanted 2 and 10)"; fi
REGION=eu-west-1 ec2 "$tmp/s.xml" "$RUN" >"$tmp/s.st"
expect "buckets are per region" 200 "$(cat "$tmp/s.st")" "$tmp/s.xml" '<instanceId>'
stop main

# Persistence: the instance launched survives a restart with --state.
start persist --state "$tmp/world.json"
st=$(ec2 "$tmp/r.xml" "$RUN&ClientToken=keep-me")
kept="$(sed -n 's/.*<instanceId>\(i-[0-9a-f]*\)<.*/\1/p' "$tmp/r.xml" | head -1)"
stop persist
start persist2 --state "$tmp/world.json"
st=$(ec2 "$tmp/d.xml" "Action=DescribeInstances&$V&InstanceId.1=$kept")
expect "an instance survives a restart with --state" 200 "$st" "$tmp/d.xml" "<instanceId>$kept</instanceId>"
stop persist2

# Replay: the same seed and requests give the same instance ids.
start replay1
ec2 "$tmp/a.xml" "$RUN&MaxCount=3" >/dev/null
stop replay1
start replay2
ec2 "$tmp/b.xml" "$RUN&MaxCount=3" >/dev/null
stop replay2 INT
if grep -o 'i-0[0-9a-f]*' "$tmp/a.xml" >"$tmp/a.ids" && cmp -s "$tmp/a.ids" <(grep -o 'i-0[0-9a-f]*' "$tmp/b.xml"); then
    pass "the same seed replays the same instance ids"
else
    fail "replay gave different ids"
fi
[ -n "$id" ] || fail "no instance id was parsed from RunInstances"

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
