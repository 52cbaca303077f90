#!/usr/bin/env bash
# Integration test of the verify watcher (`gpuform verify --agent --watch`, docs/verify.md "The
# watcher") against a standalone `gpuform cloudsim` and its instance metadata services:
#  1. EC2: an instance launched with MetadataOptions.InstanceMetadataTags=enabled (curl,
#     SigV4); no request tag: --once prints nothing and exits 0; the tag set with CreateTags:
#     --once prints one block whose report answers the nonce and whose MAC checks out
#     (openssl); an instance launched without tags in metadata says so on stderr; a garbage
#     tag value is refused quietly on stdout.
#  2. A running watcher (--interval 1) answers a request once however many reads see it,
#     then answers the next request.
#  3. Azure: a VM (NIC and VM through ARM with curl) tagged with a request: --once answers
#     it through the tagsList dialect.
#  4. Compute Engine: an instance inserted (curl, a service-account JWT signed with openssl)
#     with the request as a metadata item: --once answers it through the attributes dialect.
#   verify-watch.sh GPUFORM_BINARY SOURCE_DIR
set -uo pipefail
gpuform="$1"
src="$2"
. "$src/tests/integration/lib.sh"
integration_setup
command -v openssl >/dev/null || { echo "skip - openssl is not installed"; exit 77; }
wpid=""
trap '[ -n "$wpid" ] && kill "$wpid" 2>/dev/null; integration_cleanup' EXIT

export AWS_ACCESS_KEY_ID=AKIDVERIFYWATCH AWS_SECRET_ACCESS_KEY='watch/secret+key'
export AZURE_TENANT_ID=watch-tenant AZURE_CLIENT_ID=watch-client AZURE_CLIENT_SECRET='watch/secret+1'
unset GPUFORM_IMDS_ENDPOINT GOOGLE_APPLICATION_CREDENTIALS GOOGLE_CLOUD_PROJECT
cat >"$tmp/world.yaml" <<'YAML'
seed: 5
time_scale: 0.001
verify: { agent: false }
clouds:
  aws:
    regions: [us-east-1]
  azure:
    regions: [eastus]
  gcp:
    regions: [us-central1]
YAML
start_cloudsim "$gpuform" "$tmp/world.yaml" "$tmp" --gcp-key "$tmp/key.json" || fail "cloudsim did not start: $(cat "$tmp/sim.err")"

key="$(openssl rand -hex 32)"
printf '%s\n' "$key" >"$tmp/node.key"
V="Version=2016-11-15"

ec2() {
    curl -s -o "$tmp/ec2.xml" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:ec2" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H 'Content-Type: application/x-www-form-urlencoded; charset=utf-8' --data "$1" "$url/"
}

# run_instance [EXTRA]: launches one instance, prints its id
run_instance() {
    local st
    st="$(ec2 "Action=RunInstances&$V&ImageId=ami-0abc&InstanceType=g5.xlarge&MinCount=1&MaxCount=1&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=gpuform:address&TagSpecification.1.Tag.1.Value=chat%5B0%5D${1:-}")"
    [ "$st" = 200 ] || fail "RunInstances: $st $(cat "$tmp/ec2.xml")"
    sed -n 's/.*<instanceId>\(i-[0-9a-f]*\)<\/instanceId>.*/\1/p' "$tmp/ec2.xml" | head -1
}

wait_running() {
    for _ in $(seq 1 100); do
        curl -sf "$url/_cloudsim/instances" | jq -e --arg id "$1" \
            '.[] | select(.instance_id == $id and .state == "running")' >/dev/null && return 0
        sleep 0.05
    done
    fail "instance $1 is not running"
}

# watch CLOUD ID ADDRESS [ARGS...]: one --once run, stdout in $tmp/out, stderr in $tmp/err
watch() {
    local cloud="$1" id="$2" addr="$3"
    shift 3
    GPUFORM_IMDS_ENDPOINT="$url/imds/$id" "$gpuform" verify --agent --watch --once --backend cpu \
        --mem-mib 8 --cloud "$cloud" --address "$addr" --key-file "$tmp/node.key" "$@" \
        >"$tmp/out" 2>"$tmp/err"
}

