#!/usr/bin/env bats
# Real-shaped snapshots: YAML, lists, discovery responses and config dumps,
# rewritten by edsmod and read back by an independent implementation
# (python3-protobuf with Envoy's real protos and PyYAML, testdata/containers/
# snap.py).  Golden cases for the same forms are in testdata/containers/,
# testdata/yaml/ and testdata/diff/.
load helper

FIX="$TOP/testdata/containers/fixtures"
DRAIN='zone == "us-east-1b" { set health = "DRAINING" }'

snap() {
	/usr/bin/python3 "$TOP/testdata/containers/snap.py" "$1" "$(envoy_protos)" "${@:2}"
}

setup() {
	/usr/bin/python3 -c 'import yaml, google.protobuf' 2>/dev/null || skip "python3-yaml and python3-protobuf are needed (scripts/deps test)"
}

# Every input format of a container to every output format, with a rule;
# python drains its own copy and compares each output with it.
matrix() {
	local typ=$1 base=$2 pairs=() f to ext
	edsmod --to yaml "$FIX/$base.json" >"$BATS_TEST_TMPDIR/$base.yaml"
	for f in "$FIX/$base.binpb" "$FIX/$base.json" "$FIX/$base.txtpb" "$BATS_TEST_TMPDIR/$base.yaml"; do
		for to in binary json text yaml; do
			ext=$to
			[ $to = binary ] && ext=binpb
			[ $to = text ] && ext=txtpb
			local out="$BATS_TEST_TMPDIR/$(basename "$f").$ext"
			edsmod -e "$DRAIN" --to $to "$f" >"$out"
			pairs+=("$FIX/$base.binpb" "$out")
		done
	done
	run snap same "$typ" us-east-1b "${pairs[@]}"
	assert_success
}

@test "DiscoveryResponse, 4 formats in x 4 out: every CLA rewritten, the rest as Envoy's protos read it" {
	matrix dr dr
}

@test "DeltaDiscoveryResponse, 4 formats in x 4 out: Resources and the heartbeat survive" {
	matrix delta delta
}

@test "a rule that changes nothing leaves the response unchanged (and the check can fail)" {
	edsmod -e 'zone == "nowhere" { set health = "DRAINING" }' --to json "$FIX/dr.binpb" >"$BATS_TEST_TMPDIR/same.json"
	run snap same dr - "$FIX/dr.binpb" "$BATS_TEST_TMPDIR/same.json"
	assert_success
	run snap same dr us-east-1b "$FIX/dr.binpb" "$BATS_TEST_TMPDIR/same.json"
	assert_failure
	assert_output --partial "health_status: DRAINING"
}

@test "lists: YAML sequence and stream, JSON array, JSON Lines, delimited binary, each to binary/json/yaml" {
	local pairs=() f to out
	for f in eg-list.yaml eg-stream.yaml eg-list.json eg-list.jsonl eg-list.delimited; do
		for to in binary json yaml; do
			out="$BATS_TEST_TMPDIR/$f.$to"
			edsmod -e "$DRAIN" --to $to "$FIX/$f" >"$out"
			case $to in
			binary) mv "$out" "$out.delimited"; out=$out.delimited ;;
			json) if [ "$(head -c1 "$out")" = "[" ]; then mv "$out" "$out.json"; out=$out.json
			      else mv "$out" "$out.jsonl"; out=$out.jsonl; fi ;;
			yaml) mv "$out" "$out.yaml"; out=$out.yaml ;;
			esac
			pairs+=("$FIX/eg-list.yaml" "$out")
		done
	done
	# the stream stays a stream, the array an array
	[ "$(head -c1 "$BATS_TEST_TMPDIR/eg-stream.yaml.json.jsonl")" = "{" ]
	[ "$(head -c1 "$BATS_TEST_TMPDIR/eg-list.json.json.json")" = "[" ]
	run snap same list us-east-1b "${pairs[@]}"
	assert_success
}

@test "config dump: JSON and YAML both ways; binary to binary and text; other dumps kept as they were" {
	local y="$BATS_TEST_TMPDIR/cd.yaml" pairs=()
	edsmod --to yaml "$FIX/config-dump.json" >"$y"
	for f in "$FIX/config-dump.json" "$y"; do
		for to in json yaml; do
			edsmod --no-validate -e "$DRAIN" --to $to "$f" >"$BATS_TEST_TMPDIR/out-$(basename "$f").$to"
			pairs+=("$FIX/config-dump.json" "$BATS_TEST_TMPDIR/out-$(basename "$f").$to")
		done
	done
	run snap same dump us-east-1b "${pairs[@]}"
	assert_success
	# the bootstrap and clusters dumps, which edsmod cannot decode, are byte-equal JSON
	run /usr/bin/python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))["configs"][:2]
