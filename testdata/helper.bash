# Shared by every testdata/*.bats file.
bats_require_minimum_version 1.5.0
#
# Golden cases are directories of plain files (see examples-to-follow):
#   args      one argument per line, run in the case directory; $IN is the
#             input file's name, $DIR the case directory, $TMP a scratch directory
#   in.*      the input (in.binpb, in.json, in.txtpb)
#   out       expected stdout, byte for byte (optional: absent means empty)
#   stderr    expected stderr, byte for byte (optional: absent means empty)
#   status    expected exit status (optional: absent means 0)
# EDSMOD_UPDATE_GOLDEN=1 rewrites out/stderr/status from the actual run.

TOP="${EDSMOD_TOP:-$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)}"
EDSMOD_BUILD="${EDSMOD_BUILD:-$TOP/build}"
EDSMOD="$EDSMOD_BUILD/edsmod"
export TOP EDSMOD_BUILD EDSMOD

bats_load_library bats-support 2>/dev/null || load /usr/lib/bats/bats-support/load
bats_load_library bats-assert 2>/dev/null || load /usr/lib/bats/bats-assert/load

# edsmod under valgrind when EDSMOD_VALGRIND=1 (errors and leaks fatal).
edsmod() {
	if [ "${EDSMOD_VALGRIND:-0}" = 1 ]; then
		valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
			"$EDSMOD" "$@"
	else
		"$EDSMOD" "$@"
	fi
}

# Run one golden case directory.
edsmod_case() {
	local dir=$1 in="" a args=()
	for f in "$dir"/in.*; do [ -e "$f" ] && in=${f##*/}; done
	local tmp
	tmp=$(mktemp -d "$BATS_TEST_TMPDIR/case.XXXXXX")
	while IFS= read -r a || [ -n "$a" ]; do
		a=${a//\$IN/$in}
		a=${a//\$DIR/$dir}
		a=${a//\$TMP/$tmp}
		args+=("$a")
	done <"$dir/args"
	local want_status=0
	[ -f "$dir/status" ] && want_status=$(cat "$dir/status")
	local status=0
	(cd "$dir" && edsmod "${args[@]}") >"$tmp/stdout" 2>"$tmp/stderr" || status=$?
	# Paths in messages are shown relative to the case directory.
	if [ "${EDSMOD_UPDATE_GOLDEN:-0}" = 1 ]; then
		if [ -s "$tmp/stdout" ]; then cp "$tmp/stdout" "$dir/out"; else rm -f "$dir/out"; fi
		if [ -s "$tmp/stderr" ]; then cp "$tmp/stderr" "$dir/stderr"; else rm -f "$dir/stderr"; fi
		if [ "$status" != 0 ]; then echo "$status" >"$dir/status"; else rm -f "$dir/status"; fi
		return 0
	fi
	local ok=0
	diff -u "${dir}/out" "$tmp/stdout" 2>/dev/null || { [ ! -f "$dir/out" ] && [ ! -s "$tmp/stdout" ]; } || { [ -f "$dir/out" ] || cat "$tmp/stdout"; ok=1; }
	diff -u "${dir}/stderr" "$tmp/stderr" 2>/dev/null || { [ ! -f "$dir/stderr" ] && [ ! -s "$tmp/stderr" ]; } || { [ -f "$dir/stderr" ] || { echo "unexpected stderr:"; cat "$tmp/stderr"; }; ok=1; }
	if [ "$status" != "$want_status" ]; then
		echo "exit status $status, expected $want_status"
		ok=1
	fi
	return $ok
}


# Envoy's real protos (npm @grpc/grpc-js-xds deps/), fetched at test time.
envoy_protos() {
	"$TOP/scripts/fetch-envoy-protos"
}
# protoc with Envoy's real protos on the include path.
real_protoc() {
	local c
	c=$(envoy_protos) || return 1
	protoc -I"$c/envoy-api" -I"$c/xds" -I"$c/googleapis" -I"$c/protoc-gen-validate" "$@"
}

# Shared by the tests that start edsmod serve (SERVER_PID, LOG).
# wait_log PATTERN: bounded wait for a server log line.
wait_log() {
	local i
	for i in $(seq 100); do
		grep -q -- "$1" "$LOG" && return 0
		sleep 0.05
	done
	echo "no \"$1\" in the server log:"
	cat "$LOG"
	return 1
}

# Stop the server the way Kubernetes does (SIGTERM, then SIGKILL after a
# bounded wait) and fail on sanitizer or valgrind reports in its log, so an
# ASan build (EDSMOD_BUILD=build/san) or EDSMOD_VALGRIND=1 checks every test.
stop_server() {
	[ -n "${SERVER_PID:-}" ] || return 0
	local i rc=0 pid=$SERVER_PID
	SERVER_PID=
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 400); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || rc=$?
	if [ "$rc" != 0 ] || grep -q 'Sanitizer\|runtime error:\|^==[0-9]*==' "$LOG"; then
		echo "server exited with status $rc:"
		cat "$LOG"
		return 1
	fi
}

# big_cla LOCALITIES PER: a JSON CLA with localities r0, r1, ... of PER
# endpoints each, endpoint i of locality l at 10.l.(i / 256).(i % 256):8080.
big_cla() {
	awk -v nl="$1" -v per="$2" 'BEGIN {
		printf "{\"clusterName\": \"big\", \"endpoints\": [";
		for (l = 0; l < nl; l++) {
			printf "%s{\"locality\": {\"region\": \"r%d\"}, \"lbEndpoints\": [", l ? "," : "", l;
			for (i = 0; i < per; i++)
				printf "%s{\"endpoint\": {\"address\": {\"socketAddress\": {\"address\": \"10.%d.%d.%d\", \"portValue\": 8080}}}}",
					i ? "," : "", l, int(i / 256) % 256, i % 256;
			printf "]}" }
		printf "], \"policy\": {\"overprovisioningFactor\": 140}}\n" }'
}
