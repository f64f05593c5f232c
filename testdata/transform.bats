#!/usr/bin/env bats
# The transform command's file handling: formats, stdin, -o, -i, several
# inputs, and "nothing lost" on every failure.  (Per-message golden cases
# live in testdata/transform/<case>/; conformance in conformance.bats.)
load helper

setup() {
	EX="$TOP/testdata/examples"
	cp "$EX/eg-cla.binpb" "$BATS_TEST_TMPDIR/a.binpb"
	"$EDSMOD" --to json --pretty "$EX/eg-cla.binpb" >"$BATS_TEST_TMPDIR/a.json"
	"$EDSMOD" --to text "$EX/eg-cla.binpb" >"$BATS_TEST_TMPDIR/a.txtpb"
	cd "$BATS_TEST_TMPDIR"
}

# In big.binpb, make address LATE (in the half decoded ahead) invalid UTF-8,
# then EARLY as well: each time the error is the first one's, at its byte
# (the address's last) and path.
first_bad_utf8() {
	local late=$1 late_path=$2 early=$3 early_path=$4 off1 off2
	/usr/bin/python3 - "$late" "$early" >offsets <<-'PY'
	import sys
	b = open("big.binpb", "rb").read()
	def last_byte(a):
	    a = a.encode()
	    return b.index(bytes([len(a)]) + a + b"\x18") + len(a)
	i, j = last_byte(sys.argv[1]), last_byte(sys.argv[2])
	one = bytearray(b); one[i] = 0xFF; open("bad1.binpb", "wb").write(one)
	two = bytearray(one); two[j] = 0xFE; open("bad2.binpb", "wb").write(two)
	print(i, j)
	PY
	read -r off1 off2 <offsets
	run -4 edsmod --to json bad1.binpb
	assert_output "edsmod: error: invalid UTF-8 in string field \"address\" at bad1.binpb: byte $off1 ($late_path.endpoint.address.socket_address.address)"
	run -4 edsmod --to json bad2.binpb
	assert_output "edsmod: error: invalid UTF-8 in string field \"address\" at bad2.binpb: byte $off2 ($early_path.endpoint.address.socket_address.address)"
}

@test "the input format is detected; --to defaults to it" {
	for f in a.binpb a.json a.txtpb; do
		run -0 edsmod --to binary "$f"
		cmp -s <(edsmod --to binary "$f") a.binpb
	done
	run -0 edsmod a.txtpb
	assert_output "$(cat a.txtpb)"
	edsmod a.binpb | cmp - a.binpb
}

@test "stdin and '-' read standard input; --from forces a format" {
	edsmod --to json --pretty <a.binpb | diff - a.json
	edsmod --to json --pretty - <a.binpb | diff - a.json
	edsmod --from binary --to json --pretty - <a.binpb | diff - a.json
	run -4 --separate-stderr edsmod --from json <a.binpb
	assert_output ""
}

@test "format aliases: pb, binpb, txtpb, textproto" {
	edsmod --from txtpb --to pb a.txtpb | cmp - a.binpb
	edsmod --from textproto --to binpb a.txtpb | cmp - a.binpb
}

@test "binary in, binary out, no rules: byte for byte, unknown fields and field order kept" {
	# field 15 (unknown) before field 1: a re-encoder would move it
	printf '\x78\x2a' | cat - a.binpb >odd.binpb
	edsmod odd.binpb | cmp - odd.binpb
	edsmod -e 'zone == "nowhere" { drop }' odd.binpb | cmp - odd.binpb
}

