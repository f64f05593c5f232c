#!/usr/bin/env bats
# edsmod check end to end.  The per-rule corpus (one violating and one
# boundary-passing input per check id) and the EG-shaped snapshots are golden
# cases in testdata/check/<case>/; here: that LINE:COL points exactly at the
# offending value (the expected place is computed from the input with grep,
# head and wc, never copied from edsmod's output), the json and github
# output formats, exit statuses, several files and stdin.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# LINE:COL of MARK inside the NTH occurrence of NEEDLE in FILE (MARK defaults
# to NEEDLE): grep -bo gives the byte offset, wc -l the line and wc -m the
# column in characters.
pos() {
	local file=$1 nth=$2 needle=$3 mark=${4:-$3} off line ls
	off=$(LC_ALL=C grep -boF -- "$needle" "$file" | sed -n "${nth}p" | cut -d: -f1)
	if [ -z "$off" ]; then
		echo "pos: $file has no occurrence $nth of $needle" >&2
		return 1
	fi
	off=$((off + $(printf %s "${needle%%"$mark"*}" | LC_ALL=C wc -c)))
	line=$(($(head -c "$off" "$file" | LC_ALL=C wc -l) + 1))
	ls=$(head -n $((line - 1)) "$file" | LC_ALL=C wc -c)
	echo "$line:$(($(tail -c +$((ls + 1)) "$file" | head -c $((off - ls)) | LC_ALL=C.UTF-8 wc -m) + 1))"
}

