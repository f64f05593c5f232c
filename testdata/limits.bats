#!/usr/bin/env bats
# Limits: hostile nesting and sizes end with a clear message, a documented
# exit status (9) and no output, in all three formats.
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

@test "--max-input on stdin: limit error, no output" {
	run -9 --separate-stderr bash -c "'$EDSMOD' --max-input 100 < '$TOP/testdata/examples/eg-cla.binpb'"
	assert_output ""
	[[ "$stderr" == *"limit"* ]]
}