@test "binary out copies the bytes of unchanged messages, never of changed ones" {
	# Binary to binary re-encodes only what the rules changed.  Each rule
	# below changes messages in place at a different depth; its binary
	# output must say what its JSON output says.  The input is not
	# canonical: an LbEndpoint whose endpoint comes twice (merged), fields
	# out of order, an unknown field, then eg-cla appended (a merge too).
	/usr/bin/python3 - <<'PY' >odd.binpb
import sys
def v(n):
    b = b""
    while n >= 0x80:
        b += bytes([n & 0x7F | 0x80]); n >>= 7
    return b + bytes([n])
def f(num, payload): return v(num << 3 | 2) + v(len(payload)) + payload
ep1 = f(1, f(1, f(2, b"10.0.0.1")))
ep2 = f(1, f(1, v(3 << 3) + v(80))) + v(9 << 3) + v(1)  # port 80 and an unknown field 9
lbe = f(1, ep1) + f(1, ep2) + f(3, f(1, f(1, b"ns") + f(2, f(1, f(1, b"k") + f(2, v(3 << 3 | 2) + v(1) + b"v")))))
loc = f(2, lbe) + f(1, f(1, b"r"))
sys.stdout.buffer.write(f(2, loc) + f(1, b"c"))
PY
	cat a.binpb >>odd.binpb
	rules=(
		'set port = 9090' 'set address = "10.9.9.9"' 'del port' 'set weight = 7' 'set health = "DRAINING"'
		'set hostname = "h.example"' 'set metadata["aigateway.envoy.io"].x = "y"' 'set metadata["ns"].k = "w"'
		'del metadata["ns"].k' 'set metadata["envoy.transport_socket_match"].name = "z"'
		'set lb_endpoint.endpoint.health_check_config.port_value = 1' 'address == "10.0.0.1" { drop }'
		'set locality.weight = 3' 'set region = "x"' 'set cla.policy.overprovisioning_factor = 150'
		'region != "r" { set locality.metadata["envoy-gateway"].resources[0].name = "n" }'
		'del locality.metadata["envoy-gateway"].resources[0]' 'set cla.endpoints[0].lb_endpoints[0].endpoint.hostname = "d"'
		'set metadata["ns"] = {"a": [1, {"b": 2}]}' 'del metadata["ns"]' 'set cla.policy.endpoint_stale_after = 5'
		'set lb_endpoint.endpoint.address.socket_address.port_value = 1'
		'del lb_endpoint.endpoint.address.socket_address.address' 'set priority = 2'
	)
	for r in "${rules[@]}"; do
		edsmod --no-validate -e "$r" odd.binpb >out.binpb
		edsmod --no-validate -e "$r" --to json odd.binpb >want.json
		edsmod --to json out.binpb >got.json
		cmp want.json got.json || { echo "rule: $r"; diff want.json got.json; false; }
		cmp -s out.binpb odd.binpb && { echo "changed nothing: $r"; false; }
	done
	# --skip-errors puts failed endpoints back after a partial change
	edsmod --skip-errors -e 'exists(address) { set hostname = "p"; set port = locality.metadata["no"].x }' \
		odd.binpb 2>/dev/null | edsmod --to json >got.json
	edsmod --to json odd.binpb >want.json
	cmp want.json got.json
}

@test "an empty string copied from an unset field survives binary output" {
	printf 'endpoints { lb_endpoints { endpoint { address { socket_address { address: "10.0.0.1" port_value: 1 } } } } }' >u.txtpb
	edsmod --no-validate -e 'set metadata["m"].c = cluster' --to binary u.txtpb | edsmod --to json >got.json
	grep -q '"m":{"c":""}' got.json
}

@test "-o writes the file atomically; nothing on failure" {
	run -0 edsmod --to json -o out.json a.binpb
	assert_output ""
	edsmod --to json out.json | diff - <(edsmod --to json a.binpb)
	echo keep >out2.json
	printf 'cluster_name: 5\n' >bad.txtpb
	run -4 edsmod --to json -o out2.json bad.txtpb
	[ "$(cat out2.json)" = keep ]
	ls -a | grep -v '^\.edsmod\.' >/dev/null
	[ -z "$(ls -a | grep '^\.edsmod\.')" ]
}