# LINE:COL that the last run printed for the finding at PATH in FILE.
where() {
	local l
	l=$(printf '%s\n' "$output" | grep -F -- "$1:" | grep -F -- ": $2: " || true)
	if [ "$(printf '%s' "$l" | grep -c '^')" != 1 ]; then
		printf 'where: not exactly one finding at %s in:\n%s\n' "$2" "$output" >&2
		return 1
	fi
	l=${l#"$1:"}
	echo "${l%%: *}"
}

# Assert that the finding at PATH in FILE points at MARK in the NTH NEEDLE.
at() {
	local file=$1 path=$2 got want
	shift 2
	got=$(where "$file" "$path") || return 1
	want=$(pos "$file" "$@") || return 1
	if [ "$got" != "$want" ]; then
		echo "$file: $path: edsmod says $got, the value is at $want" >&2
		return 1
	fi
}

# Two localities of five endpoints; lb_endpoints[4] of each has port 70000,
# endpoints[1].lb_endpoints[3] health_status 6.
nested_text() {
	local i j port
	echo 'cluster_name: "çlüster-ß"'
	for i in 0 1; do
		echo 'endpoints {'
		for j in 0 1 2 3 4; do
			port=$((8000 + j))
			[ "$j" = 4 ] && port=70000
			echo '  lb_endpoints {'
			echo "    endpoint { address { socket_address { address: \"10.$i.0.$j\" port_value: $port } } }"
			if [ "$i$j" = 13 ]; then echo '    health_status: 6'; fi
			echo '  }'
		done
		[ "$i" = 1 ] && echo '  priority: 1'
		echo '}'
	done
}

P0='endpoints[0].lb_endpoints[4].endpoint.address.socket_address.port_value'
P1='endpoints[1].lb_endpoints[4].endpoint.address.socket_address.port_value'
H1='endpoints[1].lb_endpoints[3].health_status'

@test "line:col of nested repeated paths: text" {
	nested_text >n.txtpb
	run -1 --separate-stderr edsmod check n.txtpb
	at n.txtpb "$P0" 1 'port_value: 70000' 70000
	at n.txtpb "$P1" 2 'port_value: 70000' 70000
	at n.txtpb "$H1" 1 'health_status: 6' 6
	[ "${#lines[@]}" = 3 ]
}

@test "line:col of nested repeated paths: pretty JSON" {
	nested_text | edsmod --to json --pretty >n.json
	run -1 --separate-stderr edsmod check n.json
	at n.json "$P0" 1 '"portValue": 70000' 70000
	at n.json "$P1" 2 '"portValue": 70000' 70000
	at n.json "$H1" 1 '"healthStatus": 6' 6
	[ "${#lines[@]}" = 3 ]
}

@test "line:col in one-line JSON counts characters, not bytes" {
	nested_text | edsmod --to json >c.json
	[ "$(wc -l <c.json)" = 1 ]
	run -1 --separate-stderr edsmod check c.json
	at c.json "$P0" 1 '"portValue":70000' 70000
	at c.json "$P1" 2 '"portValue":70000' 70000
	at c.json "$H1" 1 '"healthStatus":6' 6
	# the column is past the UTF-8 cluster name: characters and bytes differ
	[ "$(pos c.json 2 70000 | cut -d: -f2)" -lt "$(LC_ALL=C grep -boF 70000 c.json | sed -n 2p | cut -d: -f1)" ]
}

@test "line:col in text written with lists, <>, separators, comments and decoy strings" {
	cat >q.txtpb <<'EOF'
# port_value: 70000 in a comment is not a field
cluster_name: "a { b } port_value: 70000"
endpoints {
  lb_endpoints: [
    { metadata { filter_metadata { key: "endpoint" value { fields { key: "port_value" value { number_value: 70000 } } } } }
      endpoint: { address < socket_address { address: "10.0.0.1" port_value: 80 } > } },
    { endpoint { address { socket_address { address: "10.0.0.2", port_value: 70000 } } } }
  ]
}
policy { overprovisioning_factor { value: 0 } }
endpoints { priority: 1 lb_endpoints { endpoint { address { socket_address { port_value: 70000; address: "10.0.0.3" } } } } }
EOF
	run -1 --separate-stderr edsmod check q.txtpb
	at q.txtpb 'endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value' \
		1 '"10.0.0.2", port_value: 70000' 70000
	at q.txtpb 'endpoints[1].lb_endpoints[0].endpoint.address.socket_address.port_value' \
		1 'port_value: 70000;' 70000
	at q.txtpb 'policy.overprovisioning_factor' 1 'overprovisioning_factor { value: 0 }' '{ value'
	[ "${#lines[@]}" = 3 ]
}

@test "line:col at map keys, past Struct internals and Any contents: JSON" {
	cat >m.json <<'EOF'
{
  "clusterName": "c",
  "endpoints": [{
    "lbEndpoints": [{
      "metadata": {"filterMetadata": {
        "a": {"": {"": ""}, "x": 1, "endpoint": {"address": {"socketAddress": {"portValue": 70000}}}},
        "x": {"portValue": 70000},
        "": {"k": "v"}
      }, "typedFilterMetadata": {
        "envoy.lb": {"@type": "type.googleapis.com/envoy.config.core.v3.Address",
                     "socketAddress": {"address": "10.9.9.9", "portValue": 99999}},
        "": {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {"": 1}}
      }},
      "endpoint": {"address": {"socketAddress": {"address": "10.0.0.1", "portValue": 70000}}}
    }]
  }],
  "namedEndpoints": {
    "m": {"address": {"socketAddress": {"address": "10.0.0.3", "portValue": 70000}}},
    "w\u0065\"ird": {"address": {"socketAddress": {"address": "10.0.0.2", "portValue": 70001}}}
  }
}
EOF
	run -1 --separate-stderr edsmod check m.json
	local lb='endpoints[0].lb_endpoints[0]'
	at m.json "$lb.metadata.filter_metadata[\"\"]" 1 '"": {"k": "v"}' '{"k"'
	at m.json "$lb.metadata.typed_filter_metadata[\"\"]" 1 '"": {"@type"' '{"@type"'
	at m.json "$lb.endpoint.address.socket_address.port_value" 1 '"10.0.0.1", "portValue": 70000' 70000
	at m.json 'named_endpoints["m"].address.socket_address.port_value' 1 '"10.0.0.3", "portValue": 70000' 70000
	at m.json 'named_endpoints["we\"ird"].address.socket_address.port_value' 1 '"portValue": 70001' 70001
	at m.json 'named_endpoints' 1 '"namedEndpoints": {' '{'
	# metadata is opaque to Envoy: nothing inside a Struct or an Any is a finding
	[ "${#lines[@]}" = 6 ]
	refute_output --partial 99999
}

@test "line:col at map keys, past Struct internals and Any contents: text" {
	cat >m.txtpb <<'EOF'
cluster_name: "c"
endpoints {
  lb_endpoints {
    metadata {
      filter_metadata {
        key: "a"
        value { fields { key: "" value { struct_value { fields { key: "" value { string_value: "" } } } } }
                fields { key: "endpoint" value { struct_value { fields { key: "port_value" value { number_value: 70000 } } } } } }
      }
      filter_metadata { value { fields { key: "k" value { string_value: "v" } } } key: "" }
      typed_filter_metadata {
        key: "envoy.lb"
        value { [type.googleapis.com/envoy.config.core.v3.Address] { socket_address { address: "10.9.9.9" port_value: 99999 } } }
      }
      typed_filter_metadata {
        key: ""
        value { [type.googleapis.com/google.protobuf.Struct] { fields { key: "" value { number_value: 1 } } } }
      }
    }
    endpoint { address { socket_address { address: "10.0.0.1" port_value: 70000 } } }
  }
}
named_endpoints { key: "m" value { address { socket_address { address: "10.0.0.3" port_value: 70000 } } } }
named_endpoints { key: "we\"ird" value { address { socket_address { address: "10.0.0.2" port_value: 70001 } } } }
EOF
	run -1 --separate-stderr edsmod check m.txtpb
	local lb='endpoints[0].lb_endpoints[0]'
	at m.txtpb "$lb.metadata.filter_metadata[\"\"]" 1 'filter_metadata { value { fields { key: "k"' '{ fields { key: "k"'
	at m.txtpb "$lb.metadata.typed_filter_metadata[\"\"]" 1 'value { [type.googleapis.com/google.protobuf.Struct]' '{ [type'
	at m.txtpb "$lb.endpoint.address.socket_address.port_value" 1 '"10.0.0.1" port_value: 70000' 70000
	at m.txtpb 'named_endpoints["m"].address.socket_address.port_value' 1 '"10.0.0.3" port_value: 70000' 70000
	at m.txtpb 'named_endpoints["we\"ird"].address.socket_address.port_value' 1 'port_value: 70001' 70001
	at m.txtpb 'named_endpoints' 1 'named_endpoints { key: "m"' '{ key'
	[ "${#lines[@]}" = 6 ]
	refute_output --partial 99999
}

@test "line:col in an EG snapshot broken in two places (text and JSON)" {
	sed 's/port_value: 443/port_value: 65536/' "$TOP/testdata/examples/eg-cla.txtpb" >eg.txtpb
	run -1 --separate-stderr edsmod check eg.txtpb
	at eg.txtpb 'endpoints[1].lb_endpoints[0].endpoint.address.socket_address.port_value' 1 'port_value: 65536' 65536
	[ "${#lines[@]}" = 1 ]
	edsmod --to json --pretty eg.txtpb | sed 's/"loadBalancingWeight": 20/"loadBalancingWeight": 0/' >eg.json
	run -1 --separate-stderr edsmod check eg.json
	at eg.json 'endpoints[1].lb_endpoints[0].endpoint.address.socket_address.port_value' 1 '"portValue": 65536' 65536
	at eg.json 'endpoints[1].load_balancing_weight' 1 '"loadBalancingWeight": 0' 0
	[ "${#lines[@]}" = 2 ]
}

@test "the golden corpus has a violating and a passing case for every check id and assert" {
	local ids id missing=""
	ids=$(sed -n 's/^\.It Sy \([a-z0-9-]*\) Pq \(error\|warning\)$/\1/p' "$TOP/man/edsmod.1")
	[ "$(printf '%s\n' "$ids" | grep -c .)" -ge 40 ]
	for id in $ids assert; do
		[ -f "$TOP/testdata/check/$id-bad/args" ] || missing="$missing $id-bad"
		[ -f "$TOP/testdata/check/$id-ok/args" ] || missing="$missing $id-ok"
		# the violating case reports that id; the passing one nothing
		grep -qF "[$id]" "$TOP/testdata/check/$id-bad/out" 2>/dev/null || missing="$missing $id-bad/out"
		[ ! -e "$TOP/testdata/check/$id-ok/out" ] || missing="$missing $id-ok/out"
	done
	[ -z "$missing" ] || { echo "missing:$missing"; return 1; }
}

@test "the corpus covers the three input formats, passing and failing" {
	local f
	for f in json txtpb binpb; do
		ls "$TOP"/testdata/check/*-bad/in.$f >/dev/null
		ls "$TOP"/testdata/check/*-ok/in.$f >/dev/null
	done
}

# ---- output formats -------------------------------------------------------

mixed_inputs() {
	cp "$TOP/testdata/check/port-range-bad/in.txtpb" a.txtpb
	cp "$TOP/testdata/check/unknown-field-bad/in.binpb" b.binpb
	cp "$TOP/testdata/check/map-key-empty-bad/in.json" c.json
	cp "$TOP/testdata/check/eg-failover-zones/in.txtpb" d.txtpb
	cp "$TOP/testdata/check/format-json-utf8-cut/in.json" e.json
}

@test "--format json: valid UTF-8 JSON, one object per text finding, same fields" {
	mixed_inputs
	run -1 --separate-stderr edsmod check a.txtpb b.binpb c.json d.txtpb e.json
	printf '%s\n' "${lines[@]}" >text.out
	run -1 --separate-stderr edsmod check --format json a.txtpb b.binpb c.json d.txtpb e.json
	[ -z "$stderr" ]
	printf '%s\n' "$output" >json.out
	/usr/bin/python3 -m json.tool json.out >/dev/null
	/usr/bin/python3 - <<'PY'
import json, re
doc = json.loads(open("json.out", "rb").read().decode("utf-8"))  # strict UTF-8
text = open("text.out", encoding="utf-8").read().splitlines()
assert isinstance(doc, list) and len(doc) == len(text) == 8, (len(doc), len(text))
rx = re.compile(r"^([^:]+?)(?::(\d+):(\d+))?: (?:(.*?): )?(error|warning): (.*) \[([a-z-]+)\]$")
for o, t in zip(doc, text):
    m = rx.match(t)
    assert m, t
    f, line, col, path, sev, msg, ident = m.groups()
    keys = {"file", "path", "severity", "id", "message"} | ({"line", "column"} if line else set())
    assert set(o) == keys, (o, t)
    assert o["file"] == f and o["path"] == (path or "") and o["severity"] == sev, (o, t)
    assert o["id"] == ident and o["message"] == msg, (o, t)
    if line:
        assert (o["line"], o["column"]) == (int(line), int(col)), (o, t)
    assert ("line" in o) == (not f.endswith(".binpb")), o
PY
}

@test "--format json with no findings prints an empty array" {
	mixed_inputs
	run -0 --separate-stderr edsmod check --format json d.txtpb
	assert_output "[]"
	[ -z "$stderr" ]
}

@test "--format github: annotation syntax, properties and data %-escaped" {
	mixed_inputs
	cp "$TOP/testdata/check/drop-ratio-bad/in.txtpb" 'odd,name:100%.txtpb'
	cp "$TOP/testdata/check/priority-gap-bad/in.txtpb" $'new\nline.txtpb'
	run -1 --separate-stderr edsmod check --format github a.txtpb b.binpb 'odd,name:100%.txtpb' $'new\nline.txtpb'
	[ -z "$stderr" ]
	[ "${#lines[@]}" = 6 ]
	local l
	for l in "${lines[@]}"; do
		[[ $l =~ ^::(error|warning)\ file=[^,:]+(,line=[1-9][0-9]*,col=[1-9][0-9]*)?,title=edsmod\ [a-z-]+::[^%]*(%25|%0D|%0A)?[^%]*$ ]] ||
			{ echo "not an annotation: $l"; return 1; }
	done
	local drop
	drop=$(pos 'odd,name:100%.txtpb' 1 'numerator: 101' 101)
	assert_line "::error file=odd%2Cname%3A100%25.txtpb,line=${drop%:*},col=${drop#*:},title=edsmod drop-ratio::policy.drop_overloads[0].drop_percentage.numerator: drop_percentage 101/100 is above 100%25 (numerator at most 100)"
	assert_line --partial '::warning file=new%0Aline.txtpb,line='
	assert_line '::warning file=b.binpb,title=edsmod unknown-field::unknown field 99 (varint) in envoy.config.endpoint.v3.ClusterLoadAssignment is ignored'
	assert_line --regexp '^::error file=a\.txtpb,line=18,col=23,title=edsmod port-range::endpoints\[0\]\.lb_endpoints\[1\]\.endpoint\.address\.socket_address\.port_value: port 65536 is out of range'
}

# ---- exit statuses ---------------------------------------------------------

@test "exit 0 and no output when clean; the summary counts errors and warnings" {
	mixed_inputs
	run -0 --separate-stderr edsmod check d.txtpb "$TOP/testdata/examples/eg-cla.binpb"
	assert_output ""
	[ -z "$stderr" ]
	run -1 --separate-stderr edsmod check a.txtpb b.binpb
	[ "$stderr" = "edsmod: check: 2 errors, 2 warnings" ]
}

@test "warnings alone exit 0; --strict makes them exit 1; --strict on a clean file is 0" {
	mixed_inputs
	run -0 --separate-stderr edsmod check b.binpb
	[ "${#lines[@]}" = 2 ]
	run -1 --separate-stderr edsmod check --strict b.binpb
	[ "${#lines[@]}" = 2 ]
	run -0 edsmod check --strict d.txtpb
	assert_output ""
}

@test "--grpc makes gRPC clients' rules errors" {
	cp "$TOP/testdata/check/priority-gap-bad/in.txtpb" gap.txtpb
	run -0 --separate-stderr edsmod check gap.txtpb
	assert_output --partial ': warning: priority 2 is used'
	run -1 --separate-stderr edsmod check --grpc gap.txtpb
	assert_output --partial ': error: priority 2 is used'
	assert_output --partial '[locality-required]'
}

@test "exit 4 for an undecodable input; the files before and after are still checked" {
	mixed_inputs
	printf 'cluster_name: 5\n' >bad.txtpb
	run -4 --separate-stderr edsmod check a.txtpb bad.txtpb c.json
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^a\.txtpb:')" = 2 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^c\.json:')" = 2 ]
	[[ $stderr == *"bad.txtpb:1:15"* ]]
	# --format json stays a valid document
	run -4 --separate-stderr edsmod check --format json a.txtpb bad.txtpb c.json
	printf '%s\n' "$output" | /usr/bin/python3 -m json.tool >/dev/null
}

@test "exit 5 for a missing file, 3 for bad rules (nothing read), 6 for a failing rule, 2 for usage" {
	mixed_inputs
	run -5 --separate-stderr edsmod check missing.json a.txtpb
	[ "${#lines[@]}" = 2 ]
	run -3 --separate-stderr edsmod check -e 'assert port <' missing.json
	assert_output ""
	[[ $stderr != *missing.json* ]]
	run -6 --separate-stderr edsmod check -e 'assert metadata["envoy.transport_socket_match"].name + metadata["none"].x == "a"' d.txtpb
	assert_output ""
	run -2 --separate-stderr edsmod check
	run -2 --separate-stderr edsmod check --format yaml a.txtpb
	run -2 --separate-stderr edsmod check --bogus a.txtpb
	assert_output ""
}

@test "assertions are findings with the endpoint's path and line:col; -f and -e mix" {
	cp "$TOP/testdata/check/assert-bad/in.json" in.json
	echo 'assert address != "10.0.0.1", "first endpoint"' >r.edsmod
	run -1 --separate-stderr edsmod check -f r.edsmod \
		-e 'assert exists(metadata["aigateway.envoy.io"].per_route_rule_backend_name), "endpoint has no backend name"' in.json
	[ "${#lines[@]}" = 2 ]
	# python's json_format puts each lb_endpoints element's "{" alone on a line
	at in.json 'endpoints[0].lb_endpoints[0]' 1 '        {' '{'
	at in.json 'endpoints[0].lb_endpoints[1]' 2 '        {' '{'
	assert_line --index 0 --partial ': endpoints[0].lb_endpoints[0]: error: first endpoint [assert]'
	assert_line --index 1 --partial ': endpoints[0].lb_endpoints[1]: error: endpoint has no backend name [assert]'
	# A message with a newline or a tab stays one line of text (escaped).
	run -1 --separate-stderr edsmod check -e 'assert address != "10.0.0.1", "two\nlines\tand a tab"' in.json
	[ "${#lines[@]}" = 1 ]
	assert_line --index 0 --partial ': endpoints[0].lb_endpoints[0]: error: two\nlines\tand a tab [assert]'
}

# ---- several files, stdin --------------------------------------------------

@test "several files in one run, in order, each with its own name" {
	mixed_inputs
	run -1 --separate-stderr edsmod check c.json a.txtpb b.binpb
	[ "$(printf '%s\n' "${lines[@]}" | cut -d: -f1 | uniq | tr '\n' ' ')" = "c.json a.txtpb b.binpb " ]
}

@test "stdin: '-' in any format, named <stdin>, with line:col for text" {
	mixed_inputs
	run -1 --separate-stderr sh -c '"$EDSMOD" check - <a.txtpb'
	[ "${#lines[@]}" = 2 ]
	[ "$(where '<stdin>' 'endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value')" = \
		"$(pos a.txtpb 1 'port_value: 65536' 65536)" ]
	run -0 --separate-stderr sh -c '"$EDSMOD" check - <b.binpb'
	assert_line --index 0 '<stdin>: warning: unknown field 99 (varint) in envoy.config.endpoint.v3.ClusterLoadAssignment is ignored [unknown-field]'
	run -1 --separate-stderr sh -c '"$EDSMOD" check c.json - d.txtpb <a.txtpb'
	[ "$(printf '%s\n' "${lines[@]}" | cut -d: -f1 | uniq | tr '\n' ' ')" = "c.json <stdin> " ]
}

# A large input has the two parts of its check run on two threads
# (cmd/check.c): the findings come in the order one thread gives, every
# message's own fields first, then Envoy's rules across the CLA, then the
# assertions.
@test "a large CLA: findings of both parts of the check, then the assertions, in order" {
	big_cla 1 12000 >big.json
	edsmod --to binary big.json >big.binpb
	edsmod --no-validate --to binary -e 'address == "10.0.1.1" { set address = "backend.internal" }' \
		-e 'address == "10.0.46.17" { set metadata[""].k = 1 }' big.binpb >bad.binpb
	[ "$(stat -c %s bad.binpb)" -gt $((256 * 1024)) ]
	run -1 --separate-stderr edsmod check -e 'assert address != "10.0.0.9"' bad.binpb
	mapfile -t lines <<<"$output"
	[ "${#lines[@]}" = 3 ]
	[[ "${lines[0]}" == *"endpoints[0].lb_endpoints[11793].metadata.filter_metadata[\"\"]: error: "*"[map-key-empty]" ]]
	[[ "${lines[1]}" == *"endpoints[0].lb_endpoints[257].endpoint.address.socket_address.address: error: "*"[ip-literal]" ]]
	[[ "${lines[2]}" == *"endpoints[0].lb_endpoints[9]: error: assertion failed: "*"[assert]" ]]
	[[ "$stderr" == *"3 errors"* ]]
}
