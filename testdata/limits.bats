#!/usr/bin/env bats
# Limits: hostile nesting and sizes end with a clear message, a documented
# exit status (9) and no output, in every format; the string and rules
# limits at their defaults here, lowered in the golden cases of
# testdata/limits/, and in serve (requests, start-up and SIGHUP reloads).
load helper

# A CLA whose endpoint metadata holds a Struct nested $1 levels deep.
deep_json() {
	/usr/bin/python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
print('{"clusterName":"a","endpoints":[{"lbEndpoints":[{"metadata":{"filterMetadata":{"x":'
      + '{"a":' * n + '1' + '}' * n + '}}}]}]}')
PY
}
deep_text() {
	/usr/bin/python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
sys.stdout.write('cluster_name: "a" endpoints { lb_endpoints { metadata { filter_metadata { key: "x" value {'
      + ' fields { key: "a" value { struct_value {' * n + '}}}' * n + '}}}}}\n')
PY
}
deep_binary() {
	/usr/bin/python3 - "$1" <<'PY'
import sys
def ld(num, b):
    out = bytearray()
    tag = (num << 3) | 2
    for v in (tag, len(b)):
        while v >= 0x80:
            out.append((v & 0x7f) | 0x80); v >>= 7
        out.append(v)
    return bytes(out) + b
n = int(sys.argv[1])
s = b''                                    # innermost Struct: empty
for _ in range(n):                         # Struct{fields{key:"a" value{struct_value: s}}}
    s = ld(1, ld(1, b'a') + ld(2, ld(5, s)))
md = ld(1, ld(1, b'x') + ld(2, s))         # Metadata.filter_metadata entry
cla = ld(1, b'a') + ld(2, ld(2, ld(3, md)))
sys.stdout.buffer.write(cla)
PY
}

@test "a 10,000-deep Struct in JSON: limit error, exit 9, no output" {
	deep_json 10000 >"$BATS_TEST_TMPDIR/deep.json"
	run -9 --separate-stderr "$EDSMOD" --to binary "$BATS_TEST_TMPDIR/deep.json"
	assert_output ""
	[[ "$stderr" == *"deep.json"* ]]
	[[ "$stderr" == *"nest"* ]]
}

@test "a 10,000-deep Struct in text: limit error, exit 9, no output" {
	deep_text 10000 >"$BATS_TEST_TMPDIR/deep.txtpb"
	run -9 --separate-stderr "$EDSMOD" --to binary "$BATS_TEST_TMPDIR/deep.txtpb"
	assert_output ""
	[[ "$stderr" == *"deep.txtpb:1:"* ]]
	[[ "$stderr" == *"nest"* ]]
}

@test "a 10,000-deep Struct in binary: limit error with byte offset, exit 9, no output" {
	deep_binary 10000 >"$BATS_TEST_TMPDIR/deep.binpb"
	run -9 --separate-stderr "$EDSMOD" --to json "$BATS_TEST_TMPDIR/deep.binpb"
	assert_output ""
	[[ "$stderr" == *"deep.binpb: byte "* ]]
	[[ "$stderr" == *"nested deeper than 100 levels"* ]]
}

@test "nesting just inside the limit decodes; --max-depth moves the limit" {
	# 30 Struct levels = 3 messages each + 6 above them: under 100.
	deep_binary 30 >"$BATS_TEST_TMPDIR/ok.binpb"
	run "$EDSMOD" --to json "$BATS_TEST_TMPDIR/ok.binpb"
	assert_success
	run -9 --separate-stderr "$EDSMOD" --max-depth 50 --to json "$BATS_TEST_TMPDIR/ok.binpb"
	assert_output ""
	# every format agrees on the same limit
	deep_json 30 >"$BATS_TEST_TMPDIR/ok.json"
	run "$EDSMOD" --to binary "$BATS_TEST_TMPDIR/ok.json"
	assert_success
	run -9 "$EDSMOD" --max-depth 50 --to binary "$BATS_TEST_TMPDIR/ok.json"
	deep_text 30 >"$BATS_TEST_TMPDIR/ok.txtpb"
	run "$EDSMOD" --to binary "$BATS_TEST_TMPDIR/ok.txtpb"
	assert_success
	run -9 "$EDSMOD" --max-depth 50 --to binary "$BATS_TEST_TMPDIR/ok.txtpb"
}