@test "-i edits in place, keeps the format, the JSON layout and the file mode" {
	chmod 640 a.json
	edsmod --compact --to json a.binpb >c.json
	run -0 edsmod -i -e 'zone == "" { set weight = 7 }' a.json a.binpb a.txtpb c.json
	assert_output ""
	[ "$(stat -c %a a.json)" = 640 ]
	[ "$(wc -l <c.json)" = 1 ]
	[ "$(wc -l <a.json)" -gt 10 ]
	grep -q '"loadBalancingWeight": 7' a.json
	edsmod --to json a.binpb | grep -q '"loadBalancingWeight":7'
	grep -q 'value: 7' a.txtpb
}

@test "-i on binary files each larger than the one before: every file is edited whole" {
	local n rule='set hostname = "h-" + locality.region'
	for n in 100 2000 5000; do
		big_cla 2 "$n" | edsmod --to binary >"b$n.binpb"
		edsmod -e "$rule" --to binary "b$n.binpb" >"want$n.binpb"
	done
	run -0 edsmod -i -e "$rule" b100.binpb b2000.binpb b5000.binpb
	for n in 100 2000 5000; do
		cmp "want$n.binpb" "b$n.binpb"
		# and Envoy's protos read it (protoc --decode), every endpoint
		real_protoc --decode envoy.config.endpoint.v3.ClusterLoadAssignment \
			envoy/config/endpoint/v3/endpoint.proto <"b$n.binpb" >"b$n.txt"
		[ "$(grep -c 'hostname: "h-r[01]"' "b$n.txt")" = $((2 * n)) ]
	done
}

@test "-i: a failing file is left untouched, the others are edited, the failure is named" {
	printf 'cluster_name: "x"\nendpoints { priority: 1 }\n' >ok.txtpb
	printf 'cluster_name: "x"\nendpoints { priority: oops }\n' >bad.txtpb
	cp bad.txtpb bad.orig
	run -4 --separate-stderr edsmod -i -e 'set locality.priority = 0' ok.txtpb bad.txtpb
	assert_output ""
	[[ "$stderr" == *"bad.txtpb:2:"* ]]
	[[ "$stderr" == *"1 of 2 files failed"* ]]
	cmp bad.txtpb bad.orig
	! grep -q priority ok.txtpb
}

@test "-i: a rule error leaves the file untouched, byte for byte" {
	cp a.txtpb orig.txtpb
	run -6 edsmod -i -e 'set port = locality.metadata["envoy-gateway"].resources[0].name' a.txtpb
	cmp a.txtpb orig.txtpb
	[ -z "$(ls -a | grep '^\.edsmod\.')" ]
}

@test "-i: disk full (ulimit -f) leaves the original and no temporary file" {
	cp a.txtpb big.txtpb
	cp big.txtpb big.orig
	# The output (text with a stamp) is larger than 1 block: writing it fails.
	run bash -c "ulimit -f 1; trap '' XFSZ; '$EDSMOD' -i -e 'set metadata[\"x\"].y = \"$(printf 'z%.0s' $(seq 600))\"' big.txtpb"
	[ "$status" = 5 ]
	[[ "$output" == *"big.txtpb"* ]]
	cmp big.txtpb big.orig
	[ -z "$(ls -a | grep '^\.edsmod\.')" ]
}

@test "-i through a symlink edits the file it leads to and keeps the link; the owner stays" {
	mkdir real
	cp a.txtpb real/a.txtpb
	ln -s real/a.txtpb link.txtpb
	run -0 edsmod -i -e 'set weight = 7' link.txtpb
	[ -L link.txtpb ]
	[ "$(readlink link.txtpb)" = real/a.txtpb ]
	grep -q 'value: 7' real/a.txtpb
	[ -z "$(ls -a . real | grep '^\.edsmod\.')" ]
	# root edits a file someone else owns: it stays theirs
	if [ "$(id -u)" = 0 ]; then
		chown 65534:65534 real/a.txtpb
		run -0 edsmod -i -e 'set weight = 8' real/a.txtpb
		[ "$(stat -c %u:%g real/a.txtpb)" = 65534:65534 ]
	fi
}

