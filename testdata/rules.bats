#!/usr/bin/env bats
# The rules' golden cases (testdata/rules/<case>/) run as generic golden
# tests; here their job outputs are verified by an independent
# implementation: python3-protobuf on Envoy's real protos.
load helper

@test "the five jobs' golden outputs match python3-protobuf doing the same job" {
	run /usr/bin/python3 "$TOP/testdata/rules/verify-jobs.py"
	assert_success
}

@test "verify-jobs notices a wrong golden output" {
	cp -R "$TOP/testdata/rules" "$BATS_TEST_TMPDIR/rules"
	sed -i 's/DRAINING/HEALTHY/' "$BATS_TEST_TMPDIR/rules/job3-drain-zone/out"
	run /usr/bin/python3 "$BATS_TEST_TMPDIR/rules/verify-jobs.py"
	assert_failure
}

@test "a set nesting deeper than --max-depth is refused (path: compiling; copied message: running); all else reads back" {
	run /usr/bin/python3 "$TOP/testdata/rules/depth.py" "$EDSMOD" "$TOP/testdata/examples/eg-cla.txtpb"
	assert_success
	# at the default of 100 (levels below the CLA, as protobuf counts): 32
	# Struct keys under an endpoint's metadata reach 100 and python3-protobuf
	# (Envoy's real protos) reads the CLA; 33 would reach 103
	local k32 k33
	k32='set metadata["x"]'$(printf '.k%d' $(seq 32))' = 1'
	k33='set metadata["x"]'$(printf '.k%d' $(seq 33))' = 1'
	edsmod --to binary -e "$k32" "$TOP/testdata/examples/eg-cla.txtpb" >"$BATS_TEST_TMPDIR/k32.binpb"
	run /usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import conform
conform.py_classes(sys.argv[2])
m = conform.cla_class()(); m.ParseFromString(open(sys.argv[3], "rb").read())
v = m.endpoints[0].lb_endpoints[0].metadata.filter_metadata["x"]
for i in range(1, 33): v = v.fields["k%d" % i] if i == 1 else v.struct_value.fields["k%d" % i]
print(v.number_value)' "$TOP/testdata/conformance" "$(envoy_protos)" "$BATS_TEST_TMPDIR/k32.binpb"
	assert_success
	assert_output "1.0"
	run -9 --separate-stderr edsmod --to binary -e "$k33" "$TOP/testdata/examples/eg-cla.txtpb"
	[ -z "$output" ]
	[[ "$stderr" == *"this path nests messages 103 levels below the CLA, more than the limit of 100 (--max-depth) at -e #1:1:5:"* ]]
}