@test "--max-output: an output over the limit writes nothing" {
	run -9 --separate-stderr "$EDSMOD" --max-output 100 --to json "$TOP/testdata/examples/eg-cla.binpb"
	assert_output ""
	[[ "$stderr" == *"100"* ]]
}

@test "--max-output on containers rewritten in JSON or YAML: the limit, not a parse error" {
	local drain='zone == "us-east-1a" { set health = "DRAINING" }'
	for f in containers/fixtures/eg-list.yaml containers/fixtures/dr.json; do
		run -9 --separate-stderr "$EDSMOD" --max-output 100 -e "$drain" "$TOP/testdata/$f"
		assert_output ""
		[[ "$stderr" == *"output larger than 100 bytes (--max-output)"* ]]
	done
}

@test "--max-input on stdin: limit error, no output" {
	run -9 --separate-stderr bash -c "'$EDSMOD' --max-input 100 < '$TOP/testdata/examples/eg-cla.binpb'"
	assert_output ""
	[[ "$stderr" == *"limit"* ]]
}

# A text CLA whose hostname is $1 bytes.
long_hostname() {
	printf 'cluster_name: "c"\nendpoints { lb_endpoints { endpoint {\n'
	printf '  address { socket_address { address: "10.0.0.1" port_value: 80 } }\n'
	printf '  hostname: "%s"\n} } }\n' "$(head -c "$1" /dev/zero | tr '\0' a)"
}

@test "--max-string: 1M (the default) decodes in every format, one byte more is refused with the place" {
	cd "$BATS_TEST_TMPDIR"
	local n f
	for n in 1048576 1048577; do
		long_hostname $n >s$n.txtpb
		"$EDSMOD" --max-string 2M --to json s$n.txtpb >s$n.json
		"$EDSMOD" --max-string 2M --to yaml s$n.txtpb >s$n.yaml
		"$EDSMOD" --max-string 2M --to binary s$n.txtpb >s$n.binpb
	done
	for f in txtpb json yaml binpb; do
		run -0 "$EDSMOD" --to binary s1048576.$f
		cmp -s <("$EDSMOD" --to binary s1048576.$f) s1048576.binpb
		run -9 --separate-stderr "$EDSMOD" --to binary s1048577.$f
		assert_output ""
		[[ "$stderr" == "edsmod: error: string is 1048577 bytes, more than the limit of 1048576 (--max-string) at s1048577.$f"* ]]
		[[ "$stderr" == *"(endpoints[0].lb_endpoints[0].endpoint.hostname)"* ]]
	done
	run -9 --separate-stderr "$EDSMOD" --to json s1048577.txtpb
	[[ "$stderr" == *"at s1048577.txtpb:4:13 ("* ]]
	run -9 --separate-stderr "$EDSMOD" --to json s1048577.yaml
	[[ "$stderr" == *"at s1048577.yaml:9:17 ("* ]]
	run -9 --separate-stderr "$EDSMOD" --to json s1048577.binpb
	[[ "$stderr" == *"at s1048577.binpb: byte 31 ("* ]]
	# --max-string moves the limit
	run -0 "$EDSMOD" --max-string 1048577 --to json s1048577.binpb
}

@test "--max-string: '+' may build a string of 1M (the default), not one byte more" {
	cd "$BATS_TEST_TMPDIR"
	long_hostname 1048575 >a.txtpb
	run -0 --separate-stderr "$EDSMOD" -e 'set hostname = hostname + "b"' --to binary a.txtpb
	run -0 --separate-stderr "$EDSMOD" -e 'set hostname = hostname + "bc"' --max-string 1048577 --to binary a.txtpb
	run -6 --separate-stderr "$EDSMOD" -e 'set hostname = hostname + "bc"' --to binary a.txtpb
	assert_output ""
	[[ "$stderr" == "edsmod: error: rule at -e #1:1:1 failed on endpoints[0].lb_endpoints[0] (10.0.0.1:80) of a.txtpb: '+' would make a string of 1048577 bytes, more than the limit of 1048576 (--max-string) at -e #1:1:16:"* ]]
}