# check_block FILE ADDRESS NONCE LEVEL: the block in FILE is ADDRESS's, authenticates with the
# key, and its report answers NONCE at LEVEL
check_block() {
    local file="$1" addr="$2" nonce="$3" level="$4" data mac want
    [ "$(grep -c '^gpuform-verify begin v1 ' "$file")" = 1 ] || fail "not one block in $file: $(cat "$file")"
    grep -qxF "gpuform-verify begin v1 $addr" "$file" || fail "the block is not $addr's"
    data="$(sed -n 's/^gpuform-verify data //p' "$file" | tr -d '\n' | tr '_-' '/+')"
    while [ $((${#data} % 4)) != 0 ]; do data="$data="; done
    printf '%s' "$data" | base64 -d >"$tmp/report.json" 2>/dev/null || fail "the data is not base64url"
    mac="$(sed -n 's/^gpuform-verify mac //p' "$file")"
    want="$( { printf '%s\n' "$addr"; cat "$tmp/report.json"; } |
        openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" | sed 's/.*= *//')"
    [ -n "$mac" ] && [ "$mac" = "$want" ] || fail "the block's MAC does not authenticate ($mac, want $want)"
    jq -e --arg n "$nonce" --arg l "$level" '.request == $n and .level == $l' "$tmp/report.json" \
        >/dev/null || fail "the report does not answer $nonce at $level: $(cat "$tmp/report.json")"
}

# ---- 1. EC2 ----
id="$(run_instance "&MetadataOptions.InstanceMetadataTags=enabled")"
wait_running "$id"
curl -sf "$url/_cloudsim/instances" | jq -e --arg id "$id" '.[] | select(.instance_id == $id) |
    .metadata_tags == true' >/dev/null || fail "cloudsim did not record InstanceMetadataTags"
grep -q '<instanceMetadataTags>enabled</instanceMetadataTags>' "$tmp/ec2.xml" ||
    fail "RunInstances' reply does not say instanceMetadataTags enabled"

watch aws "$id" 'chat[0]' || fail "--once without a request exits $?: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] || fail "--once without a request printed: $(cat "$tmp/out" "$tmp/err")"
echo "ok - no request: --once prints nothing and exits 0"

# IMDSv2 as EC2 serves it: no token, no tags; a token opens them
code="$(curl -s -o /dev/null -w '%{http_code}' "$url/imds/$id/latest/meta-data/tags/instance")"
[ "$code" = 401 ] || fail "the tags without a session token: $code, not 401"
tok="$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$url/imds/$id/latest/api/token")"
curl -sf -H "X-aws-ec2-metadata-token: $tok" "$url/imds/$id/latest/meta-data/tags/instance" |
    grep -qx 'gpuform:address' || fail "the tag list lacks gpuform:address"

nonce="$(openssl rand -hex 16)"
[ "$(ec2 "Action=CreateTags&$V&ResourceId.1=$id&Tag.1.Key=gpuform-verify-request&Tag.1.Value=full:$nonce")" = 200 ] ||
    fail "CreateTags: $(cat "$tmp/ec2.xml")"
watch aws "$id" 'chat[0]' || fail "--once answering a request exits $?: $(cat "$tmp/err")"
check_block "$tmp/out" 'chat[0]' "$nonce" full
echo "ok - aws: the block answers the tag's nonce at its level and authenticates"

# a tag key EC2 can't serve from metadata is refused on such an instance
[ "$(ec2 "Action=CreateTags&$V&ResourceId.1=$id&Tag.1.Key=team/x&Tag.1.Value=a")" = 400 ] ||
    fail "CreateTags with 'team/x' on an instance with tags in metadata was accepted"

# garbage in the tag: no block, a reason on stderr, exit 0 (nothing to answer)
[ "$(ec2 "Action=CreateTags&$V&ResourceId.1=$id&Tag.1.Key=gpuform-verify-request&Tag.1.Value=quick:nothex")" = 200 ] ||
    fail "CreateTags (garbage)"
watch aws "$id" 'chat[0]' || fail "--once on a garbage request exits $?"
[ ! -s "$tmp/out" ] && grep -q "is not a request" "$tmp/err" ||
    fail "a garbage request: $(cat "$tmp/out" "$tmp/err")"
echo "ok - aws: a garbage request is ignored with a reason"

# an instance launched without tags in metadata: a clear error, exit 1
id2="$(run_instance)"
wait_running "$id2"
ec2 "Action=CreateTags&$V&ResourceId.1=$id2&Tag.1.Key=gpuform-verify-request&Tag.1.Value=quick:$nonce" >/dev/null
watch aws "$id2" 'chat[1]' && fail "--once where tags are not in metadata exits 0"
[ ! -s "$tmp/out" ] && grep -q "InstanceMetadataTags=enabled" "$tmp/err" ||
    fail "tags not in metadata: $(cat "$tmp/out" "$tmp/err")"
echo "ok - aws: an instance without tags in metadata is named as such"

# ---- 2. a running watcher answers each nonce once ----
n1="$(openssl rand -hex 16)"
n2="$(openssl rand -hex 16)"
ec2 "Action=CreateTags&$V&ResourceId.1=$id&Tag.1.Key=gpuform-verify-request&Tag.1.Value=quick:$n1" >/dev/null
GPUFORM_IMDS_ENDPOINT="$url/imds/$id" "$gpuform" verify --agent --watch --interval 1 --backend cpu \
    --mem-mib 8 --cloud aws --address 'chat[0]' --key-file "$tmp/node.key" >"$tmp/w.out" 2>"$tmp/w.err" &
wpid=$!
blocks() { grep -c '^gpuform-verify end' "$tmp/w.out"; }
for _ in $(seq 1 100); do [ "$(blocks)" -ge 1 ] && break; sleep 0.1; done
sleep 2.5 # two more reads of the same request
[ "$(blocks)" = 1 ] || fail "the watcher answered $(blocks) times, not once, to one request"
ec2 "Action=CreateTags&$V&ResourceId.1=$id&Tag.1.Key=gpuform-verify-request&Tag.1.Value=quick:$n2" >/dev/null
for _ in $(seq 1 100); do [ "$(blocks)" -ge 2 ] && break; sleep 0.1; done
kill "$wpid"
wait "$wpid" 2>/dev/null
wpid=""
[ "$(blocks)" = 2 ] || fail "the watcher answered $(blocks) times to two requests"
awk '/^gpuform-verify begin/{n++} n==1' "$tmp/w.out" >"$tmp/b1"
awk '/^gpuform-verify begin/{n++} n==2' "$tmp/w.out" >"$tmp/b2"
check_block "$tmp/b1" 'chat[0]' "$n1" quick
check_block "$tmp/b2" 'chat[0]' "$n2" quick
! grep -q Sanitizer "$tmp/w.err" || fail "the watcher: $(cat "$tmp/w.err")"
echo "ok - a running watcher answers each request once, and the next one"

# ---- 3. Azure ----
tokurl="$url/$AZURE_TENANT_ID/oauth2/v2.0/token"
atok="$(curl -sf --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$AZURE_CLIENT_ID" \
    --data-urlencode "client_secret=$AZURE_CLIENT_SECRET" --data-urlencode "scope=$url/.default" "$tokurl" |
    jq -r .access_token)"
[ -n "$atok" ] && [ "$atok" != null ] || fail "no ARM token"
g="/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/watch"
arm() {
    curl -s -o "$tmp/arm.json" -w '%{http_code}' -X PUT -H "Authorization: Bearer $atok" \
        -H 'Content-Type: application/json' --data "$2" "$url$g/providers/$1"
}
st="$(arm "Microsoft.Network/networkInterfaces/vm0-nic?api-version=2024-05-01" \
    "{\"location\": \"eastus\", \"properties\": {\"ipConfigurations\": [{\"name\": \"ip\", \"properties\":
     {\"subnet\": {\"id\": \"$g/providers/Microsoft.Network/virtualNetworks/v/subnets/default\"}}}]}}")"
[ "${st:0:1}" = 2 ] || fail "NIC PUT: $st $(cat "$tmp/arm.json")"
an="$(openssl rand -hex 16)"
st="$(arm "Microsoft.Compute/virtualMachines/vm0?api-version=2024-07-01" \
    "{\"location\": \"eastus\", \"tags\": {\"gpuform-address\": \"web[0]\", \"gpuform-verify-request\": \"quick:$an\"},
      \"properties\": {\"hardwareProfile\": {\"vmSize\": \"Standard_NC4as_T4_v3\"},
      \"storageProfile\": {\"imageReference\": {\"publisher\": \"Canonical\", \"offer\": \"x\", \"sku\": \"y\", \"version\": \"latest\"}},
      \"osProfile\": {\"computerName\": \"vm0\", \"adminUsername\": \"u\", \"linuxConfiguration\": {\"disablePasswordAuthentication\": true,
        \"ssh\": {\"publicKeys\": [{\"path\": \"/home/u/.ssh/authorized_keys\", \"keyData\": \"ssh-ed25519 AAAA u\"}]}}},
      \"networkProfile\": {\"networkInterfaces\": [{\"id\": \"$g/providers/Microsoft.Network/networkInterfaces/vm0-nic\"}]}}}")"
[ "${st:0:1}" = 2 ] || fail "VM PUT: $st $(cat "$tmp/arm.json")"
vid="$(curl -sf "$url/_cloudsim/instances" | jq -r '.[] | select(.cloud == "azure" and .name == "vm0") | .instance_id')"
[ -n "$vid" ] || fail "no Azure VM in cloudsim"
wait_running "$vid"
code="$(curl -s -o /dev/null -w '%{http_code}' "$url/imds/$vid/metadata/instance/compute/tagsList?api-version=2021-02-01")"
[ "$code" = 400 ] || fail "tagsList without 'Metadata: true': $code, not 400"
watch azure "$vid" 'web[0]' || fail "--once on azure exits $?: $(cat "$tmp/err")"
check_block "$tmp/out" 'web[0]' "$an" quick
echo "ok - azure: the block answers the VM tag's nonce and authenticates"

# ---- 4. Compute Engine ----
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
jq -r .private_key "$tmp/key.json" >"$tmp/sa.pem"
email="$(jq -r .client_email "$tmp/key.json")"
project="$(jq -r .project_id "$tmp/key.json")"
turi="$(jq -r .token_uri "$tmp/key.json")"
now="$(date +%s)"
unsigned="$(printf '{"alg":"RS256","typ":"JWT"}' | b64url).$(jq -cn --arg e "$email" --arg a "$turi" \
    --argjson t "$now" '{iss: $e, scope: "https://www.googleapis.com/auth/cloud-platform", aud: $a,
    iat: $t, exp: ($t + 600)}' | tr -d '\n' | b64url)"
sig="$(printf '%s' "$unsigned" | openssl dgst -sha256 -sign "$tmp/sa.pem" | b64url)"
gtok="$(curl -sf --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer \
    --data-urlencode "assertion=$unsigned.$sig" "$turi" | jq -r .access_token)"
[ -n "$gtok" ] && [ "$gtok" != null ] || fail "no Compute Engine token"
gn="$(openssl rand -hex 16)"
st="$(curl -s -o "$tmp/gce.json" -w '%{http_code}' -H "Authorization: Bearer $gtok" \
    -H 'Content-Type: application/json' "$url/compute/v1/projects/$project/zones/us-central1-a/instances" \
    --data "{\"name\": \"train-0\", \"machineType\": \"zones/us-central1-a/machineTypes/g2-standard-4\",
      \"scheduling\": {\"onHostMaintenance\": \"TERMINATE\"},
      \"disks\": [{\"boot\": true, \"initializeParams\": {\"sourceImage\": \"projects/debian-cloud/global/images/family/debian-12\"}}],
      \"networkInterfaces\": [{\"network\": \"global/networks/default\"}],
      \"metadata\": {\"items\": [{\"key\": \"gpuform-verify-request\", \"value\": \"full:$gn\"}]}}")"
[ "${st:0:1}" = 2 ] || fail "instances.insert: $st $(cat "$tmp/gce.json")"
gid="$(curl -sf "$url/_cloudsim/instances" | jq -r '.[] | select(.cloud == "gcp" and .name == "train-0") | .instance_id')"
[ -n "$gid" ] || fail "no Compute Engine instance in cloudsim"
wait_running "$gid"
code="$(curl -s -o /dev/null -w '%{http_code}' "$url/imds/$gid/computeMetadata/v1/instance/attributes/gpuform-verify-request")"
[ "$code" = 403 ] || fail "an attribute without 'Metadata-Flavor: Google': $code, not 403"
watch gcp "$gid" 'train[0]' || fail "--once on gcp exits $?: $(cat "$tmp/err")"
check_block "$tmp/out" 'train[0]' "$gn" full
echo "ok - gcp: the block answers the metadata item's nonce at its level and authenticates"