@test "-o to a FIFO or a standard stream writes to it (never replaces it); -i refuses one before reading" {
	mkfifo fifo
	timeout 10 cat fifo >from-fifo &
	run -0 timeout 10 "$EDSMOD" --to json -o fifo a.binpb
	wait
	[ -p fifo ]
	edsmod --to json a.binpb | cmp - from-fifo
	# /dev/stdout as the shell opened it: appending, here
	echo first >log
	run -0 bash -c "'$EDSMOD' --to json --compact -o /dev/stdout a.binpb >>log"
	[ "$(head -1 log)" = first ]
	[ "$(sed -n 2p log)" = "$(edsmod --to json --compact a.binpb)" ]
	run -5 timeout 10 "$EDSMOD" -i a.txtpb fifo
	assert_output 'edsmod: error: cannot edit "fifo" in place: not a regular file'
	[ -p fifo ]
	run -5 edsmod -o . a.binpb
	assert_output 'edsmod: error: cannot write ".": it is a directory'
}

@test "-i refuses stdin and -o; -i without files is a usage error" {
	run -2 edsmod -i
	run -2 edsmod -i -
	run -2 edsmod -i -o x a.json
	run -2 edsmod --validate --no-validate a.json
}

@test "several inputs: a JSON stream, one value per input; binary or text refused" {
	run -0 edsmod --to json --compact a.binpb a.txtpb
	[ "${#lines[@]}" = 2 ]
	run -2 --separate-stderr edsmod a.binpb a.binpb
	assert_output ""
	[[ "$stderr" == *"would merge them"* ]]
	run -2 --separate-stderr edsmod --to text a.json a.json
	assert_output ""
}

@test "several inputs to stdout: one bad input means no output at all" {
	printf '{"clusterName": 1}' >bad.json
	run -4 --separate-stderr edsmod --to json a.json bad.json
	assert_output ""
	[[ "$stderr" == *"bad.json:1:"* ]]
}

@test "a plain conversion keeps an invalid CLA; --validate refuses it; rules' results are validated" {
	printf 'cluster_name: ""\nendpoints { priority: 200 }\n' >inv.txtpb
	run -0 edsmod --to json inv.txtpb
	run -7 --separate-stderr edsmod --validate --to json inv.txtpb
	assert_output ""
	[[ "$stderr" == *"inv.txtpb:2:"* ]]
	[[ "$stderr" == *"[priority-max]"* ]]
	run -7 --separate-stderr edsmod -e 'set address = "backend.internal"' a.txtpb
	assert_output ""
	[[ "$stderr" == *"[ip-literal]"* ]]
	[[ "$stderr" == *"nothing written"* ]]
	run -0 edsmod --no-validate -e 'set address = "backend.internal"' a.txtpb
	[[ "$output" == *'address: "backend.internal"'* ]]
}

# A large rewritten CLA is validated on a second thread while it is encoded
# (cmd/transform.c, PARALLEL_CHECK_MIN = 256 KiB): the verdict must be the same.
@test "a large CLA: the rules' result is validated while it is encoded; invalid means nothing written" {
	big_cla 1 12000 >big.json
	edsmod --to binary big.json >big.binpb
	[ "$(stat -c %s big.binpb)" -gt $((256 * 1024)) ]
	cp big.binpb big.orig
	bad='address == "10.0.46.17" { set address = "backend.internal" }'
	run -7 --separate-stderr edsmod -e "$bad" big.binpb
	assert_output ""
	[[ "$stderr" == *"[ip-literal] at big.binpb (endpoints[0].lb_endpoints[11793].endpoint.address.socket_address.address)"* ]]
	[[ "$stderr" == *"the result of the rules is not a valid ClusterLoadAssignment (1 error); nothing written"* ]]
	run -7 --separate-stderr edsmod -i -e "$bad" big.binpb
	cmp big.binpb big.orig
	# an encoding failure and an invalid result: the invalid result is reported
	run -7 --separate-stderr edsmod --max-output 1000 -e "$bad" big.binpb
	[[ "$stderr" == *"nothing written"* ]]
	# valid: the output is what --no-validate writes, in every format
	stamp='set metadata["aigateway.envoy.io"].upstream_host = address'
	for to in binary json text; do
		edsmod --no-validate --to $to -e "$stamp" big.binpb >want.$to
		run -0 --separate-stderr edsmod --to $to -e "$stamp" big.binpb -o got.$to
		[ -z "$stderr" ]
		cmp got.$to want.$to
	done
}

