#!/usr/bin/env bats
# Conformance against independent implementations (issue 2, item 7): protoc
# 3.21 with Envoy's REAL protos (real_protoc) and python3-protobuf 4.21
# (json_format, text_format).  The corpus is testdata/corpus/*.txtpb plus
# fixtures testdata/conformance/conform.py generates at test time: "large"
# (a few hundred endpoints, text), "random-1".."random-12" (random contents
# from the real descriptors, text) and, binary only, "unknown" (unknown
# fields), "noncanonical" (legal encodings protoc never writes) and
# "dupkeys" (repeated map keys).
# The reference message of each fixture is what real protoc --encode makes
# of it.  Each test loops over the corpus and reports every fixture that
# fails, with the difference.

load helper

CLA=envoy.config.endpoint.v3.ClusterLoadAssignment
ROOT_PROTO=envoy/config/endpoint/v3/endpoint.proto
PY=/usr/bin/python3

setup_file() {
	export CONFORM="$TOP/testdata/conformance/conform.py"
	export W="$BATS_FILE_TMPDIR/w"
	PROTOS=$(envoy_protos)
	export PROTOS
	rm -rf "$W"
	mkdir -p "$W"
	"$PY" "$CONFORM" gen "$PROTOS" "$W"
	local f n names=""
	for f in "$TOP"/testdata/corpus/*.txtpb "$W/large.txtpb" "$W"/random-*.txtpb; do
		n=$(basename "$f" .txtpb)
		mkdir -p "$W/$n"
		cp "$f" "$W/$n/in.txtpb"
		real_protoc --encode=$CLA $ROOT_PROTO <"$f" >"$W/$n/ref.binpb" 2>"$W/$n/ref.err" || {
			echo "real protoc --encode rejects fixture $n:" >&2
			cat "$W/$n/ref.err" >&2
			return 1
		}
		real_protoc --decode=$CLA $ROOT_PROTO <"$W/$n/ref.binpb" >"$W/$n/ref.txt"
		names="$names $n"
	done
	echo "$names" >"$W/fixtures"
	"$PY" "$CONFORM" refs "$PROTOS" "$W"/*/
}

setup() {
	[ -x "$EDSMOD" ] || fail "$EDSMOD is not built"
	read -r -a FIXTURES <"$W/fixtures"
	[ "${#FIXTURES[@]}" -ge 10 ] || fail "corpus too small: ${FIXTURES[*]}"
}

# Run edsmod ARGS... >OUT; on failure report it for fixture NAME.
# Usage: conv NAME OUT ARGS...
conv() {
	local name=$1 out=$2
	shift 2
	local rc=0
	edsmod "$@" >"$out" 2>"$out.err" || rc=$?
	if [ "$rc" != 0 ]; then
		echo "$name: edsmod $* failed (exit $rc):"
		sed 's/^/    /' "$out.err"
		return 1
	fi
}

