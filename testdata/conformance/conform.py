#!/usr/bin/python3
"""Conformance helper for testdata/conformance.bats.

Everything here runs against Envoy's REAL protos (fetched by
scripts/fetch-envoy-protos) and python3-protobuf, the independent
implementation edsmod is checked against.  Python classes for the closure of
envoy/config/endpoint/v3/endpoint.proto are generated with protoc once per
proto version and cached under .cache/py-envoy/<key>/.

Subcommands (PROTOS is the fetch-envoy-protos cache directory):

  gen PROTOS WORK
      Write the generated fixtures: WORK/large.txtpb (a few hundred
      endpoints), WORK/random-N.txtpb (random CLAs from the real
      descriptors, see gen_random) and WORK/unknown/ref.binpb (unknown
      fields at the top level, in a nested LbEndpoint and in a Locality,
      plus upstream-only field SocketAddress.network_namespace_filepath = 7,
      unknown to the npm protos),
      WORK/dupkeys/ref.binpb (repeated map keys, last one wins) and
      WORK/noncanonical/ref.binpb (legal encodings protoc never writes:
      split messages, repeated singular fields, overlong varints...) and
      WORK/split/ref.binpb (over 10,000 endpoints, enough for edsmod to
      print text on two threads, in localities of awkward sizes: empty
      ones first, last and in a row, one exactly a printing chunk long,
      fields and unknown fields after lb_endpoints, policy and a map after
      the endpoints).

  refs PROTOS DIR...
      For each DIR holding ref.binpb (made by real protoc --encode): write
      py-camel.json and py-proto.json (json_format.MessageToJson with
      preserving_proto_field_name False/True), py.txtpb (text_format, expanded
      Any form) and has-any (present when the message holds an Any).

  same PROTOS LABEL REF KIND:GOT [LABEL REF KIND:GOT]...
      Compare GOT with the binary REF as messages.  KIND is bin or json (GOT
      parsed with json_format, keeping the sign of -0).  Messages are compared through a
      canonical text form (maps sorted, Any expanded, unknown fields
      printed), so a mismatch is shown as a unified diff.  Exit 1 if any pair
      differs or fails to parse.

  timestamps PROTOS EDSMOD
      Parse JSON strings for a google.protobuf.Timestamp (inside an Any, the
      only place a CLA can hold one) with python's json_format and with
      EDSMOD --from json --to binary.  Every string python accepts must give
      the same seconds and nanos, every one it rejects an error naming the
      line and column, except a few python accepts that protobuf's C++ and
      Go parsers (and RFC 3339) reject, which edsmod must reject too.  Exit 1
      on any difference.

  wkt PROTOS EDSMOD
      Every well-known type (and two Envoy messages) in an Any, and in an
      Any in an Any, in a CLA: EDSMOD --to json must print what python's
      json_format prints, and read python's JSON back to the same message.
      Then FieldMask paths, which JSON writes in lowerCamelCase: printed and
      read as python does, refused where python refuses.  Exit 1 on any
      difference.

  tricky PROTOS OUT
      Write OUT/<name>.binpb: small CLAs in encodings protoc reads in its
      own way or refuses (groups, known fields with another wire type,
      varints of 10 bytes and more, tags and lengths over 5 bytes, broken
      packed runs and groups), for edsmod to read exactly as protoc --decode.

  pgv PROTOS EDSMOD
      Every protoc-gen-validate annotation ((validate.rules) on a field,
      (validate.required) on a oneof) on a message reachable from the CLA,
      as Envoy's real protos carry them, not as edsmod's check table lists
      them: for each constraint a CLA that breaks it, reached by a shortest
      path of fields (once more avoiding named_endpoints, so Endpoint's
      rules are also met under lb_endpoints), must get an error finding at
      that path from EDSMOD check; one with the nearest value the
      constraint allows must get none there.  A kind of rule this helper
      does not know fails, so a new upstream rule cannot pass unseen.

  coverage PROTOS FIXTURE...
      Parse the fixtures (.binpb as binary; .txtpb with python text_format,
      which mis-decodes \\u escapes, so the suite passes protoc's binaries)
      and fail, listing them, on any field of any message in the CLA
      closure, any non-zero enum value, or any required edge case that no
      fixture uses.
"""

import difflib
import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unicodedata

CLA = "envoy.config.endpoint.v3.ClusterLoadAssignment"
ROOT_PROTO = "envoy/config/endpoint/v3/endpoint.proto"
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def include_args(protos):
    return ["-I" + os.path.join(protos, d) for d in ("envoy-api", "xds", "googleapis", "protoc-gen-validate")]