# A binary CLA of 1 MiB or more has its second half of localities decoded on
# a second thread (src/codec_bin.c, eds_bin_ahead_min): same tree, same first
# error.
@test "a large binary CLA decodes the same, and reports the same first error, from either half" {
	big_cla 2 24000 >big.json
	edsmod --to binary big.json >big.binpb
	[ "$(stat -c %s big.binpb)" -gt $((1024 * 1024)) ]
	edsmod --to json big.binpb >back.json
	edsmod --to binary back.json >back.binpb
	cmp back.binpb big.binpb
	run -0 edsmod --to text big.binpb
	[[ "$output" == *'region: "r1"'* ]]
	[[ "$output" == *'overprovisioning_factor'* ]]
	# bad UTF-8 in locality 1 (decoded ahead), then also in locality 0
	first_bad_utf8 10.1.80.7 "endpoints[1].lb_endpoints[20487]" 10.0.3.9 "endpoints[0].lb_endpoints[777]"
	head -c -1000 big.binpb >cut.binpb
	run -4 edsmod --to json cut.binpb
	[[ "$output" == *'field "endpoints" runs past the end of its message (truncated input?) at cut.binpb: byte '*' (endpoints[1])' ]]
}

# A text CLA of 1 MiB or more is parsed on two threads (src/codec_text.c,
# parsing ahead): the second from the first line past the middle that starts
# with lb_endpoints, through that locality's endpoints and the localities
# after it.  The same message, and any error as one thread reports it.
@test "a large text CLA: parsed on two threads, the same message; an error in either part as one thread finds it" {
	big_cla 3 8000 >big.json
	edsmod --to text big.json >big.txtpb
	[ "$(stat -c %s big.txtpb)" -gt $((2 << 20)) ]
	edsmod --to binary big.json >ref.binpb
	edsmod --to binary big.txtpb >got.binpb
	cmp ref.binpb got.binpb
	# Each case breaks one value: (name, locality, endpoint whose port
	# becomes a string, or -1: a bad field before the locality's "}").  The
	# middle falls in locality 1: endpoint 6000 is in what the second thread
	# parses first, locality 2 in what it parses after.
	/usr/bin/python3 - <<-'PY'
	t = open("big.txtpb").read()
	lines = t.split("\n")
	starts = [i for i, l in enumerate(lines) if l == "endpoints {"]
	def ep_line(loc, ep):
	    """The port_value line of endpoint ep of locality loc."""
	    i, n = starts[loc], -1
	    while True:
	        i += 1
	        if lines[i] == "  lb_endpoints {":
	            n += 1
	        if n == ep and lines[i].strip().startswith("port_value"):
	            return i
	cases = [("first", 0, 5000), ("middle", 1, 6000), ("after", 2, 10), ("close", 1, -1)]
	with open("cases", "w") as out:
	    for name, loc, ep in cases:
	        ls = list(lines)
	        if ep >= 0:
	            i = ep_line(loc, ep)
	            ls[i] = ls[i].replace("8080", '"x"')
	            col = ls[i].index('"x"') + 1
	            path = "endpoints[%d].lb_endpoints[%d].endpoint.address.socket_address.port_value" % (loc, ep)
	            what = 'expected integer for uint32 field "port_value", got string "x"'
	        else:
	            i = starts[loc + 1] - 1  # the locality's "}"
	            ls.insert(i, "  priority: x")
	            col = 13
	            path = "endpoints[%d].priority" % loc
	            what = 'expected integer for uint32 field "priority", got "x"'
	        open(name + ".txtpb", "w").write("\n".join(ls))
	        out.write("%s\tedsmod: error: %s at %s.txtpb:%d:%d (%s):\n" % (name, what, name, i + 1, col, path))
	PY
	local name want
	while IFS=$'\t' read -r name want; do
		run -4 edsmod --to binary "$name.txtpb"
		assert_line --index 0 "$want"
	done <cases
	[ "$(wc -l <cases)" = 4 ]
}