@test "--max-string: a literal string in a rule (alone or in a JSON value, keys too) is held to it" {
	cd "$BATS_TEST_TMPDIR"
	long_hostname 3 >a.txtpb
	local s9=xxxxxxxxx
	run -0 --separate-stderr "$EDSMOD" --max-string 9 -e "set hostname = \"$s9\"" a.txtpb
	run -9 --separate-stderr "$EDSMOD" --max-string 8 -e "set hostname = \"$s9\"" a.txtpb
	assert_output ""
	assert_equal "${stderr%%$'\n'*}" 'edsmod: error: string of 9 bytes in a literal, more than the limit of 8 (--max-string) at -e #1:1:16:'
	run -9 --separate-stderr "$EDSMOD" --max-string 8 -e "set metadata[\"m\"].v = {\"k\": [1, \"$s9\"]}" a.txtpb
	[[ "$stderr" == *"string of 9 bytes in a literal, more than the limit of 8 (--max-string)"* ]]
	run -9 --separate-stderr "$EDSMOD" --max-string 8 -e "set metadata[\"m\"].v = {\"$s9\": true}" a.txtpb
	run -0 --separate-stderr "$EDSMOD" --max-string 9 -e "set metadata[\"m\"].v = {\"$s9\": [\"$s9\"]}" a.txtpb
}

@test "rules limits at their defaults: 1000000 rules, 4096-byte regexes, 64M sources" {
	cd "$BATS_TEST_TMPDIR"
	long_hostname 1 >a.txtpb
	seq 1000001 | sed 's/.*/zone == "z&" { drop }/' >many.edsmod
	head -n 1000000 many.edsmod >enough.edsmod
	run -0 --separate-stderr "$EDSMOD" -f enough.edsmod a.txtpb
	run -9 --separate-stderr "$EDSMOD" -f many.edsmod a.txtpb
	assert_output ""
	assert_equal "${stderr%%$'\n'*}" 'edsmod: error: more than the limit of 1000000 rules (--max-rules) at many.edsmod:1000001:1:'
	run -0 --separate-stderr "$EDSMOD" --max-rules 1000001 -f many.edsmod a.txtpb

	local re
	re=$(head -c 4096 /dev/zero | tr '\0' a)
	run -0 --separate-stderr "$EDSMOD" -e "zone =~ \"$re\" { drop }" a.txtpb
	run -9 --separate-stderr "$EDSMOD" -e "zone =~ \"${re}a\" { drop }" a.txtpb
	assert_equal "${stderr%%$'\n'*}" 'edsmod: error: regular expression is 4097 bytes, more than the limit of 4096 (--max-regex) at -e #1:1:9:'
	# repetitions count written out, as regcomp builds them: a{1,10000}
	# would take it 800 MB, (.*) and a hundred '+' more than there is
	run -0 --separate-stderr "$EDSMOD" -e 'zone =~ "^(a{1,1000})+[0-9]{1,2}$" { drop }' a.txtpb
	run -9 --separate-stderr "$EDSMOD" -e 'zone =~ "a{1,10000}" { drop }' a.txtpb
	assert_equal "${stderr%%$'\n'*}" 'edsmod: error: regular expression is 10009 bytes with its repetitions written out (as regcomp builds it), more than the limit of 4096 (--max-regex) at -e #1:1:9:'
	re="(a.*)$(head -c 100 /dev/zero | tr '\0' +)"
	run -9 --separate-stderr "$EDSMOD" -e "zone =~ \"$re\" { drop }" a.txtpb
	[[ "$stderr" == *"with its repetitions written out (as regcomp builds it), more than the limit of 4096 (--max-regex)"* ]]
	run -9 --separate-stderr "$EDSMOD" --max-regex 13 -e 'zone =~ "a{1,9}" { drop }' a.txtpb
	run -0 --separate-stderr "$EDSMOD" --max-regex 14 -e 'zone =~ "a{1,9}" { drop }' a.txtpb

	# a rule and a comment: 64M, then one byte more
	{
		printf 'port == 80 { set port = 81 }\n#'
		head -c $(((64 << 20) - 31)) /dev/zero | tr '\0' a
		echo
	} >edge.edsmod
	run -0 --separate-stderr "$EDSMOD" -f edge.edsmod --to json a.txtpb
	assert_output --partial '"portValue":81'
	sed -i 's/^#/##/' edge.edsmod
	run -9 --separate-stderr "$EDSMOD" -f edge.edsmod a.txtpb
	assert_output ""
	assert_equal "$stderr" 'edsmod: error: rules file "edge.edsmod" is more than the limit of 67108864 bytes (--max-rules-size)'
	run -0 --separate-stderr "$EDSMOD" -f edge.edsmod --max-rules-size 65M a.txtpb
}