def py_classes(protos):
    """Generate (once) and import python classes for the CLA closure."""
    marker = sorted(f for f in os.listdir(protos) if f.startswith(".ok-"))
    protoc_version = subprocess.run(["protoc", "--version"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256(("|".join(marker) + "|" + protoc_version + "|" + os.path.realpath(protos)).encode()).hexdigest()[:16]
    base = os.path.join(TOP, ".cache", "py-envoy")
    out = os.path.join(base, key)
    if not os.path.isfile(os.path.join(out, ".ok")):
        os.makedirs(base, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=base, prefix=".tmp-")
        try:
            fds = os.path.join(tmp, "closure.pb")
            subprocess.run(["protoc"] + include_args(protos) + ["--include_imports", "-o", fds, ROOT_PROTO], check=True)
            from google.protobuf import descriptor_pb2
            fset = descriptor_pb2.FileDescriptorSet()
            with open(fds, "rb") as f:
                fset.ParseFromString(f.read())
            files = [f.name for f in fset.file if not f.name.startswith("google/protobuf/")]
            subprocess.run(["protoc"] + include_args(protos) + ["--python_out=" + tmp] + files, check=True)
            os.remove(fds)
            open(os.path.join(tmp, ".ok"), "w").close()
            try:
                os.rename(tmp, out)
            except OSError:  # another run won the race
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    sys.path.insert(0, out)
    import importlib
    importlib.import_module("envoy.config.endpoint.v3.endpoint_pb2")


def message_class(full_name):
    from google.protobuf import symbol_database
    return symbol_database.Default().GetSymbol(full_name)


def cla_class():
    return message_class(CLA)


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w", encoding=None if isinstance(data, bytes) else "utf-8") as f:
        f.write(data)


# ---------------------------------------------------------------- canonical form

def canon(msg):
    """Text that is equal for equal messages: fields in number order, map
    entries sorted by key, Any expanded (recursively canonical), unknown
    fields printed in wire order."""
    from google.protobuf import text_format
    return text_format.MessageToString(msg, print_unknown_fields=True, as_utf8=False)


def parse_kind(kind, path):
    from google.protobuf import json_format
    m = cla_class()()
    if kind == "bin":
        m.ParseFromString(read(path))
    elif kind == "json":
        # json_format.Parse, except that the JSON number -0 becomes the
        # double -0.0: python's json module reads it as the int 0 and loses
        # the sign, where protobuf's C++ parser keeps it (and C++ prints a
        # negative-zero Value as -0).
        def number(s):
            return -0.0 if s == "-0" else int(s)

        def no_duplicates(pairs):
            d = {}
            for k, v in pairs:
                if k in d:
                    raise ValueError("duplicate key %r" % k)
                d[k] = v
            return d
        js = json.loads(read(path, "r"), object_pairs_hook=no_duplicates, parse_int=number)
        json_format.ParseDict(js, m)
    else:
        raise ValueError("unknown kind %r" % kind)
    return m


def cmd_same(args):
    if len(args) % 3:
        sys.exit("same: arguments come in threes: LABEL REF KIND:GOT")
    bad = 0
    for i in range(0, len(args), 3):
        label, ref, got = args[i:i + 3]
        kind, _, path = got.partition(":")
        want = canon(parse_kind("bin", ref))
        try:
            have = canon(parse_kind(kind, path))
        except Exception as e:  # noqa: BLE001 - any parse failure is a test failure
            print("%s: %s does not parse as %s: %s" % (label, path, kind, e))
            bad += 1
            continue
        if want != have:
            bad += 1
            print("%s: message differs from the reference (--- reference, +++ %s)" % (label, path))
            sys.stdout.writelines(difflib.unified_diff(
                want.splitlines(True), have.splitlines(True), "reference", path, n=2))
    if bad:
        print("%d of %d comparisons failed" % (bad, len(args) // 3))
    return 1 if bad else 0


# ---------------------------------------------------------------- references

def has_any(msg):
    from google.protobuf.descriptor import FieldDescriptor as FD
    if msg.DESCRIPTOR.full_name == "google.protobuf.Any":
        return True
    for fd, val in msg.ListFields():
        if fd.type != FD.TYPE_MESSAGE:
            continue
        if fd.message_type.GetOptions().map_entry:
            vals = val.values() if fd.message_type.fields_by_name["value"].type == FD.TYPE_MESSAGE else []
        elif fd.label == FD.LABEL_REPEATED:
            vals = val
        else:
            vals = [val]
        if any(has_any(v) for v in vals):
            return True
    return False


def cmd_refs(dirs):
    from google.protobuf import json_format, text_format
    for d in dirs:
        m = cla_class()()
        m.ParseFromString(read(os.path.join(d, "ref.binpb")))
        write(os.path.join(d, "py-camel.json"), json_format.MessageToJson(m, preserving_proto_field_name=False))
        write(os.path.join(d, "py-proto.json"), json_format.MessageToJson(m, preserving_proto_field_name=True))
        write(os.path.join(d, "py.txtpb"), text_format.MessageToString(m))
        flag = os.path.join(d, "has-any")
        if has_any(m):
            open(flag, "w").close()
        elif os.path.exists(flag):
            os.remove(flag)
    return 0


# ---------------------------------------------------------------- generated fixtures

def gen_large():
    """A few hundred endpoints, deterministic, in text format."""
    from google.protobuf import text_format
    m = cla_class()()
    m.cluster_name = "large/default/backend"
    n = 0
    for loc in range(12):
        le = m.endpoints.add()
        le.locality.region = "region-%d" % (loc % 3)
        le.locality.zone = "zone-%d" % loc
        le.locality.sub_zone = "rack-%02d" % loc
        le.priority = loc % 4
        le.load_balancing_weight.value = 10 + loc
        for i in range(30):
            n += 1
            lb = le.lb_endpoints.add()
            sa = lb.endpoint.address.socket_address
            sa.address = "10.%d.%d.%d" % (loc, i // 200, i % 200 + 1)
            sa.port_value = 8000 + (n % 1000)
            lb.endpoint.hostname = "pod-%04d.ns.svc" % n
            lb.health_status = n % 6
            if n % 3:
                lb.load_balancing_weight.value = n % 7 + 1
            if n % 5 == 0:
                fm = lb.metadata.filter_metadata["envoy.lb"]
                fm.fields["canary"].bool_value = n % 10 == 0
                fm.fields["version"].string_value = "v%d" % (n % 4)
                fm.fields["shard"].number_value = n / 8.0
    m.policy.overprovisioning_factor.value = 140
    assert n >= 300
    return text_format.MessageToString(m)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):
    return tag(field, 2) + varint(len(payload)) + payload


def gen_unknown():
    """Unknown fields, appended as raw wire bytes, at three levels."""
    import struct
    Cla = cla_class()
    LbEndpoint = message_class("envoy.config.endpoint.v3.LbEndpoint")
    Locality = message_class("envoy.config.core.v3.Locality")
    SocketAddress = message_class("envoy.config.core.v3.SocketAddress")

    sa = SocketAddress()
    sa.address = "10.9.9.9"
    sa.port_value = 443
    # Upstream-only SocketAddress.network_namespace_filepath (7).
    sa_bytes = sa.SerializeToString() + ld(7, "/var/run/netns/blue".encode())

    lb = LbEndpoint()
    lb.health_status = 1
    lb.load_balancing_weight.value = 5
    lb_bytes = lb.SerializeToString()
    # endpoint { address { socket_address { <sa_bytes> } } } plus unknowns.
    lb_bytes = ld(1, ld(1, ld(1, sa_bytes))) + lb_bytes
    lb_bytes += tag(6, 0) + varint(150)                       # next free field of LbEndpoint
    lb_bytes += tag(2047, 5) + struct.pack("<I", 0xDEADBEEF)  # fixed32
    lb_bytes += ld(77, ld(1, b"nested") + tag(2, 0) + varint(1))  # looks like a message
    lb_bytes += ld(2, b"x")       # health_status (an enum) length-delimited: an unknown field
    parsed = LbEndpoint()
    parsed.ParseFromString(lb_bytes)
    assert len(parsed.UnknownFields()) == 4, "LbEndpoint unknown fields were not kept"
    assert parsed.health_status == 1

    loc = Locality(region="r", zone="z")
    loc_bytes = loc.SerializeToString() + tag(4, 0) + varint(0) + ld(5, b"")

    m = Cla()
    m.cluster_name = "unknown-fields"
    raw = m.SerializeToString()
    le = ld(1, loc_bytes) + ld(2, lb_bytes) + tag(5, 0) + varint(2)
    raw += ld(2, le)
    raw += tag(3, 0) + varint(7)                             # field 3: unused, not reserved
    raw += tag(99, 0) + varint(2**64 - 1)                    # varint, max
    raw += tag(100, 1) + struct.pack("<d", -0.0)             # fixed64
    raw += ld(101, bytes(range(256)))                        # not valid UTF-8
    raw += ld(536870911, "último 🚀".encode())               # highest field number
    raw += tag(102, 5) + struct.pack("<i", -1)               # fixed32
    raw += tag(103, 3) + tag(1, 0) + varint(1) + tag(2, 3) + ld(3, b"x") + tag(2, 4) + tag(103, 4)  # groups
    raw += tag(1, 0) + varint(5)                             # cluster_name (a string) as a varint
    check = Cla()
    check.ParseFromString(raw)
    top = len(check.UnknownFields())
    assert top == 8, "top-level unknown fields: %d" % top
    assert check.cluster_name == "unknown-fields"
    assert len(check.endpoints[0].lb_endpoints[0].UnknownFields()) == 4
    assert len(check.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.UnknownFields()) == 1
    assert len(check.endpoints[0].locality.UnknownFields()) == 2
    return raw


def gen_dupkeys():
    """The same map key twice, in three maps: legal on the wire, where the
    last entry wins (protoc --decode still prints both)."""
    def entry(key, value):
        return ld(1, key.encode()) + ld(2, value)

    def struct_value(s):
        return ld(3, s.encode())  # Value.string_value

    fields = ld(1, entry("k", struct_value("first"))) + ld(1, entry("k", struct_value("second")))
    metadata = ld(1, entry("envoy.lb", fields)) + ld(1, entry("envoy.lb", fields))
    raw = ld(1, b"dupkeys")
    raw += ld(2, ld(2, ld(3, metadata)))  # endpoints[0].lb_endpoints[0].metadata
    raw += ld(5, entry("n", ld(3, b"first"))) + ld(5, entry("n", ld(3, b"second")))
    m = cla_class()()
    m.ParseFromString(raw)
    assert len(m.named_endpoints) == 1 and m.named_endpoints["n"].hostname == "second"
    return raw


def gen_noncanonical():
    """Legal wire encodings protoc never writes: fields out of order, a
    singular field twice (last wins), a message field split in two
    (merged), a oneof switched (last wins), overlong varints, a negative
    enum in 5 bytes, a bool of 2, a map entry with its value first."""
    sa_a = tag(3, 0) + varint(80) + tag(6, 0) + varint(1) + tag(1, 0) + varint(1)
    sa_b = ld(5, b"resolver") + ld(2, b"10.0.0.1")
    address = ld(1, sa_a) + ld(1, sa_b)                           # one socket_address, split
    endpoint = ld(3, b"old-host") + ld(1, address) + ld(3, b"host")
    lb = (tag(2, 0) + b"\xfe\xff\xff\xff\x0f"                     # health_status -2 in 5 bytes
          + ld(4, tag(1, 0) + b"\x83\x80\x80\x00")                # weight 3, overlong
          + ld(5, b"name-first")                                  # oneof: endpoint_name ...
          + ld(1, endpoint))                                      # ... then endpoint wins
    locality = ld(3, b"sub") + ld(1, b"region")
    le = tag(5, 0) + varint(3) + ld(2, lb) + ld(1, locality) + ld(1, ld(2, b"zone"))
    policy_a = tag(6, 0) + varint(2) + ld(4, tag(1, 0) + varint(30))
    policy_b = ld(3, tag(1, 0) + varint(140)) + ld(4, tag(2, 0) + varint(5))
    entry = ld(2, ld(3, b"h")) + ld(1, b"key")
    raw = (ld(5, entry) + ld(4, policy_a) + ld(2, le) + ld(1, b"first")
           + ld(4, policy_b) + ld(1, b"noncanonical"))
    m = cla_class()()
    m.ParseFromString(raw)
    assert m.cluster_name == "noncanonical" and m.policy.weighted_priority_health
    assert m.policy.endpoint_stale_after.seconds == 30 and m.policy.endpoint_stale_after.nanos == 5
    sa = m.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert sa.port_value == 80 and sa.ipv4_compat and sa.address == "10.0.0.1"
    assert m.endpoints[0].lb_endpoints[0].WhichOneof("host_identifier") == "endpoint"
    assert m.endpoints[0].locality.zone == "zone" and m.endpoints[0].locality.sub_zone == "sub"
    assert m.SerializeToString() != raw
    return raw


def gen_split():
    """A CLA that edsmod prints as text in chunks of 512 endpoints on two
    threads (codec_text.c): every place a chunk can start or end."""
    import struct
    m = cla_class()()
    m.cluster_name = "httproute/default/split/rule/0"
    sizes = [0, 512, 0, 0, 3000, 1, 6000, 700, 0]
    n = 0
    for li, size in enumerate(sizes):
        le = m.endpoints.add()
        if li % 4 != 3:
            le.locality.region = "httproute/default/split/rule/0/backend/%d" % li
            le.locality.zone = "zone-%d" % (li % 3)
        for i in range(size):
            n += 1
            lb = le.lb_endpoints.add()
            sa = lb.endpoint.address.socket_address
            if li == 6:
                sa.address = "fd00::%x" % n
            else:
                sa.address = "10.%d.%d.%d" % (li, i // 250, i % 250 + 1)
            sa.port_value = 8000 + n % 100
            if li == 4 and i % 3 == 0:
                lb.endpoint.hostname = "pod-%05d.backend.svc.cluster.local" % n
                fm = lb.metadata.filter_metadata["envoy.transport_socket_match"]
                fm.fields["name"].string_value = "httproute/default/split/rule/0/tls/%d" % (i % 4)
            lb.health_status = (n % 7 == 0) and 3 or 0
            if li != 7:
                lb.load_balancing_weight.value = 1 + n % 3
        if li % 2:
            le.load_balancing_weight.value = 10 + li
        le.priority = li % 3
        if li == 4:
            le.proximity.value = 2
            le.metadata.filter_metadata["envoy-gateway"].fields["kind"].string_value = "Backend"
    m.policy.overprovisioning_factor.value = 140
    m.named_endpoints["b"].address.socket_address.address = "10.255.0.2"
    m.named_endpoints["a"].address.socket_address.address = "10.255.0.1"
    assert n > 10000
    raw = bytearray()
    # Unknown fields after lb_endpoints in localities 1 and 8 (the last),
    # and at the top level: re-encode those localities by hand.
    for le in m.endpoints:
        b = le.SerializeToString()
        if le is m.endpoints[1] or le is m.endpoints[len(sizes) - 1]:
            b += tag(99, 0) + varint(7) + tag(100, 5) + struct.pack("<I", 0xCAFE)
        raw += ld(2, b)
    top = cla_class()()
    top.CopyFrom(m)
    del top.endpoints[:]
    raw = top.SerializeToString() + bytes(raw) + tag(77, 0) + varint(1)
    check = cla_class()()
    check.ParseFromString(bytes(raw))
    assert len(check.endpoints[1].UnknownFields()) == 2 and len(check.UnknownFields()) == 1
    return bytes(raw)


def cmd_gen(work):
    os.makedirs(os.path.join(work, "noncanonical"), exist_ok=True)
    write(os.path.join(work, "noncanonical", "ref.binpb"), gen_noncanonical())
    write(os.path.join(work, "large.txtpb"), gen_large())
    os.makedirs(os.path.join(work, "dupkeys"), exist_ok=True)
    write(os.path.join(work, "dupkeys", "ref.binpb"), gen_dupkeys())
    os.makedirs(os.path.join(work, "unknown"), exist_ok=True)
    write(os.path.join(work, "unknown", "ref.binpb"), gen_unknown())
    os.makedirs(os.path.join(work, "split"), exist_ok=True)
    write(os.path.join(work, "split", "ref.binpb"), gen_split())
    for seed in RANDOM_SEEDS:
        write(os.path.join(work, "random-%d.txtpb" % seed), gen_random(seed))
    return 0


# ---------------------------------------------------------------- random CLAs

RANDOM_SEEDS = range(1, 13)
RANDOM_WITHOUT_ANY = range(9, 13)  # text byte-compared with protoc's (no Any)

# Pieces random strings are made of: what escaping and UTF-8 handling get
# wrong (quotes, backslash, control characters, DEL, U+2028/9, BOM, NBSP,
# combining marks, right-to-left, CJK, astral, the last code point).  Not
# U+0000, which edsmod refuses in a string (man page, LIMITS); bytes may hold it.
STR_PIECES = (["a", "Z", "0", "9", " ", "-", "/", ".", ":", "_", '"', "'", "\\", "?", "{", "}", "#", "<"]
              + [chr(c) for c in (1, 7, 8, 9, 10, 11, 12, 13, 27, 31, 127)]
              + ["é", "ß", "Ω", "中文", "ש", "ع", "\u0301", "\u2028", "\u2029", "\ufeff", "\u00a0", "\u200b",
                 "😀", "\U0010ffff", "\u0080", "\u07ff", "\uffff"])


def rand_str(rng, n_max=8):
    return "".join(rng.choice(STR_PIECES) for _ in range(rng.randint(0, n_max)))


def rand_double(rng, finite):
    pool = [0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, 1e21, 1e-7, 123456789.125, 5e-324, 2.2250738585072014e-308,
            1.7976931348623157e308, 9007199254740993.0, 1e100, -1e-100, 100.0, 1e15, 1e16, 0.000001]
    if not finite:
        pool += [math.inf, -math.inf, math.nan]
    r = rng.random()
    if r < 0.6:
        return rng.choice(pool)
    if r < 0.8:
        return rng.uniform(-1e6, 1e6)
    return rng.uniform(-1, 1) * 10.0 ** rng.randint(-300, 300)


def rand_int(rng, bits, signed):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    pool = [0, 1, hi, lo, 300, (1 << 53) + 1]
    if signed:
        pool += [-1, -(1 << 53) - 1, -300]
    v = rng.choice(pool) if rng.random() < 0.6 else rng.randint(lo, hi)
    return max(lo, min(hi, v))


def rand_duration(rng, d):
    top = 315576000000
    s, n = rng.choice([(0, 0), (1, 0), (0, 1), (-1, -5), (top, 999999999), (-top, -999999999), (0, -1),
                       (rng.randint(0, top), rng.randint(0, 999999999)),
                       (-rng.randint(0, top), -rng.randint(0, 999999999))])
    d.seconds, d.nanos = s, n


def rand_value(rng, v, depth):
    kinds = ["null", "number", "string", "bool"] + (["struct", "list"] if depth < 3 else [])
    k = rng.choice(kinds)
    if k == "null":
        v.null_value = 0
    elif k == "number":
        v.number_value = rand_double(rng, True)
    elif k == "string":
        v.string_value = rand_str(rng)
    elif k == "bool":
        v.bool_value = rng.random() < 0.5
    elif k == "struct":
        rand_struct(rng, v.struct_value, depth + 1)
    else:
        v.list_value.SetInParent()
        for _ in range(rng.randint(0, 3)):
            rand_value(rng, v.list_value.values.add(), depth + 1)


def rand_struct(rng, s, depth):
    s.SetInParent()
    for _ in range(rng.randint(0, 3)):
        rand_value(rng, s.fields[rand_str(rng, 5)], depth + 1)


@functools.lru_cache(maxsize=None)
def any_types():
    msgs, _ = closure(cla_class().DESCRIPTOR)
    return sorted(n for n, d in msgs.items() if not d.GetOptions().map_entry)


def rand_message(rng, m, depth, with_any=True):
    """Fill m at random: every kind of field, oneof, map and well-known
    type a CLA can hold, with values at the edges of their types.  Never
    what JSON cannot carry (a NaN or infinite Value, a Duration out of
    range, a Value without a kind)."""
    from google.protobuf.descriptor import FieldDescriptor as FD
    d = m.DESCRIPTOR
    name = d.full_name
    if name == "google.protobuf.Duration":
        return rand_duration(rng, m)
    if name == "google.protobuf.Struct":
        return rand_struct(rng, m, depth)
    if name == "google.protobuf.Value":
        return rand_value(rng, m, depth)
    if name == "google.protobuf.ListValue":
        m.SetInParent()
        for _ in range(rng.randint(0, 3)):
            rand_value(rng, m.values.add(), depth)
        return
    if name == "google.protobuf.Any":
        inner_name = rng.choice(any_types() if depth < 5 else ["google.protobuf.Duration", "google.protobuf.Empty"])
        inner = message_class(inner_name)()
        rand_message(rng, inner, depth + 1)
        m.Pack(inner)
        return
    m.SetInParent()
    chosen = {o.name: rng.choice(list(o.fields) + [None]) for o in d.oneofs}
    p = 0.7 / (1 + depth * 0.6)
    for fd in d.fields:
        o = fd.containing_oneof
        if o is not None and chosen[o.name] is not fd:
            continue
        if rng.random() > (0.9 if o is not None else p):
            continue
        if not with_any and fd.message_type is not None and (
                fd.message_type.full_name == "google.protobuf.Any" or
                fd.message_type.GetOptions().map_entry and
                fd.message_type.fields_by_name["value"].message_type is not None and
                fd.message_type.fields_by_name["value"].message_type.full_name == "google.protobuf.Any"):
            continue
        if fd.type == FD.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry:
            kf, vf = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            mp = getattr(m, fd.name)
            for _ in range(rng.randint(1, 3)):
                key = rand_str(rng, 5) if kf.type == FD.TYPE_STRING else rand_int(rng, 32, False)
                if vf.type == FD.TYPE_MESSAGE:
                    rand_message(rng, mp[key], depth + 1, with_any)
                else:
                    mp[key] = rand_scalar(rng, vf, name)
            continue
        n = rng.randint(1, 3) if fd.label == FD.LABEL_REPEATED else 1
        for _ in range(n):
            if fd.type == FD.TYPE_MESSAGE:
                if depth >= 8:
                    break
                sub = getattr(m, fd.name).add() if fd.label == FD.LABEL_REPEATED else getattr(m, fd.name)
                rand_message(rng, sub, depth + 1, with_any)
            elif fd.label == FD.LABEL_REPEATED:
                getattr(m, fd.name).append(rand_scalar(rng, fd, name))
            else:
                setattr(m, fd.name, rand_scalar(rng, fd, name))


def rand_scalar(rng, fd, owner):
    from google.protobuf.descriptor import FieldDescriptor as FD
    t = fd.type
    if t == FD.TYPE_STRING:
        return rand_str(rng)
    if t == FD.TYPE_BYTES:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 8)))
    if t == FD.TYPE_BOOL:
        return rng.random() < 0.5
    if t == FD.TYPE_DOUBLE:
        return rand_double(rng, owner == "google.protobuf.Value")
    if t == FD.TYPE_ENUM:
        nums = [v.number for v in fd.enum_type.values]
        return rng.choice(nums) if rng.random() < 0.85 else rng.choice([max(nums) + 1, 99, -1, 2147483647])
    bits, signed = {FD.TYPE_INT32: (32, True), FD.TYPE_UINT32: (32, False), FD.TYPE_INT64: (64, True),
                    FD.TYPE_UINT64: (64, False)}[t]
    return rand_int(rng, bits, signed)


def gen_random(seed):
    """A CLA of random contents (deterministic for seed), in text format;
    without an Any for the seeds in RANDOM_WITHOUT_ANY."""
    import random
    from google.protobuf import text_format
    rng = random.Random(seed)
    m = cla_class()()
    while m.ByteSize() < 2000:
        rand_message(rng, m, 0, seed not in RANDOM_WITHOUT_ANY)
    return text_format.MessageToString(m)


# ---------------------------------------------------------------- coverage

def closure(root):
    """Every message and enum type reachable from root (map entries and WKTs
    included), by full name."""
    msgs, enums, todo = {}, {}, [root]
    while todo:
        d = todo.pop()
        if d.full_name in msgs:
            continue
        msgs[d.full_name] = d
        for fd in d.fields:
            if fd.message_type is not None:
                todo.append(fd.message_type)
            if fd.enum_type is not None:
                enums[fd.enum_type.full_name] = fd.enum_type
    return msgs, enums


class Uses:
    def __init__(self):
        self.fields = set()      # (message full name, field name)
        self.enums = set()       # (enum full name, number)
        self.facts = set()       # edge-case names, see EDGES


def char_facts(s, facts, where):
    for ch in s:
        o = ord(ch)
        cat = unicodedata.category(ch)
        bidi = unicodedata.bidirectional(ch)
        if 0x4E00 <= o <= 0x9FFF:
            facts.add(where + " CJK")
        if o > 0xFFFF:
            facts.add(where + " astral (emoji)")
        if cat in ("Mn", "Me"):
            facts.add(where + " combining mark")
        if bidi in ("R", "AL"):
            facts.add(where + " RTL")
        if where == "string":
            if ch == '"':
                facts.add("string double quote")
            if ch == "'":
                facts.add("string single quote")
            if ch == "\\":
                facts.add("string backslash")
            if o < 0x20 or o == 0x7F:
                facts.add("string control char")


def walk(msg, uses):
    from google.protobuf.descriptor import FieldDescriptor as FD
    d = msg.DESCRIPTOR
    if d.full_name == "google.protobuf.Any" and msg.type_url:
        cls = message_class(msg.TypeName())
        inner = cls()
        inner.ParseFromString(msg.value)
        uses.facts.add("Any of " + msg.TypeName())
        walk(inner, uses)
    if d.full_name == "google.protobuf.Duration":
        if msg.nanos:
            uses.facts.add("Duration with nanos")
        if msg.seconds < 0 or msg.nanos < 0:
            uses.facts.add("negative Duration")
    if d.full_name == "google.protobuf.ListValue":
        if any(v.WhichOneof("kind") == "list_value" for v in msg.values):
            uses.facts.add("ListValue nested in ListValue")
    if d.full_name == "google.protobuf.Struct":
        if any(v.WhichOneof("kind") == "struct_value" for v in msg.fields.values()):
            uses.facts.add("Struct nested in Struct")
    if d.full_name == "google.protobuf.Value" and msg.WhichOneof("kind") == "number_value":
        v = msg.number_value
        if v == 0 and math.copysign(1, v) < 0:
            uses.facts.add("Value -0")
    for fd, val in msg.ListFields():
        uses.fields.add((d.full_name, fd.name))
        if fd.containing_oneof is not None and fd.type != FD.TYPE_MESSAGE:
            if val in (0, "", b"", False):
                uses.facts.add("zero value in oneof")
        if fd.type == FD.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry:
            entry = fd.message_type
            uses.fields.add((entry.full_name, "key"))
            uses.fields.add((entry.full_name, "value"))
            vfd = entry.fields_by_name["value"]
            for k in val:
                char_facts(k, uses.facts, "map key")
                if vfd.type == FD.TYPE_MESSAGE:
                    walk(val[k], uses)
            continue
        vals = list(val) if fd.label == FD.LABEL_REPEATED else [val]
        for v in vals:
            if fd.type == FD.TYPE_MESSAGE:
                if v.ByteSize() == 0 and fd.label != FD.LABEL_REPEATED:
                    uses.facts.add("empty present message")
                walk(v, uses)
            elif fd.type == FD.TYPE_ENUM:
                if v in fd.enum_type.values_by_number:
                    uses.enums.add((fd.enum_type.full_name, v))
                else:
                    uses.facts.add("unknown enum number")
                    uses.enums.add((fd.enum_type.full_name, v))
            elif fd.type == FD.TYPE_STRING:
                char_facts(v, uses.facts, "string")
            elif fd.type == FD.TYPE_BYTES:
                if len(set(v)) == 256:
                    uses.facts.add("bytes with all 256 values")
            elif fd.type == FD.TYPE_INT64 and v == -2**63:
                uses.facts.add("int64 min")
            elif fd.type == FD.TYPE_INT64 and v == 2**63 - 1:
                uses.facts.add("int64 max")
            elif fd.type == FD.TYPE_UINT64 and v == 2**64 - 1:
                uses.facts.add("uint64 max")
            elif fd.type == FD.TYPE_UINT32 and v == 2**32 - 1:
                uses.facts.add("uint32 max")
            elif fd.type == FD.TYPE_INT32 and v < 0:
                uses.facts.add("negative int32")


EDGES = [
    "Any of envoy.config.core.v3.Address", "Any of google.protobuf.Struct",
    "Duration with nanos", "negative Duration",
    "ListValue nested in ListValue", "Struct nested in Struct", "Value -0",
    "zero value in oneof", "empty present message", "unknown enum number",
    "bytes with all 256 values", "int64 min", "int64 max", "uint64 max", "uint32 max",
    "string CJK", "string astral (emoji)", "string combining mark", "string RTL",
    "map key CJK", "map key astral (emoji)", "map key combining mark", "map key RTL",
    "string double quote", "string single quote", "string backslash", "string control char",
]


def cmd_coverage(fixtures):
    from google.protobuf import text_format
    Cla = cla_class()
    msgs, enums = closure(Cla.DESCRIPTOR)
    uses = Uses()
    for f in fixtures:
        m = Cla()
        if f.endswith(".binpb"):
            m.ParseFromString(read(f))
        else:
            text_format.Parse(read(f, "r"), m)
        walk(m, uses)
    missing = []
    nfields = 0
    for name in sorted(msgs):
        for fd in msgs[name].fields:
            nfields += 1
            if (name, fd.name) not in uses.fields:
                missing.append("field %s.%s (%d)" % (name, fd.name, fd.number))
    nvalues = 0
    for name in sorted(enums):
        for v in enums[name].values:
            if v.number == 0:
                continue  # a proto3 zero is absent on the wire unless in a oneof
            nvalues += 1
            if (name, v.number) not in uses.enums:
                missing.append("enum value %s.%s (%d)" % (name, v.name, v.number))
    for e in EDGES:
        if e not in uses.facts:
            missing.append("edge case: " + e)
    print("closure: %d messages, %d fields, %d enums (%d non-zero values); %d fixtures; "
          "%d fields used, %d edge cases required"
          % (len(msgs), nfields, len(enums), nvalues, len(fixtures),
             len([u for u in uses.fields if u[0] in msgs]), len(EDGES)))
    for line in missing:
        print("not covered: " + line)
    return 1 if missing else 0


# Accepted by python3-protobuf 4.21, rejected by protobuf's C++ parser (what
# Envoy runs), Go's protojson (what Envoy Gateway runs) and RFC 3339.
TS_PYTHON_ONLY = [
    "9999-12-31T23:59:59-00:01",   # after 9999-12-31T23:59:59Z once the offset applies
    "0001-01-01T00:30:00+01:00",   # before 0001-01-01T00:00:00Z likewise
    "2020-01-01T00:00:00.Z",       # a '.' without digits
    "2020-1-01T00:00:00Z",         # one-digit month
    "2020-01-01T00:00:00+24:00",   # offset hour past 23
]
TS_CASES = TS_PYTHON_ONLY + [
    "1972-01-01T10:00:20.021Z", "1970-01-01T00:00:00Z", "2020-02-29T00:00:00Z", "2000-02-29T23:59:59Z",
    "2020-01-01T00:00:00+01:00", "2020-01-01T00:00:00-01:30", "2020-01-01T00:00:00.5+05:30",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.999Z",
    "1969-12-31T23:59:59.000001Z", "1600-03-01T00:00:00Z", "2020-01-01T00:00:00.000Z",
    "2020-01-01T00:00:00.123456789Z", "2020-01-01T00:00:00.1234567891Z", "0000-12-31T23:59:59Z",
    "2021-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2020-04-31T00:00:00Z", "2020-13-01T00:00:00Z",
    "2020-01-01T24:00:00Z", "2020-01-01T23:60:00Z", "2020-01-01T23:59:60Z", "2020-01-01t00:00:00Z",
    "2020-01-01T00:00:00z", "2020-01-01T00:00:00", "2020-01-01 00:00:00Z", "2020-01-01T00:00:00Zx",
    "2020-01-01T00:00:00+0100", " 2020-01-01T00:00:00Z", "+2020-01-01T00:00:00Z", "",
]


def cmd_timestamps(edsmod):
    from google.protobuf import json_format
    bad = 0
    for s in TS_CASES:
        doc = json.dumps({"clusterName": "ts", "endpoints": [{"lbEndpoints": [{"endpointName": "e", "metadata": {
            "typedFilterMetadata": {"k": {"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": s}}}}]}]},
            indent=1)
        want = None
        m = cla_class()()
        try:
            json_format.Parse(doc, m)
            any_ = m.endpoints[0].lb_endpoints[0].metadata.typed_filter_metadata["k"]
            ts = message_class("google.protobuf.Timestamp")()
            any_.Unpack(ts)
            want = (ts.seconds, ts.nanos)
        except json_format.ParseError:
            pass
        if s in TS_PYTHON_ONLY:
            if want is None:
                print("%r: python now rejects it too; move it out of TS_PYTHON_ONLY" % s)
                bad += 1
            want = None
        lines = doc.split("\n")
        line = next(i for i, l in enumerate(lines) if '"value": ' in l)
        where = "at <stdin>:%d:%d " % (line + 1, lines[line].index('"value": ') + 10)
        r = subprocess.run([edsmod, "--from", "json", "--to", "binary"], input=doc.encode(), capture_output=True)
        got = None
        if r.returncode == 0:
            m = cla_class()()
            m.ParseFromString(r.stdout)
            ts = message_class("google.protobuf.Timestamp")()
            m.endpoints[0].lb_endpoints[0].metadata.typed_filter_metadata["k"].Unpack(ts)
            got = (ts.seconds, ts.nanos)
        err = r.stderr.decode()
        if got != want:
            print("%r: expected %s, edsmod gave %s %s" % (s, want or "an error", got or "an error", err.strip()))
            bad += 1
        elif want is None and (r.returncode != 4 or "invalid timestamp" not in err or where not in err):
            print("%r: expected exit 4 and an invalid timestamp at %s, got exit %d: %s" % (s, where, r.returncode, err))
            bad += 1
    print("%d of %d timestamp strings differ" % (bad, len(TS_CASES)))
    return 1 if bad else 0


def cmd_wkt(edsmod):
    from google.protobuf import json_format
    from google.protobuf import any_pb2, duration_pb2, empty_pb2, field_mask_pb2, struct_pb2
    from google.protobuf import timestamp_pb2, wrappers_pb2
    w = wrappers_pb2
    values = [
        duration_pb2.Duration(seconds=-1, nanos=-500), timestamp_pb2.Timestamp(seconds=1, nanos=5000000),
        struct_pb2.Struct(fields={"a": struct_pb2.Value(number_value=1)}), struct_pb2.Value(string_value="x"),
        struct_pb2.ListValue(values=[struct_pb2.Value(bool_value=True)]), empty_pb2.Empty(),
        field_mask_pb2.FieldMask(paths=["a.b_c", "d"]), w.DoubleValue(value=1.5), w.FloatValue(value=0.5),
        w.Int64Value(value=-5), w.UInt64Value(value=5), w.Int32Value(value=-3), w.UInt32Value(value=3),
        w.BoolValue(value=True), w.StringValue(value="s"), w.BytesValue(value=b"\x00\xff"),
        message_class("envoy.config.core.v3.Locality")(region="r"),
        message_class("envoy.config.core.v3.SocketAddress")(address="1.2.3.4", port_value=80),
    ]
    bad = 0

    def cla_with(a):
        m = cla_class()(cluster_name="c")
        m.endpoints.add().lb_endpoints.add().metadata.typed_filter_metadata["x"].CopyFrom(a)
        return m

    def edsmod_json(m):
        r = subprocess.run([edsmod, "--to", "json"], input=m.SerializeToString(), capture_output=True)
        return json.loads(r.stdout) if r.returncode == 0 else None, r.stderr.decode()

    def edsmod_read(doc):
        r = subprocess.run([edsmod, "--from", "json", "--to", "binary"], input=doc.encode(), capture_output=True)
        if r.returncode:
            return None, r.stderr.decode()
        m = cla_class()()
        m.ParseFromString(r.stdout)
        return m, ""

    for v in values:
        a = any_pb2.Any()
        a.Pack(v)
        outer = any_pb2.Any()
        outer.Pack(a)
        for what, x in (("", a), (" in an Any", outer)):
            m = cla_with(x)
            want = json.loads(json_format.MessageToJson(m))
            got, err = edsmod_json(m)
            back, err2 = edsmod_read(json.dumps(want))
            if got != want or back != m:
                bad += 1
                print("%s%s: python prints %s\n  edsmod: %s; reading it back: %s" % (
                    v.DESCRIPTOR.full_name, what, json.dumps(want), json.dumps(got) if got else err.strip(),
                    "the same" if back == m else err2.strip() or "a different message"))
    for paths in (["a"], [], ["a.b_c", "d_e_f"], ["a", "", "b"], ["aB"], ["a__b"], ["a_"], ["a_1"], ["_a"]):
        a = any_pb2.Any()
        a.Pack(field_mask_pb2.FieldMask(paths=paths))
        m = cla_with(a)
        try:
            want = json.loads(json_format.MessageToJson(m))
        except Exception:
            want = None
        got, err = edsmod_json(m)
        if got != want:
            bad += 1
            print("FieldMask %r: python prints %s, edsmod %s" % (paths, want, got if got else err.strip()))
    for text in ("", "a.bC,dEF", "aB.cD", "a,,b", "ABC", "a_b"):
        doc = json.dumps({"clusterName": "c", "endpoints": [{"lbEndpoints": [{"metadata": {"typedFilterMetadata": {
            "x": {"@type": "type.googleapis.com/google.protobuf.FieldMask", "value": text}}}}]}]})
        want = cla_class()()
        try:
            json_format.Parse(doc, want)
        except Exception:
            want = None
        got, err = edsmod_read(doc)
        if got != want:
            bad += 1
            print("FieldMask %r: python reads %s, edsmod %s" % (text, want, got if got else err.strip()))
    return 1 if bad else 0


def cmd_tricky(out):
    import struct
    os.makedirs(out, exist_ok=True)
    name = ld(1, b"t")                                    # cluster_name "t"
    sa = ld(2, b"10.0.0.1") + tag(3, 0) + varint(80)      # SocketAddress
    lbe = ld(1, ld(1, ld(1, sa)))                         # LbEndpoint.endpoint.address.socket_address
    loc = lambda body: ld(2, body)                        # CLA.endpoints (LocalityLbEndpoints)
    ten = bytes([0x81] + [0x80] * 8 + [0x02])             # 1 + 2**64: 10 bytes, bits past the 64th
    cases = {
        "group-top": name + tag(9, 3) + tag(1, 0) + varint(1) + tag(9, 4),
        "group-nested": name + tag(9, 3) + tag(2, 3) + ld(3, b"x") + tag(2, 4) + tag(5, 5)
                        + struct.pack("<I", 7) + tag(9, 4),
        "group-empty-in-lb-endpoint": name + loc(ld(2, lbe + tag(7, 3) + tag(7, 4))),
        "group-with-known-number": name + tag(2, 3) + tag(1, 0) + varint(3) + tag(2, 4),
        "string-as-varint": tag(1, 0) + varint(5) + name,
        "message-as-fixed32": name + tag(2, 5) + struct.pack("<I", 1),
        "enum-as-length-delimited": name + loc(ld(2, lbe + ld(2, b"\x01"))),
        "uint32-as-fixed64": name + loc(tag(5, 1) + struct.pack("<Q", 3)),
        "port-as-length-delimited": name + loc(ld(2, ld(1, ld(1, ld(1, ld(2, b"a") + ld(3, b"\x50")))))),
        "varint-10-bytes": name + loc(tag(5, 0) + ten),
        "varint-11-bytes": name + loc(tag(5, 0) + bytes([0x81] + [0x80] * 9 + [0x00])),
        "tag-6-bytes": name + bytes([0x8a, 0x80, 0x80, 0x80, 0x80, 0x00]) + varint(1) + b"u",
        "length-6-bytes": bytes([0x0a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00]) + b"t",
        "tag-5-bytes": name + bytes([0xaa, 0x80, 0x80, 0x80, 0x00]) + varint(1) + b"u",
        "group-unclosed": name + tag(9, 3) + tag(1, 0) + varint(1),
        "group-closed-by-another": name + tag(9, 3) + tag(8, 4),
        "end-group-alone": name + tag(9, 4),
        "group-truncated-field": name + tag(9, 3) + tag(1, 5) + b"\x01",
    }
    for k, v in cases.items():
        write(os.path.join(out, k + ".binpb"), v)
    return 0


def unknown_list(msg, path, text_reread):
    """(path, number, wire type) of every unknown field in msg, nested ones
    included.  text_reread: the wire type edsmod's text gives it back: a
    block given by number is a group when it is empty or under a
    length-delimited field's number (where protoc prints nothing else so),
    otherwise a length-delimited field."""
    from google.protobuf.descriptor import FieldDescriptor as F
    out = []
    for u in msg.UnknownFields():
        wt = u.wire_type
        if text_reread and wt == 3:
            f = msg.DESCRIPTOR.fields_by_number.get(u.field_number)
            ld = f is not None and (f.label == F.LABEL_REPEATED or f.type in (F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_MESSAGE))
            wt = 3 if ld or len(u.data) == 0 else 2
        out.append((path, u.field_number, wt))
    for f, v in msg.ListFields():
        if f.type != f.TYPE_MESSAGE:
            continue
        if f.label == f.LABEL_REPEATED:
            for i, e in enumerate(v.values() if hasattr(v, "values") and callable(v.values) else v):
                out += unknown_list(e, "%s.%s[%d]" % (path, f.name, i), text_reread)
        else:
            out += unknown_list(v, path + "." + f.name, text_reread)
    return out


def cmd_unknowns(a, b):
    """b is a after edsmod's binary -> text -> binary: the same unknown
    fields, wire types as text gives them back (unknown_list)."""
    ma, mb = cla_class()(), cla_class()()
    ma.ParseFromString(read(a))
    mb.ParseFromString(read(b))
    want, got = unknown_list(ma, "", True), unknown_list(mb, "", False)
    if want != got:
        print("unknown fields (path, number, wire type): want %s, got %s" % (want, got))
        return 1
    return 0


# ---- pgv: Envoy's validation annotations against `edsmod check` ----------

def pgv_paths(root, avoid):
    """Shortest field path from root to every message type (breadth first,
    fields in declaration order), not through the fields named in avoid."""
    paths, todo = {root.full_name: []}, [root]
    while todo:
        d = todo.pop(0)
        for fd in d.fields:
            mt = fd.message_type
            if mt is None or fd.name in avoid:
                continue
            if mt.GetOptions().map_entry:
                mt = mt.fields_by_name["value"].message_type
                if mt is None:
                    continue
            if mt.full_name not in paths:
                paths[mt.full_name] = paths[d.full_name] + [fd]
                todo.append(mt)
    return paths


def pgv_reach(root_msg, path):
    """Create the messages along path in root_msg; return the last one and
    the path as edsmod prints it."""
    m, names = root_msg, []
    for fd in path:
        if fd.message_type.GetOptions().map_entry:
            m = getattr(m, fd.name)["k"]
            names.append('%s["k"]' % fd.name)
        elif fd.label == fd.LABEL_REPEATED:
            m = getattr(m, fd.name).add()
            names.append("%s[0]" % fd.name)
        else:
            sub = getattr(m, fd.name)
            sub.SetInParent()
            m = sub
            names.append(fd.name)
    return m, names


def pgv_cases(fd, rules):
    """(label, setter, path suffix, must fail) for one field's rules; a
    setter takes the message holding fd.  Raises on a rule kind not handled."""
    from google.protobuf import duration_pb2, wrappers_pb2
    kind = rules.WhichOneof("type")
    wrapper = fd.message_type is not None and fd.message_type.full_name.startswith("google.protobuf.") and \
        fd.message_type.full_name.endswith("Value")

    def put(v):
        def f(m):
            if wrapper:
                getattr(m, fd.name).value = v
            else:
                setattr(m, fd.name, v)
        return f

    cases = []
    r = getattr(rules, kind) if kind else None
    known = set()
    if kind == "string":
        known = {"min_len", "max_bytes", "well_known_regex", "strict"}
        if r.min_len:
            cases += [("min_len %d" % r.min_len, put("a" * (r.min_len - 1)), True),
                      ("min_len %d" % r.min_len, put("a" * r.min_len), False)]
        if r.HasField("max_bytes"):
            cases += [("max_bytes %d" % r.max_bytes, put("a" * (r.max_bytes + 1)), True),
                      ("max_bytes %d" % r.max_bytes, put("a" * r.max_bytes), False)]
        if r.HasField("well_known_regex"):
            if r.strict:
                raise ValueError("strict header regex")
            # strict: false allows any byte but NUL, CR and LF
            cases += [("header regex", put("a\nb"), True), ("header regex", put("a\x7f\u00e9 b"), False)]
    elif kind == "bytes":
        known = {"min_len", "max_len"}
        if r.min_len:
            raise ValueError("bytes min_len")
        if r.HasField("max_len"):
            cases += [("max_len %d" % r.max_len, put(b"a" * (r.max_len + 1)), True),
                      ("max_len %d" % r.max_len, put(b"a" * r.max_len), False)]
    elif kind == "uint32":
        known = {"lte", "gte", "gt", "lt"}
        if r.HasField("lte"):
            cases += [("lte %d" % r.lte, put(r.lte + 1), True), ("lte %d" % r.lte, put(r.lte), False)]
        if r.HasField("lt"):
            cases += [("lt %d" % r.lt, put(r.lt), True), ("lt %d" % r.lt, put(r.lt - 1), False)]
        if r.HasField("gte"):
            cases += [("gte %d" % r.gte, put(r.gte - 1), True), ("gte %d" % r.gte, put(r.gte), False)]
        if r.HasField("gt"):
            cases += [("gt %d" % r.gt, put(r.gt), True), ("gt %d" % r.gt, put(r.gt + 1), False)]
    elif kind == "double":
        known = {"gt"}
        if r.HasField("gt"):
            cases += [("gt %g" % r.gt, put(r.gt), True), ("gt %g" % r.gt, put(r.gt + 0.5), False)]
    elif kind == "enum":
        known = {"defined_only"}
        numbers = [v.number for v in fd.enum_type.values]
        if r.defined_only:
            cases += [("defined_only", put(max(numbers) + 1), True),
                      ("defined_only", put(max(numbers)), False)]
    elif kind == "duration":
        known = {"required", "gt", "gte"}

        def dur(ns):
            def f(m):
                getattr(m, fd.name).CopyFrom(duration_pb2.Duration(seconds=ns // 10**9, nanos=ns % 10**9))
            return f
        ok_ns = 10**9
        if r.HasField("gt"):
            g = r.gt.seconds * 10**9 + r.gt.nanos
            cases += [("gt %dns" % g, dur(g), True), ("gt %dns" % g, dur(g + 1), False)]
        if r.HasField("gte"):
            g = r.gte.seconds * 10**9 + r.gte.nanos
            cases += [("gte %dns" % g, dur(g - 1), True), ("gte %dns" % g, dur(g), False)]
            ok_ns = max(ok_ns, g)
        if r.required:
            cases += [("required", lambda m: None, True), ("required", dur(ok_ns), False)]
    elif kind == "any":
        known = {"required"}
        if r.required:
            def some(m):
                getattr(m, fd.name).Pack(wrappers_pb2.StringValue(value="x"))
            cases += [("required", lambda m: None, True), ("required", some, False)]
    elif kind == "map":
        known = {"keys"}
        kr = r.keys
        if kr.WhichOneof("type") != "string" or set(f.name for f, _ in kr.string.ListFields()) != {"min_len"}:
            raise ValueError("map keys rule %s" % kr)
        vd = fd.message_type.fields_by_name["value"]

        def key(k):
            def f(m):
                mp = getattr(m, fd.name)
                if vd.message_type is not None:
                    mp[k].SetInParent()
                else:
                    mp[k] = vd.default_value
            return f
        n = kr.string.min_len
        return [("keys min_len %d" % n, key("a" * (n - 1)), '%s["%s"]' % (fd.name, "a" * (n - 1)), True),
                ("keys min_len %d" % n, key("a" * n), '%s["%s"]' % (fd.name, "a" * n), False)]
    if r is not None:
        extra = set(f.name for f, _ in r.ListFields()) - known
        if extra:
            raise ValueError("%s rule fields %s" % (kind, sorted(extra)))
    if not cases:
        raise ValueError("no case for %s rule %s" % (kind, r))
    return [(label, setter, fd.name, fail) for label, setter, fail in cases]


def cmd_pgv(edsmod):
    from validate import validate_pb2
    cla = cla_class()
    root = cla.DESCRIPTOR
    annotations, checks, bad = [], [], []
    msgs, _ = closure(root)
    for name in sorted(msgs):
        d = msgs[name]
        for o in d.oneofs:
            if o.GetOptions().Extensions[validate_pb2.required]:
                annotations.append((d, None, o))
        for fd in d.fields:
            if fd.GetOptions().HasExtension(validate_pb2.rules):
                annotations.append((d, fd, fd.GetOptions().Extensions[validate_pb2.rules]))
    routes = []
    for avoid in ((), ("named_endpoints",)):
        routes.append(pgv_paths(root, set(avoid)))
    for d, fd, rule in annotations:
        if fd is None:
            cases = [("oneof %s required" % rule.name, lambda m: None, "", True)]
        else:
            try:
                cases = pgv_cases(fd, rule)
            except ValueError as e:
                bad.append("%s.%s: a rule this test does not know: %s" % (d.full_name, fd.name, e))
                continue
        seen = set()
        for paths in routes:
            path = paths.get(d.full_name)
            if path is None or tuple(f.full_name for f in path) in seen:
                continue
            seen.add(tuple(f.full_name for f in path))
            for label, setter, suffix, fail in cases:
                m = cla(cluster_name="c")
                holder, names = pgv_reach(m, path)
                setter(holder)
                where = ".".join(names + ([suffix] if suffix else []))
                checks.append((d.full_name, fd.name if fd else rule.name, label, where, fail, m.SerializeToString()))
    # One edsmod run per case (check's findings are per file).  The value
    # allowed must not get the finding the broken one got (Envoy's other
    # checks, such as an IP address where EDS needs one, may still apply).
    ids = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (msg, field, label, where, fail, data) in enumerate(checks):
            f = os.path.join(tmp, "case%d.binpb" % i)
            write(f, data)
            r = subprocess.run([edsmod, "check", "--format", "json", f], capture_output=True, text=True)
            if r.returncode not in (0, 1):
                bad.append("%s %s (%s) at %s: edsmod check exit %d: %s" % (msg, field, label, where, r.returncode, r.stderr.strip()))
                continue
            errors = [x["id"] for x in json.loads(r.stdout) if x["severity"] == "error" and x["path"] == where]
            key = (msg, field, label, where)
            if fail:
                ids[key] = set(errors)
                if not errors:
                    bad.append("%s %s (%s): no error at %s; findings: %s" % (msg, field, label, where,
                               [(x["path"], x["id"]) for x in json.loads(r.stdout)]))
            elif ids.get(key, set()) & set(errors):
                bad.append("%s %s (%s): the allowed value gets %s at %s" % (msg, field, label,
                           sorted(ids[key] & set(errors)), where))
    for b in bad:
        print(b)
    print("%d annotations, %d cases, %d failed" % (len(annotations), len(checks), len(bad)))
    return 1 if bad or not annotations else 0


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd, protos, rest = argv[1], argv[2], argv[3:]
    py_classes(protos)
    if cmd == "gen" and len(rest) == 1:
        return cmd_gen(rest[0])
    if cmd == "refs":
        return cmd_refs(rest)
    if cmd == "same":
        return cmd_same(rest)
    if cmd == "coverage":
        return cmd_coverage(rest)
    if cmd == "wkt" and len(rest) == 1:
        return cmd_wkt(rest[0])
    if cmd == "tricky" and len(rest) == 1:
        return cmd_tricky(rest[0])
    if cmd == "unknowns" and len(rest) == 2:
        return cmd_unknowns(rest[0], rest[1])
    if cmd == "timestamps" and len(rest) == 1:
        return cmd_timestamps(rest[0])
    if cmd == "pgv" and len(rest) == 1:
        return cmd_pgv(rest[0])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
