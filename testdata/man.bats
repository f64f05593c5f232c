#!/usr/bin/env bats
# man/edsmod.1 is the single source of CLI truth: its options match the code,
# and its EXAMPLES run (scripts/man-examples).
load helper

@test "every option in cmd/ is in man/edsmod.1 and vice versa" {
	run "$TOP/scripts/check-man"
	assert_success
	assert_output --partial "code and page agree"
}

@test "check-man notices an undocumented option" {
	sed 's/Fl -strict/Fl -strikt/g' "$TOP/man/edsmod.1" >"$BATS_TEST_TMPDIR/page.1"
	run "$TOP/scripts/check-man" "$BATS_TEST_TMPDIR/page.1"
	assert_failure
	assert_output --partial "option --strict is accepted by cmd/ but not documented"
	assert_output --partial "option --strikt is documented"
}

@test "--help is a short summary that points to the man page" {
	run "$EDSMOD" --help
	assert_success
	assert_output --partial "usage: edsmod"
	assert_output --partial "edsmod(1)"
}

@test "the man page renders without warnings" {
	run bash -c "MANWIDTH=80 man --warnings -l '$TOP/man/edsmod.1' 2>&1 >/dev/null"
	assert_success
	assert_output ""
}

@test "every EXAMPLES command of the man page runs; job examples print their golden output" {
	cp -R "$TOP/testdata" "$BATS_TEST_TMPDIR/testdata"
	cd "$BATS_TEST_TMPDIR"
	export PATH="$EDSMOD_BUILD:$PATH"
	local n=0 cmd last
	while IFS= read -r cmd; do
		n=$((n + 1))
		run --separate-stderr bash -c "$cmd"
		if [ "$status" != 0 ]; then
			echo "example failed (exit $status): $cmd"
			echo "$stderr"
			return 1
		fi
		last=${cmd##* }
		case "$cmd" in
		*" -i "*) # in place: the file now holds what the golden case prints
			diff -u "$TOP/${last%/in.txtpb}/out" "$last" ;;
		*testdata/rules/job*/in.txtpb)
			diff -u "$TOP/${last%/in.txtpb}/out" <(printf '%s\n' "$output") ;;
		esac
	done < <("$TOP/scripts/man-examples")
	[ "$n" -ge 10 ]
}

@test "make install puts edsmod, edsmod-serve (libexec) and the man page in place; serve is found" {
	run make -s -C "$TOP" install B="$(realpath --relative-to="$TOP" "$EDSMOD_BUILD")" DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
	assert_success
	[ -x "$BATS_TEST_TMPDIR/root/usr/bin/edsmod" ]
	[ -x "$BATS_TEST_TMPDIR/root/usr/libexec/edsmod/edsmod-serve" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/man/man1/edsmod.1" ]
	run "$BATS_TEST_TMPDIR/root/usr/bin/edsmod" serve --help
	assert_success
	assert_output --partial "usage: edsmod serve"
}