# Compare messages with python (canonical text, unified diff on mismatch).
# Arguments come in threes: LABEL REF.binpb bin:FILE|json:FILE
same() {
	[ $# -gt 0 ] || return 0
	"$PY" "$CONFORM" same "$PROTOS" "$@"
}

@test "corpus uses every field of the CLA closure (real descriptors), every enum value and edge case" {
	"$PY" "$CONFORM" coverage "$PROTOS" "$W"/*/ref.binpb
}

@test "text -> binary: byte-identical to protoc --encode (and protoc --decode of both the same)" {
	local n d bad=0
	for n in "${FIXTURES[@]}"; do
		d=$W/$n
		conv "$n" "$d/t2b.binpb" --from text --to binary "$d/in.txtpb" || { bad=1; continue; }
		if ! real_protoc --decode=$CLA $ROOT_PROTO <"$d/t2b.binpb" >"$d/t2b.txt" 2>"$d/t2b.txt.err"; then
			echo "$n: real protoc --decode rejects our binary:"
			cat "$d/t2b.txt.err"
			bad=1
			continue
		fi
		diff -u --label "$n: protoc --encode (reference)" --label "$n: edsmod --from text --to binary" \
			"$d/ref.txt" "$d/t2b.txt" || bad=1
		cmp -s "$d/ref.binpb" "$d/t2b.binpb" || {
			echo "$n: edsmod --from text --to binary is not byte-identical to protoc --encode:"
			cmp "$d/ref.binpb" "$d/t2b.binpb" || true
			bad=1
		}
	done
	[ "$bad" = 0 ]
}

@test "binary -> text: byte-identical to protoc --decode (no Any); protoc --encode accepts it (all)" {
	local n d bad=0 cmp=()
	for n in "${FIXTURES[@]}"; do
		d=$W/$n
		conv "$n" "$d/b2t.txtpb" --from binary --to text "$d/ref.binpb" || { bad=1; continue; }
		if [ ! -e "$d/has-any" ]; then
			diff -u --label "$n: protoc --decode" --label "$n: edsmod --from binary --to text" \
				"$d/ref.txt" "$d/b2t.txtpb" || bad=1
		fi
		if ! real_protoc --encode=$CLA $ROOT_PROTO <"$d/b2t.txtpb" >"$d/b2t2b.binpb" 2>"$d/b2t2b.err"; then
			echo "$n: real protoc --encode rejects our text:"
			cat "$d/b2t2b.err"
			bad=1
			continue
		fi
		cmp+=("$n: protoc --encode of edsmod's text" "$d/ref.binpb" "bin:$d/b2t2b.binpb")
	done
	same "${cmp[@]}" || bad=1
	[ "$bad" = 0 ]
}

@test "binary -> JSON parses with python json_format; python's JSON (camel and proto names) decodes to the reference" {
	local n d bad=0 cmp=() lines
	for n in "${FIXTURES[@]}"; do
		d=$W/$n
		if conv "$n" "$d/c.json" --from binary --to json --compact "$d/ref.binpb"; then
			lines=$(wc -l <"$d/c.json")
			if [ "$lines" != 1 ] || [ -n "$(tail -c1 "$d/c.json")" ]; then
				echo "$n: --compact output is not exactly one line ($lines newlines)"
				bad=1
			fi
			cmp+=("$n: edsmod --to json --compact" "$d/ref.binpb" "json:$d/c.json")
		else
			bad=1
		fi
		if conv "$n" "$d/p.json" --from binary --to json --pretty "$d/ref.binpb"; then
			cmp+=("$n: edsmod --to json --pretty" "$d/ref.binpb" "json:$d/p.json")
		else
			bad=1
		fi
		if conv "$n" "$d/n.json" --from binary --to json --proto-names "$d/ref.binpb"; then
			cmp+=("$n: edsmod --to json --proto-names" "$d/ref.binpb" "json:$d/n.json")
		else
			bad=1
		fi
		if conv "$n" "$d/pyc.binpb" --from json --to binary "$d/py-camel.json"; then
			cmp+=("$n: edsmod --from json of python MessageToJson" "$d/ref.binpb" "bin:$d/pyc.binpb")
		else
			bad=1
		fi
		if conv "$n" "$d/pyp.binpb" --from json --to binary "$d/py-proto.json"; then
			cmp+=("$n: edsmod --from json of python MessageToJson(preserving_proto_field_name)" \
				"$d/ref.binpb" "bin:$d/pyp.binpb")
		else
			bad=1
		fi
	done
	same "${cmp[@]}" || bad=1
	[ "$bad" = 0 ]
}

@test "JSON Timestamp (in an Any): read as python json_format reads it, as strictly as protobuf C++ and Go; one out of range is not printed" {
	run "$PY" "$CONFORM" timestamps "$PROTOS" "$EDSMOD"
	echo "$output"
	[ "$status" -eq 0 ]
	# seconds one past 9999-12-31T23:59:59Z: python refuses to print it too
	local t='cluster_name: "x" endpoints { lb_endpoints { endpoint_name: "e" metadata { typed_filter_metadata {
	  key: "k" value { [type.googleapis.com/google.protobuf.Timestamp] { seconds: 253402300800 } } } } } }'
	real_protoc --encode=$CLA $ROOT_PROTO <<<"$t" >"$BATS_TEST_TMPDIR/late.binpb"
	run "$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import conform
conform.py_classes(sys.argv[2])
from google.protobuf import json_format
m = conform.cla_class()(); m.ParseFromString(open(sys.argv[3], "rb").read())
try:
    json_format.MessageToJson(m)
except Exception as e:  # 4.21: OverflowError
    sys.exit("refused: %s: %s" % (type(e).__name__, e))' "$(dirname "$CONFORM")" "$PROTOS" "$BATS_TEST_TMPDIR/late.binpb"
	[ "$status" -eq 1 ]
	[[ "$output" == "refused: "* ]]
	run --separate-stderr edsmod --to json "$BATS_TEST_TMPDIR/late.binpb"
	[ "$status" -eq 8 ]
	[ -z "$output" ]
	[[ "$stderr" == *'google.protobuf.Timestamp {seconds: 253402300800, nanos: 0} is out of range'* ]]
	[[ "$stderr" == *'(endpoints[0].lb_endpoints[0].metadata.typed_filter_metadata["k"].value)'* ]]
}

@test "python text_format output (expanded Any) decodes with edsmod --from text to the reference" {
	local n d bad=0 cmp=()
	for n in "${FIXTURES[@]}"; do
		d=$W/$n
		if conv "$n" "$d/pyt.binpb" --from text --to binary "$d/py.txtpb"; then
			cmp+=("$n: edsmod --from text of python text_format" "$d/ref.binpb" "bin:$d/pyt.binpb")
		else
			bad=1
		fi
	done
	same "${cmp[@]}" || bad=1
	[ "$bad" = 0 ]
}

@test "round trips binary -> json, yaml or text -> binary and binary -> binary give protoc's bytes back" {
	local n d f bad=0 cmp=()
	for n in "${FIXTURES[@]}"; do
		d=$W/$n
		if conv "$n" "$d/rt.json" --from binary --to json "$d/ref.binpb" &&
			conv "$n" "$d/rtj.binpb" --from json --to binary "$d/rt.json"; then
			cmp+=("$n: binary -> json -> binary" "$d/ref.binpb" "bin:$d/rtj.binpb")
		else
			bad=1
		fi
		if conv "$n" "$d/rt.txtpb" --from binary --to text "$d/ref.binpb" &&
			conv "$n" "$d/rtt.binpb" --from text --to binary "$d/rt.txtpb"; then
			cmp+=("$n: binary -> text -> binary" "$d/ref.binpb" "bin:$d/rtt.binpb")
		else
			bad=1
		fi
		if conv "$n" "$d/rt.yaml" --from binary --to yaml --proto-names "$d/ref.binpb" &&
			conv "$n" "$d/rty.binpb" --from yaml --to binary "$d/rt.yaml"; then
			cmp+=("$n: binary -> yaml -> binary" "$d/ref.binpb" "bin:$d/rty.binpb")
		else
			bad=1
		fi
		if conv "$n" "$d/rtb.binpb" --from binary --to binary "$d/ref.binpb"; then
			cmp+=("$n: binary -> binary" "$d/ref.binpb" "bin:$d/rtb.binpb")
		else
			bad=1
		fi
		# Bytes: JSON, YAML and binary keep the order of everything, so
		# they give protoc's encoding back; text sorts map entries by key,
		# as protoc --decode does, so it gives what protoc's own text round
		# trip gives (without an Any, which protoc prints as bytes).
		real_protoc --encode=$CLA $ROOT_PROTO <"$d/ref.txt" >"$d/ref-rt.binpb"
		for f in rtj:ref rty:ref rtb:ref rtt:ref-rt; do
			[ -e "$d/${f%%:*}.binpb" ] || continue
			[ "$f" != rtt:ref-rt ] || [ ! -e "$d/has-any" ] || continue
			cmp -s "$d/${f#*:}.binpb" "$d/${f%%:*}.binpb" && continue
			echo "$n: ${f%%:*}.binpb is not byte-identical to ${f#*:}.binpb (protoc's):"
			cmp "$d/${f#*:}.binpb" "$d/${f%%:*}.binpb" || true
			bad=1
		done
	done
	same "${cmp[@]}" || bad=1
	[ "$bad" = 0 ]
}

@test "unknown fields (top level, nested LbEndpoint, Locality, upstream SocketAddress field 7, groups, known fields with another wire type) survive binary -> binary and binary -> text -> binary; text as protoc --decode prints it" {
	local d=$W/unknown bad=0
	conv unknown "$d/bb.binpb" --from binary --to binary "$d/ref.binpb" || bad=1
	if [ "$bad" = 0 ] && ! cmp -s "$d/ref.binpb" "$d/bb.binpb"; then
		echo "unknown: binary -> binary changed the bytes"
		bad=1
	fi
	if conv unknown "$d/t.txtpb" --from binary --to text "$d/ref.binpb" &&
		conv unknown "$d/tb.binpb" --from text --to binary "$d/t.txtpb"; then
		# protoc --decode shows the wire type of unknown fields (0x… for
		# fixed32/fixed64), which python's canonical form does not.
		real_protoc --decode=$CLA $ROOT_PROTO <"$d/ref.binpb" >"$d/ref.txt"
		# (field 7 is unknown to the npm protos, not to edsmod's)
		sed 's/network_namespace_filepath:/7:/' "$d/t.txtpb" >"$d/t.cmp"
		diff -u --label "unknown: protoc --decode" --label "unknown: edsmod --to text" \
			"$d/ref.txt" "$d/t.cmp" || bad=1
		real_protoc --decode=$CLA $ROOT_PROTO <"$d/tb.binpb" >"$d/tb.txt" || bad=1
		diff -u --label "unknown: protoc --decode of the reference" \
			--label "unknown: protoc --decode after edsmod binary -> text -> binary" \
			"$d/ref.txt" "$d/tb.txt" || bad=1
		same "unknown: binary -> text -> binary" "$d/ref.binpb" "bin:$d/tb.binpb" || bad=1
		if [ "$bad" != 0 ]; then
			echo "(edsmod's text was:)"
			cat "$d/t.txtpb"
		fi
	else
		bad=1
	fi
	[ "$bad" = 0 ]
}

@test "every well-known type in an Any (and in an Any in an Any): JSON as python json_format prints and reads it; FieldMask paths in lowerCamelCase, refused where python refuses" {
	run "$PY" "$CONFORM" wkt "$PROTOS" "$EDSMOD"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "check: every protoc-gen-validate annotation in Envoy's real protos under a CLA is enforced where it applies, and its nearest allowed value passes" {
	run "$PY" "$CONFORM" pgv "$PROTOS" "$EDSMOD"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" annotations, "*" cases, 0 failed" ]]
}

@test "binary encodings protoc reads in its own way (groups, known fields with another wire type, 10-byte varints) or refuses (long tags and lengths, broken groups): edsmod reads each as protoc --decode does, and its text of each reads back the same" {
	local t="$BATS_TEST_TMPDIR/tricky" f n bad=0
	"$PY" "$CONFORM" tricky "$PROTOS" "$t"
	for f in "$t"/*.binpb; do
		n=$(basename "$f" .binpb)
		if real_protoc --decode=$CLA $ROOT_PROTO <"$f" >"$t/$n.want" 2>/dev/null; then
			if ! "$EDSMOD" --to text "$f" >"$t/$n.got" 2>"$t/$n.err"; then
				echo "$n: protoc reads it, edsmod refuses: $(cat "$t/$n.err")"
				bad=1
			elif ! diff -u --label "$n: protoc --decode" --label "$n: edsmod --to text" "$t/$n.want" "$t/$n.got"; then
				bad=1
			elif ! "$EDSMOD" --to binary "$f" | cmp -s - "$f" &&
				! "$EDSMOD" --to binary "$f" | real_protoc --decode=$CLA $ROOT_PROTO | cmp -s - "$t/$n.want"; then
				echo "$n: binary -> binary changed what protoc reads"
				bad=1
			elif ! "$EDSMOD" --from text --to binary "$t/$n.got" >"$t/$n.tb" ||
				! real_protoc --decode=$CLA $ROOT_PROTO <"$t/$n.tb" | cmp -s - "$t/$n.want" ||
				! "$PY" "$CONFORM" unknowns "$PROTOS" "$f" "$t/$n.tb"; then
				echo "$n: binary -> text -> binary changed what protoc or python reads"
				bad=1
			fi
		else
			local rc=0
			"$EDSMOD" --to text "$f" >"$t/$n.got" 2>"$t/$n.err" || rc=$?
			if [ "$rc" != 4 ] || [ -s "$t/$n.got" ] || ! grep -q "at $f: byte [0-9]" "$t/$n.err"; then
				echo "$n: protoc refuses it; edsmod exit $rc (want 4, no output, a byte offset): $(cat "$t/$n.err" "$t/$n.got")"
				bad=1
			fi
		fi
	done
	[ "$bad" = 0 ]
}

@test "a CLA printed and parsed on two threads (10,000+ endpoints, awkward localities): text byte-identical to protoc --decode, and back" {
	local d=$W/split
	real_protoc --decode=$CLA $ROOT_PROTO <"$d/ref.binpb" >"$d/ref.txt"
	[ "$(stat -c %s "$d/ref.txt")" -gt $((1 << 20)) ] # (parsed ahead from 1 MiB)
	conv split "$d/t.txtpb" --from binary --to text "$d/ref.binpb"
	diff -u --label "split: protoc --decode" --label "split: edsmod --from binary --to text" \
		"$d/ref.txt" "$d/t.txtpb" | head -40
	cmp -s "$d/ref.txt" "$d/t.txtpb"
	conv split "$d/tb.binpb" --from text --to binary "$d/ref.txt"
	real_protoc --decode=$CLA $ROOT_PROTO <"$d/tb.binpb" >"$d/tb.txt"
	diff -u --label "split: protoc --decode" --label "split: protoc --decode of edsmod --from text --to binary" \
		"$d/ref.txt" "$d/tb.txt" | head -40
	cmp -s "$d/ref.txt" "$d/tb.txt"
}

@test "non-canonical binary (split messages merge, last singular wins, overlong varints): decoded as protoc decodes it" {
	local d=$W/noncanonical bad=0 cmp=()
	real_protoc --decode=$CLA $ROOT_PROTO <"$d/ref.binpb" >"$d/ref.txt"
	if conv noncanonical "$d/t.txtpb" --from binary --to text "$d/ref.binpb"; then
		diff -u --label "noncanonical: protoc --decode" --label "noncanonical: edsmod --from binary --to text" \
			"$d/ref.txt" "$d/t.txtpb" || bad=1
		conv noncanonical "$d/tb.binpb" --from text --to binary "$d/t.txtpb" &&
			cmp+=("noncanonical: binary -> text -> binary" "$d/ref.binpb" "bin:$d/tb.binpb") || bad=1
	else
		bad=1
	fi
	if conv noncanonical "$d/c.json" --from binary --to json "$d/ref.binpb"; then
		cmp+=("noncanonical: edsmod --to json" "$d/ref.binpb" "json:$d/c.json")
	else
		bad=1
	fi
	same "${cmp[@]}" || bad=1
	[ "$bad" = 0 ]
}

@test "repeated map keys in binary input: text as protoc --decode prints it; JSON has each key once, the last entry winning" {
	local d=$W/dupkeys bad=0
	real_protoc --decode=$CLA $ROOT_PROTO <"$d/ref.binpb" >"$d/ref.txt"
	if conv dupkeys "$d/t.txtpb" --from binary --to text "$d/ref.binpb"; then
		diff -u --label "dupkeys: protoc --decode" --label "dupkeys: edsmod --from binary --to text" \
			"$d/ref.txt" "$d/t.txtpb" || bad=1
	else
		bad=1
	fi
	if conv dupkeys "$d/c.json" --from binary --to json --compact "$d/ref.binpb"; then
		same "dupkeys: edsmod --to json" "$d/ref.binpb" "json:$d/c.json" || {
			cat "$d/c.json"
			bad=1
		}
	else
		bad=1
	fi
	[ "$bad" = 0 ]
}

@test "testdata/examples/eg-cla.binpb is real protoc --encode of eg-cla.txtpb" {
	local ex=$TOP/testdata/examples
	real_protoc --encode=$CLA $ROOT_PROTO <"$ex/eg-cla.txtpb" >"$W/eg-cla.binpb"
	if ! cmp -s "$W/eg-cla.binpb" "$ex/eg-cla.binpb"; then
		real_protoc --decode=$CLA $ROOT_PROTO <"$ex/eg-cla.binpb" >"$W/eg-cla.committed.txt"
		real_protoc --decode=$CLA $ROOT_PROTO <"$W/eg-cla.binpb" >"$W/eg-cla.protoc.txt"
		diff -u --label "protoc --encode eg-cla.txtpb" --label "eg-cla.binpb" \
			"$W/eg-cla.protoc.txt" "$W/eg-cla.committed.txt"
		fail "testdata/examples/eg-cla.binpb differs from protoc --encode of eg-cla.txtpb"
	fi
}
