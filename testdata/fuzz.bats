#!/usr/bin/env bats
# Fuzzing (scripts/fuzz, testdata/fuzz/): every saved crash still passes,
# and a short fuzz run of each target finds nothing.  FUZZ_SECONDS_CI sets
# the length of each short run (default 5 s; `make fuzz` runs 60 s each).
load helper

setup_file() {
	command -v clang >/dev/null || skip "clang is not installed (scripts/deps fuzz)"
	# Build once here, so that each test's time is its own.
	"$TOP/scripts/fuzz" --build >"$BATS_FILE_TMPDIR/build.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/build.log" >&3
		return 1
	}
}

@test "fuzz: every regression input passes every target" {
	run "$TOP/scripts/fuzz" --regress
	echo "$output"
	assert_success
	refute_output --partial "not ok"
	# the saved crashes are really run, not skipped
	for t in bin yaml containers diff; do
		assert_output --regexp "ok fuzz regressions $t \([1-9][0-9]* inputs\)"
	done
}

short_run() {
	FUZZ_SECONDS=${FUZZ_SECONDS_CI:-5} run "$TOP/scripts/fuzz" "$1"
	echo "$output"
	assert_success
	assert_output --regexp "^ok fuzz $1: [1-9][0-9]* executions"
}

@test "fuzz: short run of the binary decoder" { short_run bin; }
@test "fuzz: short run of the JSON decoder" { short_run json; }
@test "fuzz: short run of the text decoder" { short_run text; }
@test "fuzz: short run of the YAML decoder" { short_run yaml; }
@test "fuzz: short run of the rules compiler" { short_run rules; }
@test "fuzz: short run of rule evaluation" { short_run eval; }
@test "fuzz: short run of the serve handler" { short_run serve; }
@test "fuzz: short run of the container walker" { short_run containers; }
@test "fuzz: short run of diff" { short_run diff; }
