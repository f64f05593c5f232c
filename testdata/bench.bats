# scripts/bench (make bench): a smoke run proving the harness works and that
# it catches a tool whose output is wrong.  The real run is `make bench`.
load helper.bash

@test "bench --only-check runs every job once and verifies edsmod's outputs" {
	run env BENCH_QUICK=1 EDSMOD="$EDSMOD" "$TOP/scripts/bench" --only-check
	assert_success
	# edsmod's own part ran and was verified, whatever comparators are missing.
	local job
	for job in "1 stamp bin→bin" "2 bin→json" "2 json→bin" "3 bin→text" "3 text→bin" "5 rules"; do
		assert_line --regexp "^\| $job +\| 1,000 +\| edsmod[^|]* +\| [0-9]+\.[0-9]{4} +\| [0-9]+\.[0-9] +\| [0-9]+\.[0-9]{4} "
	done
	# wall time, peak memory and CPU time (user + system, every process)
	assert_line --regexp "^\| job +\| endpoints +\| tool +\| median s +\| peak MB +\| CPU s +\| ratio +\| target met +\|$"
	assert_line --regexp "^\| 4 check +\| 1,000 +\| edsmod check +\| [0-9]+\.[0-9]{4} "
	assert_line --regexp "^\| 5 rules +\| 1,000 +\| edsmod, 10,000 rules +\| [0-9]+\.[0-9]{4} "
	assert_line --regexp "^only-check: every tool ran once; [0-9]+ outputs verified, 0 wrong$"
	refute_output --partial "WRONG"
	# Each comparator is measured or reported missing, never dropped.
	local tool
	for tool in "python3-protobuf" "buf | jq | buf" "buf convert" "protoc --decode" "protoc --encode"; do
		assert_line --regexp "^\| [^|]+\| 1,000 +\| $(printf '%s' "$tool" | sed 's/[|]/\\|/g') +\| ([0-9]+\.[0-9]{4}|missing) "
	done
}

@test "bench rejects a tool whose output decodes to a different message" {
	# An "edsmod" that copies its input: the stamp is missing from its output.
	local fake="$BATS_TEST_TMPDIR/edsmod"
	printf '#!/bin/sh\nfor a; do last=$a; done\nexec cat "$last"\n' >"$fake"
	chmod +x "$fake"
	run env BENCH_QUICK=1 EDSMOD="$fake" "$TOP/scripts/bench" --only-check --jobs 1
	assert_failure 1
	assert_line --regexp "^\| 1 stamp bin→bin +\| 10 +\| edsmod +\| WRONG +\|"
	assert_output --partial "decodes to a different message"
	# The comparators, measured against the same reference, still pass.
	assert_line --regexp "^\| 1 stamp bin→bin +\| 10 +\| python3-protobuf +\| [0-9]+\.[0-9]{4} "
}

@test "bench: scaling re-times each edsmod run at the two largest sizes, in alternation" {
	run env BENCH_QUICK=1 EDSMOD="$EDSMOD" "$TOP/scripts/bench" --jobs 4
	assert_success
	assert_line --regexp "^bench: 6 scaling check +edsmod check +[0-9]+\.[0-9]{4} s → +[0-9]+\.[0-9]{4} s$"
	assert_line --regexp "^\| 6 scaling check +\| 10→10,000 +\| edsmod check +\| [0-9]+\.[0-9]{4} +\| [0-9.]+ +\| [0-9.]+ +\| [0-9]+\.[0-9] +\| (yes|no) +\|$"
	assert_line --regexp "^  (met|MISSED) scaling check \(edsmod check\): 1000x endpoints <= 1200x time: [0-9.]+x$"
}

@test "bench: each timed run of a compared row is followed by a run of the edsmod row it is divided by" {
	run env BENCH_QUICK=1 EDSMOD="$EDSMOD" "$TOP/scripts/bench" --jobs 5 --reps 2
	assert_success
	# 2 runs of its own, then one after each of the 10,000-rule row's 2
	assert_line --regexp "^bench: 5 rules +10  edsmod, 1 rule +[0-9]+\.[0-9]{4} s \(4 runs, 2 of them alongside edsmod, 10,000 rules\)$"
	assert_line --regexp "^\| 5 rules +\| 10 +\| edsmod, 10,000 rules +\| [0-9]+\.[0-9]{4} "
}