# Endpoint rules that write only their endpoint run the second half of the
# localities of a CLA of 20,000 endpoints or more on a second thread
# (src/rules.c, eds_rules_split_min): the same result, the first error first.
@test "a large CLA: endpoint rules on two threads give the same result and the first error" {
	big_cla 3 8000 >big.json
	edsmod --to binary big.json >big.binpb
	run -0 edsmod -f "$TOP/testdata/examples/aigateway.edsmod" \
		-e 'region == "r2" and address =~ "[.]7$" { drop }' \
		-e 'set metadata["t"].where = region + "/" + address' --to json --compact big.binpb
	printf '%s\n' "$output" >out.json
	/usr/bin/python3 - <<-'PY'
	import json
	c = json.load(open("out.json"))
	assert [l["locality"]["region"] for l in c["endpoints"]] == ["r0", "r1", "r2"]
	for l, loc in enumerate(c["endpoints"]):
	    want = [i for i in range(8000) if not (l == 2 and i % 256 == 7)]
	    got = loc["lbEndpoints"]
	    assert len(got) == len(want), (l, len(got), len(want))
	    for i, e in zip(want, got):
	        a = "10.%d.%d.%d" % (l, i // 256 % 256, i % 256)
	        assert e["endpoint"]["address"]["socketAddress"]["address"] == a, (l, i, e)
	        assert e["metadata"]["filterMetadata"]["t"] == {"where": "r%d/%s" % (l, a)}, (l, i, e)
	PY
	run -6 edsmod -e 'assert address != "10.2.30.1", "found"' big.binpb
	[[ "$output" == *"endpoints[2].lb_endpoints[7681] (10.2.30.1:8080)"*"found"* ]]
	run -6 edsmod -e 'assert address != "10.2.30.1" and address != "10.0.3.9", "found"' big.binpb
	[[ "$output" == *"endpoints[0].lb_endpoints[777] (10.0.3.9:8080)"* ]]
	[[ "$output" != *"endpoints[2]"* ]]
}

# The usual shape of a large Envoy Gateway cluster is one locality: the rules
# split inside it (src/rules.c, exec_split), and a set whose value is the
# same for the locality's endpoints gives those without metadata one shared
# Metadata, copied before any rule writes through it (src/expr_eval.c,
# unshare).  An error in the second thread's part names the endpoint's index
# after what the first part dropped.
@test "a large CLA of one locality: rules on two threads, shared metadata, the first error's index" {
	big_cla 1 24000 >big.json
	edsmod --to binary big.json >big.binpb
	run -0 --separate-stderr edsmod --to json --compact big.binpb \
		-e 'address =~ "[.]7$" { drop }' \
		-e 'address =~ "[.]1.$" { set metadata["lit"] = {"v": "x"} }' \
		-e 'set metadata["t"].where = region + "/" + cluster' \
		-e 'address =~ "[.]9$" { set metadata["t"].extra = address }' \
		-e 'address =~ "[.]3$" { del metadata["t"].where }' \
		-e 'address =~ "[.]5$" { set metadata["t"] = {"fresh": 1} }' \
		-e 'address =~ "[.]6$" { del metadata["t"] }' \
		-e 'address =~ "[.]9$" { set metadata["lit"].w = 1 }'
	printf '%s\n' "$output" >out.json
	/usr/bin/python3 - <<-'PY'
	import json
	c = json.load(open("out.json"))
	got = c["endpoints"][0]["lbEndpoints"]
	want = [i for i in range(24000) if i % 256 != 7]
	assert len(got) == len(want), (len(got), len(want))
	for i, e in zip(want, got):
	    a = "10.0.%d.%d" % (i // 256 % 256, i % 256)
	    assert e["endpoint"]["address"]["socketAddress"]["address"] == a, (i, e)
	    t = {"where": "r0/big"}
	    last = i % 256
	    if last == 9:
	        t["extra"] = a
	    elif last == 3:
	        t = {}
	    elif last == 5:
	        t = {"fresh": 1}
	    fm = e.get("metadata", {}).get("filterMetadata", {})
	    want = {} if last == 6 else {"t": t}
	    if 10 <= last <= 19:
	        want["lit"] = {"v": "x"}
	    if last == 9:
	        want["lit"] = dict(want.get("lit", {}), w=1)
	    assert fm == want, (i, e, want)
	PY
	# endpoint 15361 (10.0.60.1) is in the second thread's part; 60 dropped before it
	rule='address =~ "[.]7$" or address == "10.0.60.1" or address == "10.0.3.9" { assert address != "10.0.60.1" and address != "10.0.3.9", "found"; drop }'
	run -6 edsmod -e "${rule/ or address == \"10.0.3.9\"/}" big.binpb
	[[ "$output" == *"endpoints[0].lb_endpoints[15301] (10.0.60.1:8080)"*"found"* ]]
	# endpoint 777 (10.0.3.9) is in the first part: its error is the one reported
	run -6 edsmod -e "$rule" big.binpb
	[[ "$output" == *"endpoints[0].lb_endpoints[773] (10.0.3.9:8080)"* ]]
	[[ "$output" != *"15301"* ]]
}

# Decoding ahead starts inside the locality the middle falls in.
@test "a large binary CLA of one locality decodes the same, and reports the same first error, from either half" {
	big_cla 1 48000 >big.json
	edsmod --to binary big.json >big.binpb
	[ "$(stat -c %s big.binpb)" -gt $((1024 * 1024)) ]
	edsmod --to json big.binpb >back.json
	edsmod --to binary back.json >back.binpb
	cmp back.binpb big.binpb
	first_bad_utf8 10.0.150.7 "endpoints[0].lb_endpoints[38407]" 10.0.3.9 "endpoints[0].lb_endpoints[777]"
	# the last endpoint's length (5 tags before its address) past its locality's end
	/usr/bin/python3 - >offset <<-'PY'
	b = open("big.binpb", "rb").read()
	k = b.index(b"\x0c10.0.187.127\x18") - 9
	assert b[k] == 0x12
	cut = bytearray(b); cut[k + 1] = 0x7F; open("cut.binpb", "wb").write(cut)
	print(k)
	PY
	run -4 edsmod --to json cut.binpb
	assert_output "edsmod: error: field \"lb_endpoints\" runs past the end of its message (truncated input?) at cut.binpb: byte $(cat offset) (endpoints[0].lb_endpoints[47999])"
}

# The two parts of the validation run on two threads (cmd/transform.c): the
# errors come in the order one thread gives, every message's own fields first.
@test "a large CLA: errors from both parts of the validation, in order" {
	big_cla 1 12000 >big.json
	edsmod --to binary big.json >big.binpb
	[ "$(stat -c %s big.binpb)" -gt $((256 * 1024)) ]
	rules=(-e 'address == "10.0.1.1" { set address = "backend.internal" }'
	       -e 'address == "10.0.46.17" { set metadata[""].k = 1 }')
	run -7 --separate-stderr edsmod "${rules[@]}" big.binpb
	assert_output ""
	mapfile -t lines <<<"$stderr"
	[ "${#lines[@]}" = 3 ]
	[[ "${lines[0]}" == *"[map-key-empty] at big.binpb (endpoints[0].lb_endpoints[11793].metadata.filter_metadata[\"\"])" ]]
	[[ "${lines[1]}" == *"[ip-literal] at big.binpb (endpoints[0].lb_endpoints[257].endpoint.address.socket_address.address)" ]]
	[[ "${lines[2]}" == *"not a valid ClusterLoadAssignment (2 errors); nothing written"* ]]
	# the same order as the check command's, which runs them one after the other
	edsmod --no-validate "${rules[@]}" big.binpb >bad.binpb
	run -1 edsmod check bad.binpb
	[[ "$output" == *"[map-key-empty]"*"[ip-literal]"* ]]
}

# A file of 1 MiB or more is mapped (cmd/cli.c): strace holds edsmod just
# after the mapping while the file is cut short under it.
@test "a large input file shortened while mapped: exit 5, the file named, nothing written" {
	command -v strace >/dev/null || fail "strace is missing (scripts/deps installs it)"
	big_cla 1 20000 >big.json
	[ "$(stat -c %s big.json)" -gt $((1024 * 1024)) ]
	for mode in stdout in-place; do
		cp big.json cut.json
		args=(--to binary cut.json)
		[ $mode = in-place ] && args=(-i -e 'set hostname = "h"' cut.json)
		strace -f -qq -o /dev/null -P cut.json -e trace=mmap -e inject=mmap:delay_exit=1500000 \
			"$EDSMOD" "${args[@]}" >out 2>err &
		sleep 0.5
		truncate -s 1000 cut.json
		wait $! && fail "edsmod succeeded on a file cut short ($mode)"
		[ $? = 5 ] || fail "exit status $? ($mode)"
		grep -qF 'edsmod: error: cannot read "cut.json": it shrank while being read' err
		[ ! -s out ]
		[ "$(stat -c %s cut.json)" = 1000 ]
		[ -z "$(ls -A | grep -v -e '^big.json$' -e '^cut.json$' -e '^out$' -e '^err$' -e '^a\.')" ]
	done
}

@test "diagnostics go to stderr only; stdout carries only results" {
	run --separate-stderr edsmod --to json a.binpb
	[ -z "$stderr" ]
	run --separate-stderr edsmod --to json nope.json
	[ "$status" = 5 ]
	assert_output ""
	[[ "$stderr" == *'cannot open "nope.json"'* ]]
}

@test "--version and unknown options" {
	run -0 edsmod --version
	[[ "$output" == "edsmod "* ]]
	run -2 edsmod --bogus a.json
	run -2 edsmod --to xml a.json
	run -2 edsmod --max-depth 0 a.json
	run -2 edsmod --max-input lots a.json
}

@test "-i killed at any moment (SIGKILL): the file is the original or the complete result, never partial" {
	/usr/bin/python3 - <<'PY' >big.txtpb
print('cluster_name: "big"')
for i in range(20000):
    print('endpoints { locality { zone: "z%d" } lb_endpoints { endpoint { address { socket_address { address: "10.%d.%d.%d" port_value: 8080 } } } } }' % (i % 7, i // 65536, (i // 256) % 256, i % 256))
PY
	cp big.txtpb big.orig
	edsmod -e 'set weight = 3' big.txtpb >big.want
	for delay in 0.01 0.03 0.06 0.1 0.15 0.2; do
		cp big.orig big.txtpb
		"$EDSMOD" -i -e 'set weight = 3' big.txtpb &
		local pid=$!
		sleep "$delay"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		cmp -s big.txtpb big.orig || cmp -s big.txtpb big.want || {
			echo "partial file after kill at ${delay}s"
			return 1
		}
		rm -f .edsmod.*   # a killed process cannot remove its temporary file
	done
}