b = json.load(open(sys.argv[2]))["configs"][:2]
sys.exit(a != b)' "$FIX/config-dump.json" "$BATS_TEST_TMPDIR/out-config-dump.json.json"
	assert_success
	edsmod --no-validate -e "$DRAIN" "$FIX/config-dump.binpb" >"$BATS_TEST_TMPDIR/cd.binpb"
	edsmod --no-validate -e "$DRAIN" --to text "$FIX/config-dump.binpb" >"$BATS_TEST_TMPDIR/cd.txtpb"
	edsmod --no-validate --to binary "$BATS_TEST_TMPDIR/cd.txtpb" >"$BATS_TEST_TMPDIR/cd2.binpb"
	run snap same dump us-east-1b "$FIX/config-dump.binpb" "$BATS_TEST_TMPDIR/cd.binpb" \
		"$FIX/config-dump.binpb" "$BATS_TEST_TMPDIR/cd2.binpb"
	assert_success
}

@test "edsmod -i on an Envoy Gateway YAML snapshot rewrites the changed CLAs and nothing else" {
	local f="$BATS_TEST_TMPDIR/snapshot.yaml"
	cp "$FIX/eg-list.yaml" "$f"
	edsmod -i -e "$DRAIN" "$f"
	# only two lines added, each where key order puts it; comments kept
	run diff "$FIX/eg-list.yaml" "$f"
	assert_output "$(printf '79a80\n>       healthStatus: DRAINING\n85a87\n>       healthStatus: DRAINING')"
	run snap same list us-east-1b "$FIX/eg-list.yaml" "$f"
	assert_success
	# a rule that changes nothing leaves every byte
	cp "$FIX/eg-list.yaml" "$f"
	edsmod -i -e 'zone == "nowhere" { set health = "DRAINING" }' "$f"
	cmp "$FIX/eg-list.yaml" "$f"
}

@test "edsmod -i on a pretty JSON discovery response: a two-line diff" {
	local f="$BATS_TEST_TMPDIR/dr.json"
	cp "$FIX/dr.json" "$f"
	edsmod -i -e "$DRAIN" "$f"
	# the keys there were sorted: the new one goes where sorting puts it
	run diff "$FIX/dr.json" "$f"
	assert_output "$(printf '%s\n' 102a103 '>               "healthStatus": "DRAINING",' \
		113a115 '>               "healthStatus": "DRAINING",')"
}

@test "binary containers: every byte outside the changed CLA is copied, unknown fields included" {
	local in="$BATS_TEST_TMPDIR/dr-unknown.binpb"
	# field 99 (unknown to both) after the response, as a newer control plane might send
	{ cat "$FIX/dr.binpb"; printf '\x9a\x06\x05hello'; } >"$in"
	edsmod -e "$DRAIN" "$in" >"$BATS_TEST_TMPDIR/out.binpb"
	run bash -c "protoc --decode_raw <'$BATS_TEST_TMPDIR/out.binpb' | tail -1"
	assert_output '99: "hello"'
	# resources[0] (not changed) comes out byte for byte; resources[1] does not
	run /usr/bin/python3 -c '
import sys
def fields(b):
    i, out = 0, []
    while i < len(b):
        t, s = 0, 0
        while True:
            c = b[i]; i += 1; t |= (c & 0x7f) << s; s += 7
            if c < 0x80: break
        start = i
        if t & 7 == 2:
            n, s = 0, 0
            while True:
                c = b[i]; i += 1; n |= (c & 0x7f) << s; s += 7
                if c < 0x80: break
            i += n
        elif t & 7 == 0:
            while b[i] & 0x80: i += 1
            i += 1
        out.append((t >> 3, b[start:i]))
    return out
a = [v for n, v in fields(open(sys.argv[1], "rb").read()) if n == 2]
b = [v for n, v in fields(open(sys.argv[2], "rb").read()) if n == 2]
sys.exit(not (a[0] == b[0] and a[2] == b[2] and a[3] == b[3] and a[1] != b[1]))' "$in" "$BATS_TEST_TMPDIR/out.binpb"
	assert_success
}

