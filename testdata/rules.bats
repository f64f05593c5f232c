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