@test "limit options take positive numbers, sizes with K, M or G" {
	run -2 --separate-stderr "$EDSMOD" --max-string 0
	assert_equal "${stderr%%$'\n'*}" 'edsmod: error: bad --max-string "0" (a positive number, optionally with K, M or G)'
	run -2 --separate-stderr "$EDSMOD" check --max-regexes 1K x
	assert_equal "${stderr%%$'\n'*}" 'edsmod: error: bad --max-regexes "1K" (a positive number)'
	run -2 --separate-stderr "$EDSMOD" diff --max-rules 5 a b # diff takes no rules
	run -2 --separate-stderr "$EDSMOD_BUILD/edsmod-serve" --max-rules-size -1
	assert_equal "${stderr%%$'\n'*}" 'edsmod serve: error: bad --max-rules-size "-1" (a positive number, optionally with K, M or G)'
}

# ---- serve: the same limits on requests and on the rules, reloads included

SERVE="$EDSMOD_BUILD/edsmod-serve"
M=/envoygateway.extension.EnvoyGatewayExtension

eg() {
	/usr/bin/python3 "$TOP/testdata/serve/eg.py" "$@"
}

# serve_start ARGS...: edsmod-serve on 127.0.0.1:0; sets SERVER_PID, PORT, LOG.
serve_start() {
	LOG=$BATS_TEST_TMPDIR/server.log
	"$SERVE" --listen 127.0.0.1:0 "$@" 2>"$LOG" &
	SERVER_PID=$!
	local i
	for i in $(seq 200); do
		grep -q ': info: serving ' "$LOG" && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$LOG" | head -1)
	[ -n "$PORT" ] || { cat "$LOG"; return 1; }
}

# request FILE.txtpb OUT: a PostEndpointsModifyRequest for that CLA.
request() {
	"$EDSMOD" --max-string 1M --to binary "$1" >"$2.cla"
	eg endpoints-req "$2.cla" "$2"
}


teardown() {
	stop_server
}

@test "serve --max-string: a longer string gets INVALID_ARGUMENT, a rule building one FAILED_PRECONDITION" {
	cd "$BATS_TEST_TMPDIR"
	long_hostname 17 >at.txtpb
	long_hostname 18 >over.txtpb
	long_hostname 3 >grow.txtpb
	request at.txtpb at.req
	request over.txtpb over.req
	request grow.txtpb grow.req
	serve_start --max-string 17 -e 'hostname == "aaa" { set hostname = hostname + "bbbbbbbbbbbbbbb" }'
	run -0 eg call "127.0.0.1:$PORT" "$M/PostEndpointsModify" at.req reply
	assert_output --regexp '^OK '
	run -0 eg call "127.0.0.1:$PORT" "$M/PostEndpointsModify" over.req reply
	assert_output 'INVALID_ARGUMENT: invalid PostEndpointsModifyRequest: string is 18 bytes, more than the limit of 17 (--max-string) at byte 27 (load_assignment.endpoints[0].lb_endpoints[0].endpoint.hostname)'
	run -0 eg call "127.0.0.1:$PORT" "$M/PostEndpointsModify" grow.req reply
	assert_output --regexp "^FAILED_PRECONDITION: cluster \"c\": rule at -e #1:1:1 failed on .*'\\+' would make a string of 18 bytes, more than the limit of 17 \\(--max-string\\)"
	run -0 eg call "127.0.0.1:$PORT" "$M/PostEndpointsModify" at.req reply
	assert_output --regexp '^OK '
}