@test "binary containers: an unknown group is copied as it came; one that is not closed is an error at its byte" {
	local in="$BATS_TEST_TMPDIR/dr-group.binpb" out="$BATS_TEST_TMPDIR/out.binpb" n
	n=$(stat -c %s "$FIX/dr.binpb")
	# group 98 { 1: 5, group 99 { 1: "x" } } after the response's fields
	{ cat "$FIX/dr.binpb"; printf '\223\006\010\005\233\006\012\001x\234\006\224\006'; } >"$in"
	edsmod -e "$DRAIN" "$in" >"$out"
	run snap same dr us-east-1b "$in" "$out"
	assert_success
	run bash -c "protoc --decode_raw <'$out' | tail -6"
	assert_output "$(printf '%s\n' '98 {' '  1: 5' '  99 {' '    1: "x"' '  }' '}')"
	{ cat "$FIX/dr.binpb"; printf '\223\006\010\005'; } >"$in"
	run edsmod -e "$DRAIN" -o "$out.2" "$in"
	assert_failure 4
	assert_output "edsmod: error: malformed protobuf: bad field in a container message: a group that is not closed (truncated input?) at $in: byte $n"
	[ ! -e "$out.2" ]
}

@test "YAML written by edsmod reads back with PyYAML and Envoy's protos as the same CLA (corpus)" {
	local pairs=() f ref
	for f in "$TOP"/testdata/corpus/*.txtpb "$TOP/testdata/examples/eg-cla.txtpb"; do
		ref="$BATS_TEST_TMPDIR/$(basename "$f" .txtpb).binpb"
		real_protoc --encode=envoy.config.endpoint.v3.ClusterLoadAssignment envoy/config/endpoint/v3/endpoint.proto <"$f" >"$ref"
		edsmod --to yaml "$ref" >"$ref.yaml"
		pairs+=("$ref" "$ref.yaml")
	done
	run snap same cla - "${pairs[@]}"
	assert_success
}

@test "YAML written by PyYAML from Envoy's protos reads into edsmod as the same CLA (corpus)" {
	local enc=() same=() f ref
	for f in "$TOP"/testdata/corpus/*.txtpb "$TOP/testdata/examples/eg-cla.txtpb"; do
		ref="$BATS_TEST_TMPDIR/$(basename "$f" .txtpb).binpb"
		real_protoc --encode=envoy.config.endpoint.v3.ClusterLoadAssignment envoy/config/endpoint/v3/endpoint.proto <"$f" >"$ref"
		enc+=("$ref" "$ref.py.yaml")
	done
	snap encode cla "${enc[@]}"
	for ((i = 0; i < ${#enc[@]}; i += 2)); do
		edsmod --from yaml --to binary "${enc[i+1]}" >"${enc[i+1]}.binpb"
		same+=("${enc[i]}" "${enc[i+1]}.binpb")
	done
	run snap same cla - "${same[@]}"
	assert_success
}

@test "YAML strings that look like numbers, booleans, dates or indicators, and keys past YAML's 1024-character simple keys, survive PyYAML and edsmod" {
	local in
	for in in "$TOP/testdata/yaml/quoting/in.json" "$TOP/testdata/yaml/long-keys/in.json"; do
		edsmod --to yaml "$in" >"$BATS_TEST_TMPDIR/q.yaml"
		run /usr/bin/python3 -c '
import json, sys, yaml
sys.exit(yaml.safe_load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$BATS_TEST_TMPDIR/q.yaml" "$in"
		assert_success
		edsmod --from yaml --to json "$BATS_TEST_TMPDIR/q.yaml" >"$BATS_TEST_TMPDIR/q.json"
		run /usr/bin/python3 -c '
import json, sys
sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$BATS_TEST_TMPDIR/q.json" "$in"
		assert_success
	done
}

@test "a rewritten flow-style CLA in a YAML snapshot writes a key past 1024 characters as \"? key\"; PyYAML and edsmod read it back" {
	local k
	k=$(printf 'k%.0s' $(seq 1100))
	printf -- '- {clusterName: a, endpoints: [{lbEndpoints: [{endpoint: {address: {socketAddress: {address: 10.0.0.1, portValue: 80}}}, metadata: {filterMetadata: {ns: {? "%s" : v}}}}]}]}\n' "$k" >"$BATS_TEST_TMPDIR/flow.yaml"
	edsmod -e 'exists(address) { set health = "DRAINING" }' "$BATS_TEST_TMPDIR/flow.yaml" >"$BATS_TEST_TMPDIR/out.yaml"
	grep -q "{? \"$k\":\"v\"}" "$BATS_TEST_TMPDIR/out.yaml"
	run /usr/bin/python3 -c '
import sys, yaml
lbe = yaml.safe_load(open(sys.argv[1]))[0]["endpoints"][0]["lbEndpoints"][0]
print(lbe["healthStatus"], lbe["metadata"]["filterMetadata"]["ns"][sys.argv[2]])' "$BATS_TEST_TMPDIR/out.yaml" "$k"
	assert_output "DRAINING v"
	edsmod --to json "$BATS_TEST_TMPDIR/out.yaml" | grep -q "\"$k\":\"v\""
}

@test "a YAML snapshot whose lines end in a bare CR is rewritten at the right indentation" {
	printf -- '---\rclusterName: a\rendpoints:\r- lbEndpoints:\r  - endpoint: {address: {socketAddress: {address: 10.0.0.1, portValue: 80}}}\r' >"$BATS_TEST_TMPDIR/cr.yaml"
	edsmod -e 'set cla.policy.overprovisioning_factor = 177' "$BATS_TEST_TMPDIR/cr.yaml" >"$BATS_TEST_TMPDIR/out.yaml"
	run /usr/bin/python3 -c '
import sys, yaml
d = yaml.safe_load(open(sys.argv[1], newline=""))
print(d["clusterName"], d["policy"]["overprovisioningFactor"], d["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]["portValue"])' "$BATS_TEST_TMPDIR/out.yaml"
	assert_output "a 177 80"
	run edsmod --to json --compact "$BATS_TEST_TMPDIR/out.yaml"
	assert_success
	assert_output --partial '"policy":{"overprovisioningFactor":177}'
	# and a finding's line:col counts the CRs as line breaks, as a CRLF file's
	sed 's/portValue: 80/portValue: 99999/' "$BATS_TEST_TMPDIR/cr.yaml" >"$BATS_TEST_TMPDIR/bad.yaml"
	run -1 edsmod check "$BATS_TEST_TMPDIR/bad.yaml"
	assert_output --partial "bad.yaml:5:72: endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: error: port 99999"
	sed 's/\r/\r\n/g' "$BATS_TEST_TMPDIR/bad.yaml" >"$BATS_TEST_TMPDIR/crlf.yaml"
	run -1 edsmod check "$BATS_TEST_TMPDIR/crlf.yaml"
	assert_output --partial "crlf.yaml:5:72: endpoints[0]"
}

@test "container detection: a binary CLA is never taken for a delimited list or a response" {
	local f
	for f in "$TOP"/testdata/corpus/*.txtpb "$TOP/testdata/examples/eg-cla.txtpb"; do
		edsmod --from text --to binary "$f" >"$BATS_TEST_TMPDIR/c.binpb"
		edsmod --to binary "$BATS_TEST_TMPDIR/c.binpb" | cmp - "$BATS_TEST_TMPDIR/c.binpb"
		run edsmod check --format json -e 'assert cla.cluster_name == "nope", "seen"' "$BATS_TEST_TMPDIR/c.binpb"
		assert_output --partial '"id": "assert"'
		refute_output --partial '"resource"'
	done
	# a delimited list of one CLA is a list, and is written back as one
	edsmod --from text --to binary "$TOP/testdata/examples/eg-cla.txtpb" >"$BATS_TEST_TMPDIR/one.binpb"
	{ printf "\\x$(printf '%x' $(($(stat -c %s "$BATS_TEST_TMPDIR/one.binpb") & 127 | 128)))"
	  printf "\\x$(printf '%x' $(($(stat -c %s "$BATS_TEST_TMPDIR/one.binpb") >> 7)))"
	  cat "$BATS_TEST_TMPDIR/one.binpb"; } >"$BATS_TEST_TMPDIR/list.delimited"
	run edsmod check --format json -e 'assert cla.cluster_name == "nope", "seen"' "$BATS_TEST_TMPDIR/list.delimited"
	assert_output --partial '"resource": "[0]"'
	edsmod --to binary "$BATS_TEST_TMPDIR/list.delimited" | cmp - "$BATS_TEST_TMPDIR/list.delimited"
}

@test "check --format json names the resource and cluster of a finding in a container" {
	run edsmod check --format json "$FIX/dr.json"
	assert_failure 1
	assert_output --partial '"line": 162, "column": 38, "resource": "resources[3].resource", "cluster": "httproute/default/chat/rule/1"'
}

@test "diff: snapshots in different forms and orders compare equal; a change in one is found" {
	run edsmod diff "$FIX/eg-list.yaml" "$FIX/eg-list.delimited"
	assert_success
	assert_output ""
	edsmod -e "$DRAIN" --to json "$FIX/eg-list.jsonl" >"$BATS_TEST_TMPDIR/drained.jsonl"
	run edsmod diff "$FIX/eg-list.yaml" "$BATS_TEST_TMPDIR/drained.jsonl"
	assert_failure 1
	assert_output --partial '~ locality zone=us-east-1b: health UNKNOWN → DRAINING on both endpoints'
	run edsmod diff --format json "$FIX/eg-list.yaml" "$BATS_TEST_TMPDIR/drained.jsonl"
	assert_failure 1
	run /usr/bin/python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
c = d["clusters"][0]["changes"][0]
sys.exit(not (d["equal"] is False and c["field"] == "health" and c["old"] == "UNKNOWN" and c["new"] == "DRAINING" and c["endpoints"] == 2))' <<<"$output"
	assert_success
}