@test "serve: rules over a limit do not start, and a SIGHUP reload is held to the same limits" {
	cd "$BATS_TEST_TMPDIR"
	run -9 --separate-stderr "$SERVE" --listen 127.0.0.1:0 --max-rules 1 -e 'port == 1 { drop }' -e 'port == 2 { drop }'
	[[ "$stderr" == *"more than the limit of 1 rules (--max-rules) at -e #2:1:1"* ]]
	printf 'port == 80 { set port = 81 }\n' >r.edsmod
	long_hostname 3 >a.txtpb
	request a.txtpb a.req
	serve_start --max-rules 1 --max-regex 2 -f r.edsmod
	printf 'port == 80 { set port = 82 }\nport == 81 { drop }\n' >r.edsmod
	kill -HUP "$SERVER_PID"
	wait_log 'SIGHUP: the rules did not load'
	grep -q 'more than the limit of 1 rules (--max-rules) at r.edsmod:2:1' "$LOG"
	printf 'zone =~ "abc" { drop }\n' >r.edsmod
	kill -HUP "$SERVER_PID"
	wait_log 'regular expression is 3 bytes, more than the limit of 2 (--max-regex) at r.edsmod:1:9'
	# still the first rules
	run -0 eg call "127.0.0.1:$PORT" "$M/PostEndpointsModify" a.req reply
	assert_output --regexp '^OK [1-9]'
	eg payloads reply 1 cla
	run -0 "$EDSMOD" --from binary --to json cla.0
	assert_output --partial '"portValue":81'
	printf 'port == 80 { set port = 83 }\n' >r.edsmod
	kill -HUP "$SERVER_PID"
	wait_log 'SIGHUP: reloaded 1 rule'
}

@test "--max-depth counts as protobuf does: 100 levels below the CLA read in every format, 101 refused (python3-protobuf agrees)" {
	# Value > ListValue > Value ... under an endpoint's metadata, serialized
	# by python3-protobuf on Envoy's real protos, which then parses it back
	# (or not) with protobuf's own limit
	run /usr/bin/python3 - "$TOP/testdata/conformance" "$(envoy_protos)" "$BATS_TEST_TMPDIR" <<'PY'
import sys
sys.path.insert(0, sys.argv[1]); import conform
conform.py_classes(sys.argv[2])
from google.protobuf import json_format, text_format
CLA = conform.cla_class()
for levels in (100, 101):
    # below the CLA: LocalityLbEndpoints 1, LbEndpoint 2, Metadata 3, entry 4,
    # Struct 5, entry 6, Value 7, then ListValue and Value: 2 a step
    m = CLA(); m.cluster_name = "d"
    v = m.endpoints.add().lb_endpoints.add().metadata.filter_metadata["x"].fields["k"]
    d = 7
    while d + 2 <= levels:
        v = v.list_value.values.add(); d += 2
    if d < levels:
        v.struct_value.SetInParent(); d += 1
    else:
        v.string_value = "innermost"
    assert d == levels
    data = m.SerializeToString()
    try:
        CLA().ParseFromString(data); print(levels, "python reads it")
    except Exception:
        print(levels, "python refuses it")
    open("%s/d%d.binpb" % (sys.argv[3], levels), "wb").write(data)
    open("%s/d%d.json" % (sys.argv[3], levels), "w").write(json_format.MessageToJson(m))
    open("%s/d%d.txtpb" % (sys.argv[3], levels), "w").write(text_format.MessageToString(m))
PY
	assert_success
	assert_line "100 python reads it"
	assert_line "101 python refuses it"
	local f
	for f in d100.binpb d100.json d100.txtpb; do
		"$EDSMOD" --to binary "$BATS_TEST_TMPDIR/$f" | cmp - "$BATS_TEST_TMPDIR/d100.binpb"
	done
	for f in d101.binpb d101.json d101.txtpb; do
		run -9 --separate-stderr "$EDSMOD" --to binary "$BATS_TEST_TMPDIR/$f"
		assert_output ""
		[[ "$stderr" == *"messages nested deeper than 100 levels (--max-depth)"* ]]
	done
	"$EDSMOD" --max-depth 101 --to binary "$BATS_TEST_TMPDIR/d101.json" | cmp - "$BATS_TEST_TMPDIR/d101.binpb"
}
